//! Checkpoints kept outside the database, for `accord ledger verify --checkpoints FILE|URL…`.
//!
//! A source is the sealer's checkpoint file (one JSON line per checkpoint: position, chain hash,
//! tree root, JWS and C2SP note), a file of C2SP signed notes (the public
//! `/ledger/{tenant}/checkpoint` saved over time), or an http(s) URL serving either, or the JSON
//! of `GET /v1/ledger/checkpoints`. Only what is signed counts: a JWS is opened with the key set
//! and its payload read as a checkpoint; a note is opened with the same Ed25519 keys and its
//! origin names the tenant. Anything else in the source (its unsigned fields) is ignored.
//!
//! Each checkpoint becomes an [`Expected`] (tenant, size, and the chain hash and/or tree root
//! signed at that size). While `verify` reads each chain it notes, at each expected size, the
//! chain hash and the Merkle root recomputed from the stored events ([`Witness`]); a checkpoint
//! then holds when both agree, which proves the database still holds the signed tree and that
//! its current tree extends it (every later event is chained on). What does not hold is named:
//! events removed from the end, a tree rewritten (between which positions), a tenant whose
//! ledger is gone.

use accord_domain::ids::TenantId;
use accord_domain::ledger::merkle::{event_leaf, Hash, NodeId};
use accord_domain::ledger::{open_tree_head, Checkpoint, CompactRange, TreeHead};
use accord_domain::receipt::verify_compact;
use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// What a checkpoint kept outside says the tree held at one size, signatures verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub tenant: TenantId,
    /// Where it was read: `FILE line N`, `URL entry N`.
    pub at: String,
    /// The tree size: the chain's last position it seals.
    pub size: i64,
    /// The chain hash of the event at `size` (a JWS checkpoint signs it).
    pub hash: Option<String>,
    /// The Merkle root of the first `size` events (a note, or a JWS that carries it).
    pub root: Option<Hash>,
    /// A checkpoint as the sealer stores it (JWS): the database should hold it too.
    pub stored_form: bool,
}

/// A checkpoint found in a source, before its signatures are checked.
#[derive(Debug)]
enum Raw {
    /// A JWS checkpoint, possibly with its C2SP note beside it.
    Signed {
        jws: String,
        note: Option<String>,
    },
    Note(String),
}

/// Whether `text` looks like a C2SP signed note (text, a blank line, `— ` signature lines).
fn is_note(text: &str) -> bool {
    text.contains("\n\n\u{2014} ")
}

/// The checkpoints in a JSON value, wherever they sit: an object with a `jws` (and maybe a
/// `note`), a note as a string, or arrays and objects holding them (`{"data": […]}`).
fn walk(value: &Value, at: &str, out: &mut Vec<(String, Raw)>) {
    match value {
        Value::Object(o) => {
            let note = o.get("note").and_then(Value::as_str).map(str::to_owned);
            if let Some(jws) = o.get("jws").and_then(Value::as_str) {
                let raw = Raw::Signed {
                    jws: jws.to_owned(),
                    note,
                };
                out.push((format!("{at} entry {}", out.len() + 1), raw));
            } else if let Some(note) = note.filter(|n| is_note(n)) {
                out.push((format!("{at} entry {}", out.len() + 1), Raw::Note(note)));
            } else {
                o.values().for_each(|v| walk(v, at, out));
            }
        }
        Value::Array(a) => a.iter().for_each(|v| walk(v, at, out)),
        Value::String(s) if is_note(s) => {
            out.push((
                format!("{at} entry {}", out.len() + 1),
                Raw::Note(s.clone()),
            ));
        }
        _ => {}
    }
}

