//! The public transparency log of each tenant's ledger: a C2SP signed checkpoint, the key that
//! opens it, RFC 9162 inclusion and consistency proofs, checked with the domain's verifier and,
//! where Python's `cryptography` is installed, with an independent verifier that shares no code
//! with Accord.

use crate::helpers::{spawn_app, TestApp};
use crate::webhooks::{register, Receiver};
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

/// The latest checkpoint the sealer signed, once it covers every event of the chain (bounded:
/// 10 s; the sealer signs within a round of a commit).
async fn checkpoint(app: &TestApp) -> String {
    let verifier = NoteVerifier::parse(&verifier_key(app).await).unwrap();
    let events = chain_hashes(app).await.len() as u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let res = get(app, &format!("/ledger/{}/checkpoint", app.tenant_id)).await;
        assert_eq!(res.headers()["cache-control"], "no-cache");
        if res.status() == 200 {
            assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
            let note = res.text().await.unwrap();
            let head = TreeHead::open(&note, std::slice::from_ref(&verifier)).unwrap();
            if head.size == events {
                return note;
            }
        } else {
            assert_eq!(res.status(), 404, "before the first checkpoint");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of {events} events signed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
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
    // A tenant without events has no checkpoint yet: nothing is signed on demand.
    let (status, body, _) =
        get_json(&other, &format!("/ledger/{}/checkpoint", other.tenant_id)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["resource"], "checkpoint", "{body}");
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

async fn list_checkpoints(app: &TestApp, query: &str) -> (u16, Value) {
    app.api_json(
        reqwest::Method::GET,
        &format!("/v1/ledger/checkpoints{query}"),
        None,
    )
    .await
}

/// Every checkpoint the sealer signs leaves the database three ways, all the same checkpoint:
/// listed at `GET /v1/ledger/checkpoints` (newest first, paged), sent as a `ledger.checkpoint`
/// webhook to the endpoints that list that type (and only to them), and appended to the
/// checkpoint file; the public endpoint serves the latest one's note. Each carries its tree
/// size and root, the chain's head, the C2SP note and the JWS, which open with the published
/// keys and agree with each other and with the tree.
#[tokio::test]
async fn checkpoints_are_listed_sent_and_kept_as_the_sealer_signed_them() {
    let app = crate::webhooks::spawn(&[]).await;
    let archive = Receiver::start().await;
    let (_, secret) = register(&app, &archive.url, &["ledger.checkpoint"]).await;
    archive.trust(&[&secret]);
    let everything = Receiver::start().await;
    let (_, secret) = register(&app, &everything.url, &[]).await;
    everything.trust(&[&secret]);

    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let first_note = checkpoint(&app).await;
    disconnect_and_connect_another(&app).await;
    let note = checkpoint(&app).await;
    let verifier = NoteVerifier::parse(&verifier_key(&app).await).unwrap();
    let head = TreeHead::open(&note, std::slice::from_ref(&verifier)).unwrap();
    let chain = chain_hashes(&app).await;

    let (status, body) = list_checkpoints(&app, "").await;
    assert_eq!(status, 200, "{body}");
    let listed = body["data"].as_array().unwrap().clone();
    assert!(listed.len() >= 2, "{body}");
    assert_eq!(body["next_cursor"], Value::Null);
    let newest = &listed[0];
    assert_eq!(newest["note"], note.as_str());
    assert_eq!(newest["size"], head.size);
    assert_eq!(newest["root"], B64.encode(head.root));
    assert_eq!(newest["chain_hash"], chain.last().unwrap().as_str());
    assert!(listed.iter().any(|c| c["note"] == first_note.as_str()));
    let jwks: Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut sizes = Vec::new();
    for c in &listed {
        let size = c["size"].as_u64().unwrap();
        sizes.push(size);
        // The note and the JWS vouch for the same tree, which is the tree of the chain.
        let tree =
            TreeHead::open(c["note"].as_str().unwrap(), std::slice::from_ref(&verifier)).unwrap();
        assert_eq!(
            (tree.size, B64.encode(tree.root)),
            (size, c["root"].as_str().unwrap().to_owned())
        );
        let (status, proof, _) = get_json(
            &app,
            &format!(
                "/ledger/{}/proofs/consistency?from={size}&to={}",
                app.tenant_id, head.size
            ),
        )
        .await;
        assert_eq!(status, 200, "{proof}");
        merkle::verify_consistency(
            size,
            head.size,
            &hashes(&proof["proof"]),
            &tree.root,
            &head.root,
        )
        .unwrap();
        let signed =
            accord_domain::receipt::verify_compact(c["jws"].as_str().unwrap(), &jwks).unwrap();
        assert_eq!(signed["seq"], size);
        assert_eq!(signed["root"], c["root"]);
        assert_eq!(signed["hash"], c["chain_hash"]);
        assert_eq!(signed["tenant_id"], app.tenant_id.as_str());
        assert_eq!(
            c["chain_hash"],
            chain[usize::try_from(size).unwrap() - 1].as_str()
        );
    }
    assert!(
        sizes.windows(2).all(|w| w[0] > w[1]),
        "newest first: {sizes:?}"
    );

    // Paged: one at a time, each page's cursor leading to the next older one.
    let (_, page) = list_checkpoints(&app, "?limit=1").await;
    assert_eq!(page["data"][0]["size"], sizes[0]);
    assert_eq!(page["next_cursor"], sizes[0]);
    let (_, page) = list_checkpoints(&app, &format!("?limit=1&after={}", sizes[0])).await;
    assert_eq!(page["data"][0]["size"], sizes[1]);
    for bad in ["?limit=0", "?limit=201", "?after=0", "?after=x"] {
        let (status, body) = list_checkpoints(&app, bad).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let res = app
        .http
        .get(app.url("/v1/ledger/checkpoints"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the list needs the tenant's API key");

    // Sent: one `ledger.checkpoint` per checkpoint listed, to the endpoint that lists the type.
    let got = archive.wait_for(listed.len()).await;
    assert_eq!(got.len(), listed.len(), "{got:?}");
    for r in &got {
        assert_eq!(r.event_type(), "ledger.checkpoint");
        let data = &r.json()["data"];
        let same = listed.iter().find(|c| c["size"] == data["size"]).unwrap();
        for field in ["root", "chain_hash", "note", "jws", "sealed_at"] {
            assert_eq!(data[field], same[field], "{field}");
        }
    }
    // The endpoint that lists no type gets everything else, not the checkpoints.
    everything.wait_for(1).await;
    assert!(everything
        .received()
        .iter()
        .all(|r| r.event_type() != "ledger.checkpoint"));

    // Kept: the checkpoint file holds each of them, whole.
    let file = app.data_dir.path().join("ledger-checkpoints.jsonl");
    let kept = accord_worker::read_checkpoint_file(&file).unwrap();
    for c in &listed {
        assert!(
            kept.iter()
                .any(|k| k.note.as_deref() == c["note"].as_str()
                    && k.jws == c["jws"].as_str().unwrap()),
            "{c} not in {}",
            file.display()
        );
    }
}

/// On PostgreSQL too: the sealer's checkpoints (note and JWS) are listed, served and sent with
/// the outbox row written in the checkpoint's transaction.
#[tokio::test]
async fn on_postgres_checkpoints_are_listed_served_and_sent() {
    let Some(app) = crate::helpers::spawn_app_on_postgres_with(&crate::webhooks::DEV).await else {
        return;
    };
    let archive = Receiver::start().await;
    let (_, secret) = register(&app, &archive.url, &["ledger.checkpoint"]).await;
    archive.trust(&[&secret]);
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let note = checkpoint(&app).await;
    let (status, body) = list_checkpoints(&app, "?limit=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["note"], note.as_str());
    let got = archive.wait_for(1).await;
    let newest = got.last().unwrap().json();
    assert_eq!(newest["type"], "ledger.checkpoint");
    assert!(got
        .iter()
        .any(|r| r.json()["data"]["note"] == note.as_str()));
}
