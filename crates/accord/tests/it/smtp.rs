//! A local SMTP sink for the tests of Accord's e-mails (support requests, manage links,
//! console invitations): what lettre says to a plain relay, kept for the test to read.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

// ---- A local SMTP sink ----
//
// Hand-written rather than a crate: the few SMTP server crates are heavy or unmaintained, and
// the tests need only what lettre says to a plain relay (RFC 5321: EHLO, MAIL, RCPT, DATA,
// RSET, NOOP, QUIT), plus a way to refuse the first attempts with a temporary error (451).

#[derive(Debug, Clone, Default)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Clone)]
pub struct SmtpSink {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    /// How many more transactions to refuse with `451` at `MAIL FROM`.
    refuse: Arc<Mutex<u32>>,
    pub refused: Arc<Mutex<u32>>,
}

impl SmtpSink {
    pub async fn start(refuse_first: u32) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = SmtpSink {
            port: listener.local_addr().unwrap().port(),
            received: Arc::default(),
            refuse: Arc::new(Mutex::new(refuse_first)),
            refused: Arc::default(),
        };
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(s.clone().session(stream));
            }
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    async fn session(self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        let mut current = Received::default();
        let _ = write.write_all(b"220 sink.test ESMTP\r\n").await;
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let cmd = line.trim_end().to_owned();
            let upper = cmd.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                b"250-sink.test\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("MAIL FROM:") {
                let mut refuse = self.refuse.lock().unwrap();
                if *refuse > 0 {
                    *refuse -= 1;
                    *self.refused.lock().unwrap() += 1;
                    b"451 4.3.0 Try again later\r\n"
                } else {
                    current = Received {
                        from: cmd[10..].to_owned(),
                        ..Received::default()
                    };
                    b"250 OK\r\n"
                }
            } else if upper.starts_with("RCPT TO:") {
                current.to.push(cmd[8..].to_owned());
                b"250 OK\r\n"
            } else if upper == "DATA" {
                let _ = write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // RFC 5321 §4.5.2: a leading dot was doubled by the sender.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                current.data = data;
                self.received
                    .lock()
                    .unwrap()
                    .push(std::mem::take(&mut current));
                b"250 OK queued\r\n"
            } else if upper == "QUIT" {
                let _ = write.write_all(b"221 Bye\r\n").await;
                return;
            } else if upper == "RSET" || upper == "NOOP" {
                b"250 OK\r\n"
            } else {
                b"500 Unknown command\r\n"
            };
            if write.write_all(reply).await.is_err() {
                return;
            }
        }
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Received {
    /// The message's header block, unfolded (RFC 5322 §2.2.3), and its body decoded from its
    /// transfer encoding (7bit, quoted-printable or base64, the ones lettre chooses from),
    /// with LF line ends.
    pub fn decoded(&self) -> (String, String) {
        let data = self.data.replace("\r\n", "\n");
        let (headers, body) = data.split_once("\n\n").unwrap_or((&data, ""));
        let encoding = headers
            .lines()
            .find_map(|l| l.strip_prefix("Content-Transfer-Encoding: "))
            .unwrap_or("7bit")
            .trim()
            .to_ascii_lowercase();
        let body = match encoding.as_str() {
            "quoted-printable" => quoted_printable(body),
            "base64" => {
                use base64::Engine as _;
                let joined: String = body.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .expect("base64 body");
                String::from_utf8(bytes).expect("UTF-8 body")
            }
            _ => body.to_owned(),
        };
        (
            headers.replace("\n ", " ").replace("\n\t", " "),
            body.replace("\r\n", "\n"),
        )
    }
}

/// RFC 2045 §6.7 quoted-printable, decoded: soft line breaks (`=` at a line's end) joined,
/// `=XX` bytes restored. Written out for the test (a dozen lines) rather than adding a crate:
/// lettre encodes but exposes no decoder.
fn quoted_printable(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ASCII");
            out.push(u8::from_str_radix(hex, 16).expect("=XX"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8 body")
}

/// Waits (bounded: 5 s, polling) until the sink holds `n` messages; returns them.
pub async fn wait_for_messages(sink: &SmtpSink, n: usize) -> Vec<Received> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let got = sink.messages();
        if got.len() >= n {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} messages within 5 s",
            got.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