/// Splits a text of signed notes, one after another (blank lines between them allowed), into
/// notes with the line each starts on: a note ends after its last `— ` signature line.
fn split_notes(text: &str) -> Vec<(usize, String)> {
    let mut notes = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    let mut in_signatures = false;
    for (n, line) in text.lines().enumerate() {
        let signature = line.starts_with('\u{2014}');
        if in_signatures && !signature {
            notes.push((start, std::mem::take(&mut current)));
            in_signatures = false;
        }
        if current.is_empty() && line.trim().is_empty() {
            continue;
        }
        if current.is_empty() {
            start = n + 1;
        }
        // The blank line before the signatures is part of the note.
        in_signatures |= signature && current.ends_with("\n\n");
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        notes.push((start, current));
    }
    notes
}

/// The checkpoints of one source's text, each with where it was found: JSON lines (the
/// sealer's file: each line a JSON value), one JSON document (the API's list), or notes.
fn parse_source(label: &str, text: &str) -> anyhow::Result<Vec<(String, Raw)>> {
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return Ok(split_notes(text)
            .into_iter()
            .map(|(line, note)| (format!("{label} line {line}"), Raw::Note(note)))
            .collect());
    }
    let lines: Vec<(usize, Result<Value, serde_json::Error>)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| (n + 1, serde_json::from_str(l)))
        .collect();
    let mut out = Vec::new();
    if lines.iter().all(|(_, v)| v.is_ok()) {
        for (n, value) in lines {
            let mut found = Vec::new();
            walk(&value.expect("checked"), label, &mut found);
            let many = found.len() > 1;
            out.extend(found.into_iter().enumerate().map(|(i, (_, raw))| {
                let at = if many {
                    format!("{label} line {n} entry {}", i + 1)
                } else {
                    format!("{label} line {n}")
                };
                (at, raw)
            }));
        }
        return Ok(out);
    }
    let whole: Value = serde_json::from_str(text).with_context(|| {
        let bad = lines
            .iter()
            .find(|(_, v)| v.is_err())
            .map_or(0, |(n, _)| *n);
        format!("{label}: neither JSON lines (line {bad} is not JSON) nor one JSON document")
    })?;
    walk(&whole, label, &mut out);
    Ok(out)
}

/// The tenant a note's origin names: its last path segment (`<host>/ledger/<tenant id>`).
fn origin_tenant(head: &TreeHead) -> Option<TenantId> {
    let (_, id) = head.origin.rsplit_once('/')?;
    id.parse().ok()
}

/// Opens one checkpoint with the key set: what it signs, or why it does not verify.
fn open(raw: &Raw, key_set: &Value) -> Result<Vec<Expected>, String> {
    let from_note = |note: &str| -> Result<(TenantId, i64, Hash), String> {
        let head = open_tree_head(note, key_set).map_err(|e| format!("signed note: {e}"))?;
        let tenant = origin_tenant(&head).ok_or_else(|| {
            format!(
                "the note's origin `{}` does not name a tenant's ledger",
                head.origin
            )
        })?;
        let size = i64::try_from(head.size).map_err(|_| "tree size too large".to_owned())?;
        Ok((tenant, size, head.root))
    };
    match raw {
        Raw::Note(note) => {
            let (tenant, size, root) = from_note(note)?;
            Ok(vec![Expected {
                tenant,
                at: String::new(),
                size,
                hash: None,
                root: Some(root),
                stored_form: false,
            }])
        }
        Raw::Signed { jws, note } => {
            let payload = verify_compact(jws, key_set).map_err(|e| format!("JWS: {e}"))?;
            let c: Checkpoint = serde_json::from_value(payload)
                .map_err(|_| "the JWS does not sign a ledger checkpoint".to_owned())?;
            let jws_root = match &c.root {
                None => None,
                Some(r) => Some(
                    B64.decode(r)
                        .ok()
                        .and_then(|b| Hash::try_from(b).ok())
                        .ok_or("the JWS's root is not a base64 SHA-256")?,
                ),
            };
            let mut root = jws_root;
            if let Some(note) = note {
                let (tenant, size, note_root) = from_note(note)?;
                if tenant != c.tenant_id
                    || size != c.seq
                    || jws_root.is_some_and(|r| r != note_root)
                {
                    return Err("its note and its JWS sign different trees".into());
                }
                root = Some(note_root);
            }
            Ok(vec![Expected {
                tenant: c.tenant_id,
                at: String::new(),
                size: c.seq,
                hash: Some(c.hash),
                root,
                stored_form: true,
            }])
        }
    }
}

