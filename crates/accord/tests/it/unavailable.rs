//! The database unavailable for a moment, in process and cheaply: Accord reaches PostgreSQL
//! through a TCP relay of the test's, which the test closes (every connection dropped, the port
//! refusing new ones) and opens again. Meanwhile the API answers `503` problem+json with
//! `Retry-After` (reading a consent included, whose ledger check reads the same database), and
//! the hosted flow answers its friendly page, `503` with `Retry-After`, in English and in French,
//! never the generic error page. Once the relay is back, the same instance answers again,
//! without a restart.
//!
//! Gated on `ACCORD_TEST_POSTGRES_URL` like every PostgreSQL test (`.ci/run` sets it in its
//! PostgreSQL pass): unset, the test prints a note and returns.

use crate::helpers::spawn_app_with;
use accord_store_postgres::testing::TestDatabase;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP relay in front of the PostgreSQL server, on a port of its own.
struct Relay {
    addr: SocketAddr,
    upstream: SocketAddr,
    accept: Option<JoinHandle<()>>,
    /// The relayed connections, each a task copying both ways.
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    /// A relay to the server of `url`, listening on a free loopback port.
    async fn start(url: &url::Url) -> Self {
        let host = url.host_str().expect("the test server's URL names a host");
        let port = url.port().unwrap_or(5432);
        let upstream = tokio::net::lookup_host((host, port))
            .await
            .unwrap()
            .next()
            .expect("the test server's host resolves");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut relay = Self {
            addr: listener.local_addr().unwrap(),
            upstream,
            accept: None,
            pipes: Arc::default(),
        };
        relay.serve(listener);
        relay
    }

    /// `url` with the relay in place of the server.
    fn url(&self, url: &url::Url) -> String {
        let mut url = url.clone();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.addr.port())).unwrap();
        url.into()
    }

    fn serve(&mut self, listener: TcpListener) {
        let (upstream, pipes) = (self.upstream, Arc::clone(&self.pipes));
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                pipes.lock().unwrap().push(pipe);
            }
        }));
    }

    /// The database "goes away": the port refuses connections and open ones are cut.
    async fn close(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
        let pipes: Vec<_> = self.pipes.lock().unwrap().drain(..).collect();
        for pipe in pipes {
            pipe.abort();
            let _ = pipe.await;
        }
    }

    /// The database is back, on the same port.
    async fn open(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

/// A `503` answered while the database is away, whatever the surface: `Retry-After` as the
/// API's problem says it.
fn retry_after(res: &reqwest::Response) -> String {
    res.headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_unavailable_database_is_a_503_with_retry_after_and_a_friendly_page() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let server = url::Url::parse(db.url()).unwrap();
    let mut relay = Relay::start(&server).await;
    let relayed = relay.url(&server);
    let app = spawn_app_with(
        &[("database.url", &relayed), ("database.pool_size", "6")],
        None,
    )
    .await;
    // A consent to read, and a customer in the flow with a live session.
    let success = app.browser().connect(Some(&app.link_url), "sandbox").await;
    assert!(success.body.contains("is connected"), "{}", success.body);
    let consent_id = app.consents().await[0]["id"].as_str().unwrap().to_owned();
    let consent_path = format!("/v1/consents/{consent_id}");
    let link = app.new_link_url(&app.company_id).await;
    let customer = app.browser();
    assert_eq!(customer.get(&link).await.status, 303);

    relay.close().await;

    let res = app
        .api(reqwest::Method::GET, &consent_path)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(retry_after(&res), "5");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "https://accord.dev/problems/unavailable");
    assert_eq!(problem["retry_after"], 5);
    assert!(problem["correlation_id"].is_string(), "{problem}");

    for (lang, title, body) in [
        (
            "en",
            "Temporarily unavailable",
            "Please try again in a moment.",
        ),
        (
            "fr",
            "Service momentanément indisponible",
            "Réessayez dans un instant.",
        ),
    ] {
        let url = customer.base.clone() + "/link/platforms/sandbox/consent?lang=" + lang;
        let res = customer.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 503, "{lang}");
        assert_eq!(retry_after(&res), "5", "{lang}");
        let html = res.text().await.unwrap();
        assert!(html.contains(&format!("lang=\"{lang}\"")), "{html}");
        assert!(
            html.contains(&format!("<h1>{title}</h1>")) && html.contains(body),
            "the friendly page in {lang}: {html}"
        );
        assert!(
            !html.contains("Something went wrong") && !html.contains("Un problème est survenu"),
            "not the generic error page: {html}"
        );
        assert!(
            !html.contains("127.0.0.1") && !html.contains("PoolTimedOut"),
            "the cause is logged, not shown: {html}"
        );
    }

    relay.open().await;

    // Back without a restart: the same reads answer again (the pool reconnects on its own).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let res = app
            .api(reqwest::Method::GET, &consent_path)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break;
        }
        assert_eq!(res.status(), 503);
        assert!(
            std::time::Instant::now() < deadline,
            "the API answers again within 30 s of the database's return"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let page = customer.get("/link/platforms/sandbox/consent").await;
    assert_eq!(page.status, 200, "{}", page.body);
    drop(app);
}
