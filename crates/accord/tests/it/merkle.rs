//! The public transparency log of each tenant's ledger: a C2SP signed checkpoint, the key that
//! opens it, RFC 9162 inclusion and consistency proofs, checked with the domain's verifier and,
//! where Python's `cryptography` is installed, with an independent verifier that shares no code
//! with Accord.

use crate::helpers::{spawn_app, TestApp};
use accord_domain::ledger::merkle::{self, Hash};
use accord_domain::ledger::{NoteVerifier, TreeHead};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use std::io::Write as _;
use std::process::{Command, Stdio};

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    // No API key: the log is public.
    app.http.get(app.url(path)).send().await.unwrap()
}

async fn get_json(app: &TestApp, path: &str) -> (u16, Value, String) {
    let res = get(app, path).await;
    let status = res.status().as_u16();
    let cache = res
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body, cache)
}

async fn checkpoint(app: &TestApp) -> String {
    let res = get(app, &format!("/ledger/{}/checkpoint", app.tenant_id)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    res.text().await.unwrap()
}

async fn verifier_key(app: &TestApp) -> String {
    let res = get(app, &format!("/ledger/{}/key", app.tenant_id)).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    text.lines().next().unwrap().to_owned()
}

fn hash(v: &Value) -> Hash {
    B64.decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash).collect()
}

/// The tenant's event chain hashes, in order, read from the store (what each leaf commits to).
async fn chain_hashes(app: &TestApp) -> Vec<String> {
    let events = app
        .state
        .store
        .ledger_events(app.tenant(), 0, 1000)
        .await
        .unwrap();
    events.into_iter().map(|e| e.hash).collect()
}