/// Whether `url` may be fetched: https anywhere, http only on a loopback host.
pub fn allowed_url(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// A source's text: the file, or the URL's body. `ACCORD_API_KEY`, when set, is sent as the
/// bearer token to the tenant API's own paths (`/v1/…`), never to another path.
async fn read_source(src: &str) -> anyhow::Result<String> {
    if !(src.starts_with("http://") || src.starts_with("https://")) {
        return std::fs::read_to_string(src)
            .with_context(|| format!("--checkpoints {src}: cannot read the file"));
    }
    let url = url::Url::parse(src).with_context(|| format!("--checkpoints {src}: not a URL"))?;
    if !allowed_url(&url) {
        bail!("--checkpoints {src}: only https URLs (or http on localhost) are fetched");
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut request = client.get(url.clone());
    if url.path().starts_with("/v1/") {
        if let Ok(key) = std::env::var("ACCORD_API_KEY") {
            request = request.bearer_auth(key.trim());
        }
    }
    let res = request
        .send()
        .await
        .with_context(|| format!("--checkpoints {src}: cannot fetch"))?;
    if !res.status().is_success() {
        bail!("--checkpoints {src}: the server answered {}", res.status());
    }
    res.text()
        .await
        .with_context(|| format!("--checkpoints {src}: cannot read the answer"))
}

/// Every checkpoint of the sources, opened with `key_set`: those that verify, and for the
/// others where they are and why not. A source that cannot be read or holds no checkpoint at
/// all is an error (the verification cannot run as asked).
pub async fn read_all(
    sources: &[String],
    key_set: &Value,
) -> anyhow::Result<(Vec<Expected>, Vec<String>)> {
    let mut expected = Vec::new();
    let mut invalid = Vec::new();
    for src in sources {
        let text = read_source(src).await?;
        let found = parse_source(src, &text)?;
        if found.is_empty() {
            return Err(anyhow!("--checkpoints {src}: no checkpoint found in it"));
        }
        for (at, raw) in found {
            match open(&raw, key_set) {
                Ok(opened) => expected.extend(opened.into_iter().map(|e| Expected {
                    at: at.clone(),
                    ..e
                })),
                Err(why) => invalid.push(format!("{at}: the checkpoint does not verify: {why}")),
            }
        }
    }
    Ok((expected, invalid))
}

// ---------------------------------------------------------------------------------------------
// What the chain holds at the expected sizes

/// Recomputes a chain's Merkle tree while it is read (RFC 9162, the leaf of each event being
/// its chain hash): one compact range (the O(log n) roots of the perfect subtrees so far), so
/// a root costs O(log n) when a size is reached and nothing is recomputed per checkpoint. It
/// keeps the chain hash and root at the sizes asked for, and checks the root each of the
/// database's signed checkpoints sealed as soon as the chain reaches its size.
#[derive(Debug, Default)]
pub struct Witness {
    tree: CompactRange,
    /// Sizes whose chain hash and root are kept, ascending; each leaves as it is reached.
    wanted: VecDeque<i64>,
    seen: BTreeMap<i64, (String, Hash)>,
    /// The roots signed checkpoints sealed, ascending by size; each leaves as it is checked.
    signed_roots: VecDeque<(i64, Hash)>,
    completed: Vec<(NodeId, Hash)>,
}

impl Witness {
    /// A witness keeping the chain hash and root at `sizes`, and checking `signed_roots` (size
    /// and root of each signed checkpoint) as the chain reaches them.
    pub fn new(
        sizes: impl IntoIterator<Item = i64>,
        signed_roots: impl IntoIterator<Item = (i64, Hash)>,
    ) -> Self {
        let wanted: BTreeSet<i64> = sizes.into_iter().filter(|s| *s > 0).collect();
        let mut signed_roots: Vec<(i64, Hash)> =
            signed_roots.into_iter().filter(|(s, _)| *s > 0).collect();
        signed_roots.sort_unstable();
        Self {
            wanted: wanted.into_iter().collect(),
            signed_roots: signed_roots.into(),
            ..Self::default()
        }
    }

    /// The next event of the chain (already verified): position and chain hash. An error when
    /// a signed checkpoint at this position sealed another root.
    pub fn push(&mut self, seq: i64, hash: &str) -> Result<(), String> {
        let leaf = event_leaf(hash).map_err(|e| e.to_string())?;
        self.push_leaf(seq, hash, leaf)
    }

    /// [`Self::push`] of an event whose leaf hash (`event_leaf` of its chain hash) was computed
    /// already: `ledger verify` computes it beside the event's own hash, two pages at once,
    /// leaving only the tree's inner nodes to the pass that takes the events in order.
    pub fn push_leaf(&mut self, seq: i64, hash: &str, leaf: Hash) -> Result<(), String> {
        self.completed.clear();
        self.tree.append(leaf, &mut self.completed);
        let wanted = self.wanted.front() == Some(&seq);
        let signed = self.signed_roots.front().is_some_and(|(s, _)| *s == seq);
        if !(wanted || signed) {
            return Ok(());
        }
        let root = self.tree.root();
        if wanted {
            self.wanted.pop_front();
            self.seen.insert(seq, (hash.to_owned(), root));
        }
        // Two checkpoints at one size are one row; the loop drains equal sizes all the same.
        while let Some((_, sealed)) = self
            .signed_roots
            .front()
            .filter(|(s, _)| *s == seq)
            .copied()
        {
            self.signed_roots.pop_front();
            if sealed != root {
                return Err("the signed checkpoint at this position sealed another tree root than the tree of the events up to it".into());
            }
        }
        Ok(())
    }

    /// The root of the tree of every event pushed.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The chain hash and root at `size`, if the chain reached it.
    pub fn at(&self, size: i64) -> Option<&(String, Hash)> {
        self.seen.get(&size)
    }
}

/// How one expected checkpoint compares with the chain as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Holds,
    /// The chain ends before the checkpoint's size: events were removed from the end.
    Truncated {
        chain_len: i64,
    },
    /// The chain breaks before the checkpoint's size; it could not be compared.
    NotReached {
        broken_at: i64,
    },
    /// The chain holds another tree at that size.
    Rewritten {
        what: &'static str,
    },
}

/// Compares `e` with what the chain held at its size.
pub fn compare(e: &Expected, witness: &Witness, chain_len: i64, broken_at: Option<i64>) -> Outcome {
    if let Some(b) = broken_at.filter(|b| *b <= e.size) {
        return Outcome::NotReached { broken_at: b };
    }
    if e.size > chain_len {
        return Outcome::Truncated { chain_len };
    }
    if e.size == 0 {
        return Outcome::Holds;
    }
    let Some((hash, root)) = witness.at(e.size) else {
        return Outcome::Truncated { chain_len };
    };
    if e.hash.as_ref().is_some_and(|h| h != hash) {
        return Outcome::Rewritten {
            what: "the event at this position is not the one signed",
        };
    }
    if e.root.is_some_and(|r| r != *root) {
        return Outcome::Rewritten {
            what: "the tree of the events up to this position has another root than the one signed",
        };
    }
    Outcome::Holds
}

/// The sentence for a checkpoint that does not hold, naming the tenant and positions; `agreed`
/// is the largest size of another checkpoint that holds (the rewrite is after it).
pub fn describe(e: &Expected, outcome: &Outcome, agreed: Option<i64>) -> Option<String> {
    let t = e.tenant;
    match outcome {
        Outcome::Holds => None,
        Outcome::Truncated { chain_len } => Some(format!(
            "tenant {t}: TRUNCATED: {} seals {} event(s) but the chain ends at position {chain_len}: events {} to {} were removed",
            e.at,
            e.size,
            chain_len + 1,
            e.size
        )),
        Outcome::NotReached { broken_at } => Some(format!(
            "tenant {t}: {} (position {}) could not be compared: the chain breaks at position {broken_at} before it",
            e.at, e.size
        )),
        Outcome::Rewritten { what } => Some(format!(
            "tenant {t}: REWRITTEN: {} (position {}): {what}; {}",
            e.at,
            e.size,
            match agreed {
                Some(p) => format!(
                    "a checkpoint at position {p} still holds, so the events were rewritten between positions {} and {}",
                    p + 1,
                    e.size
                ),
                None => format!("the events were rewritten at or before position {}", e.size),
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_split_one_after_another() {
        let a = "host/ledger/x\n1\nAAAA\n\n\u{2014} host abc=\n";
        let b = "host/ledger/x\n2\nBBBB\n\n\u{2014} host def=\n\u{2014} witness ghi=\n";
        let text = format!("{a}\n{b}");
        let notes = split_notes(&text);
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0], (1, a.to_owned()));
        assert_eq!(notes[1], (7, b.to_owned()));
    }

    #[test]
    fn checkpoints_are_found_in_json_lines_and_api_documents() {
        let line =
            r#"{"tenant_id":"x","seq":2,"hash":"h","jws":"a.b.c","note":"o\n2\nr\n\n— k s\n"}"#;
        let found = parse_source("F", &format!("{line}\n\n{line}\n")).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].0, "F line 3");
        assert!(matches!(&found[0].1, Raw::Signed { note: Some(_), .. }));
        let api = format!("{{\n\"data\": [{line}, {line}],\n\"next\": null\n}}");
        let found = parse_source("U", &api).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].0, "U entry 2");
        assert!(parse_source("F", "{\"a\":1}\nnot json\n").is_err());
    }

    #[test]
    fn the_witness_checks_each_signed_root_when_the_chain_reaches_its_size() {
        let hashes: Vec<String> = (0u8..5).map(|i| format!("{i:02x}").repeat(32)).collect();
        let mut tree = CompactRange::new();
        let mut roots = Vec::new();
        for h in &hashes {
            tree.append(event_leaf(h).unwrap(), &mut Vec::new());
            roots.push(tree.root());
        }
        let run = |signed: Vec<(i64, Hash)>| {
            let mut w = Witness::new([2, 5, 0], signed);
            for (seq, h) in (1..).zip(&hashes) {
                w.push(seq, h).map_err(|e| (seq, e))?;
            }
            Ok::<_, (i64, String)>(w)
        };
        let w = run(vec![(3, roots[2]), (5, roots[4])]).unwrap();
        assert_eq!(w.at(2), Some(&(hashes[1].clone(), roots[1])));
        assert_eq!(w.at(5).map(|(_, r)| *r), Some(roots[4]));
        assert_eq!(w.at(3), None, "only the sizes asked for are kept");
        let (at, why) = run(vec![(5, roots[4]), (3, roots[1])]).unwrap_err();
        assert_eq!(at, 3);
        assert!(why.contains("another tree root"), "{why}");
    }

    #[test]
    fn urls_are_https_or_loopback_http() {
        let ok = |u: &str| allowed_url(&url::Url::parse(u).unwrap());
        assert!(ok("https://accord.example/ledger/x/checkpoint"));
        assert!(ok("http://127.0.0.1:8080/v1/ledger/checkpoints"));
        assert!(!ok("http://accord.example/ledger/x/checkpoint"));
        assert!(!ok("file:///etc/passwd"));
    }
}