async fn disconnect_and_connect_another(app: &TestApp) {
    let connection = app.connections().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .api_json(
            reqwest::Method::DELETE,
            &format!("/v1/companies/{}/connections/{connection}", app.company_id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let other = app.new_company("Crocus Cafe Ltd").await;
    let link = app.new_link_url(&other).await;
    app.browser().connect(Some(&link), "sandbox").await;
}

#[tokio::test]
async fn the_ledger_is_a_public_log_with_signed_checkpoints_and_proofs() {
    let app = spawn_app().await;
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let vkey = verifier_key(&app).await;
    let verifier = NoteVerifier::parse(&vkey).expect(&vkey);
    let old_note = checkpoint(&app).await;
    let old = TreeHead::open(&old_note, std::slice::from_ref(&verifier)).unwrap();
    assert!(old.size >= 1);
    assert_eq!(
        old.origin,
        format!(
            "{}/ledger/{}",
            app.base.trim_start_matches("http://"),
            app.tenant_id
        )
    );

    disconnect_and_connect_another(&app).await;
    let note = checkpoint(&app).await;
    let head = TreeHead::open(&note, std::slice::from_ref(&verifier)).unwrap();
    let chain = chain_hashes(&app).await;
    assert_eq!(head.size, chain.len() as u64);
    assert!(head.size > old.size, "{} then {}", old.size, head.size);

    // Every event is in the latest tree, under the leaf its chain hash makes.
    let mut inclusion = Vec::new();
    for (index, chain_hash) in chain.iter().enumerate() {
        let path = format!(
            "/ledger/{}/proofs/inclusion?index={index}&size={}",
            app.tenant_id, head.size
        );
        let (status, body, cache) = get_json(&app, &path).await;
        assert_eq!(status, 200, "{body}");
        assert!(cache.starts_with("public"), "{cache}");
        let leaf = hash(&body["leaf_hash"]);
        assert_eq!(leaf, merkle::event_leaf(chain_hash).unwrap());
        assert_eq!(hash(&body["root"]), head.root);
        let proof = hashes(&body["proof"]);
        merkle::verify_inclusion(&leaf, index as u64, head.size, &proof, &head.root).unwrap();
        inclusion.push(json!({ "leaf_hash": body["leaf_hash"], "leaf_index": index,
            "tree_size": head.size, "hashes": body["proof"] }));
    }

    // The latest tree extends the one of the older checkpoint.
    let path = format!(
        "/ledger/{}/proofs/consistency?from={}&to={}",
        app.tenant_id, old.size, head.size
    );
    let (status, body, _) = get_json(&app, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(hash(&body["old_root"]), old.root);
    assert_eq!(hash(&body["new_root"]), head.root);
    let proof = hashes(&body["proof"]);
    merkle::verify_consistency(old.size, head.size, &proof, &old.root, &head.root).unwrap();

    let request = json!({
        "checkpoint": note,
        "inclusion": inclusion,
        "consistency": [{ "from_note": old_note, "first": old.size, "second": head.size,
            "hashes": body["proof"] }],
    });
    independent_verification(&vkey, &request);
}

/// Runs the Python verifier when `python3` and `cryptography` are there; it must accept the
/// real proofs and reject a tampered one.
fn independent_verification(vkey: &str, request: &Value) {
    let available = Command::new("python3")
        .args(["-c", "import cryptography"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        println!("independent verification skipped: python3 with `cryptography` not available");
        return;
    }
    let (ok, out) = python_verify(vkey, request);
    assert!(ok, "the independent verifier refused: {out}");
    assert_eq!(out.trim(), "ok");

    let mut tampered = request.clone();
    let first = &mut tampered["inclusion"][0]["hashes"];
    if first.as_array().is_some_and(|a| !a.is_empty()) {
        first[0] = json!(B64.encode([7u8; 32]));
    } else {
        tampered["inclusion"][0]["leaf_hash"] = json!(B64.encode([7u8; 32]));
    }
    let (ok, out) = python_verify(vkey, &tampered);
    assert!(!ok, "a tampered inclusion proof was accepted: {out}");
    let mut tampered = request.clone();
    tampered["consistency"][0]["hashes"][0] = json!(B64.encode([7u8; 32]));
    let (ok, out) = python_verify(vkey, &tampered);
    assert!(!ok, "a tampered consistency proof was accepted: {out}");
}

fn python_verify(vkey: &str, request: &Value) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/verifier/tlog_verify.py");
    let mut child = Command::new("python3")
        .args([script, vkey])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn unknown_tenants_and_bad_parameters_are_refused() {
    let app = spawn_app().await;
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let other = spawn_app().await;
    let t = &app.tenant_id;
    // Another instance's tenant, a random id, a company's id, and no id at all name no ledger.
    for id in [
        other.tenant_id.clone(),
        "6f1c2e4a-9b3d-4c5e-8f70-1a2b3c4d5e6f".to_owned(),
        app.company_id.clone(),
        "not-a-uuid".to_owned(),
    ] {
        for tail in [
            "checkpoint",
            "key",
            "proofs/inclusion?index=0&size=1",
            "proofs/consistency?from=0&to=1",
        ] {
            let (status, body, _) = get_json(&app, &format!("/ledger/{id}/{tail}")).await;
            assert_eq!(status, 404, "{id}/{tail}: {body}");
            assert_eq!(body["resource"], "ledger", "{body}");
        }
    }
    let size = TreeHead::open(
        &checkpoint(&app).await,
        &[NoteVerifier::parse(&verifier_key(&app).await).unwrap()],
    )
    .unwrap()
    .size;
    let too_big = size + 1;
    for (query, field) in [
        ("index=x&size=1".to_owned(), "index"),
        ("size=1".to_owned(), "index"),
        ("index=0&size=-1".to_owned(), "size"),
        ("index=0&size=0".to_owned(), "size"),
        (format!("index=0&size={too_big}"), "size"),
        (format!("index={size}&size={size}"), "index"),
    ] {
        let path = format!("/ledger/{t}/proofs/inclusion?{query}");
        let (status, body, _) = get_json(&app, &path).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["errors"][0]["path"], field, "{query}: {body}");
    }
    for (query, field) in [
        ("from=1".to_owned(), "to"),
        ("from=a&to=1".to_owned(), "from"),
        (format!("from=0&to={too_big}"), "to"),
        (format!("from={size}&to=0"), "from"),
    ] {
        let path = format!("/ledger/{t}/proofs/consistency?{query}");
        let (status, body, _) = get_json(&app, &path).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["errors"][0]["path"], field, "{query}: {body}");
    }
}
