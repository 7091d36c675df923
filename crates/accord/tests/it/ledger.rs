//! The consent ledger, tamper-evident: the database refuses to change or remove a
//! ledger row, and `accord ledger verify` (the real binary) recomputes each tenant's chain,
//! exits 0 when intact and 1 on any tamper, naming the first broken event. Tampering is done
//! with direct SQL on a consistent copy (`VACUUM INTO`) of a database written by real flows.

use crate::helpers::{spawn_app, spawn_app_on_postgres, TestApp};
use crate::receipts::{run, run_with_env, Ran};
use accord_domain::ledger::LedgerEvent;
use sqlx::Connection as _;
use std::path::Path;
use tempfile::TempDir;

/// Three events in the demo tenant's chain: the demo company gives consent, the tenant
/// disconnects it through the API (withdrawn), another company gives consent.
async fn app_with_events() -> TestApp {
    with_events(spawn_app().await).await
}

/// [`app_with_events`]'s three events, in `app`.
pub(crate) async fn with_events(app: TestApp) -> TestApp {
    app.browser().connect(Some(&app.link_url), "sandbox").await;
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
    app
}

pub(crate) fn connect(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

/// A consistent copy of the app's database in a new data directory; the app is not touched.
pub(crate) fn snapshot(app: &TestApp) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let conn = connect(&app.data_dir.path().join("accord.db"));
    conn.execute(
        "vacuum into ?1",
        [dir.path().join("accord.db").display().to_string()],
    )
    .unwrap();
    drop(conn);
    // The key file too: `ledger verify` checks the signed checkpoints with its public keys.
    std::fs::copy(
        app.data_dir.path().join("keys.toml"),
        dir.path().join("keys.toml"),
    )
    .unwrap();
    dir
}

/// Runs direct SQL on a copy's database, the append-only triggers dropped first.
fn tamper(dir: &Path, statements: &[&str]) {
    let conn = connect(&dir.join("accord.db"));
    conn.execute_batch(
        "drop trigger ledger_events_refuse_update; drop trigger ledger_events_refuse_delete;",
    )
    .unwrap();
    for s in statements {
        conn.execute(s, []).unwrap();
    }
    drop(conn);
}

async fn ledger_verify(dir: &Path, extra: &[&str]) -> Ran {
    let mut args = vec!["ledger", "verify", "--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args).await
}

/// The (position, hash) of the demo tenant's events, as the store reads them.
async fn chain(app: &TestApp) -> Vec<(i64, String)> {
    app.state
        .store
        .ledger_events(app.tenant(), 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event.seq, e.hash))
        .collect()
}

#[tokio::test]
async fn an_untouched_ledger_verifies_and_the_database_refuses_to_change_it() {
    let app = app_with_events().await;
    let events = chain(&app).await;
    assert_eq!(events.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2, 3]);

    let copy = snapshot(&app);
    let ran = ledger_verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(0), "{ran}");
    let line = format!(
        "tenant {} (Northwind Lending): 3 events intact, head {}",
        app.tenant_id, events[2].1
    );
    assert!(ran.stdout.contains(&line), "{line} in {ran}");
    assert!(
        ran.stdout
            .contains("ledger intact: 1 tenant(s), 3 event(s) verified"),
        "{ran}"
    );
    // Not a terminal: no progress bar anywhere.
    assert!(
        !ran.stdout.contains('\r') && !ran.stderr.contains("verifying"),
        "{ran}"
    );

    let ran = ledger_verify(copy.path(), &["--tenant", &app.tenant_id, "--quiet"]).await;
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains(&line), "{ran}");
    let ran = ledger_verify(copy.path(), &["--tenant", &uuid_like()]).await;
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(ran.stderr.contains("no such tenant"), "{ran}");
    let ran = ledger_verify(copy.path(), &["--tenant", "northwind"]).await;
    assert_eq!(ran.code, Some(2), "{ran}");
    let nowhere = tempfile::tempdir().unwrap();
    let ran = ledger_verify(nowhere.path(), &[]).await;
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(ran.stderr.contains("no database"), "{ran}");
    assert!(
        !nowhere.path().join("accord.db").exists(),
        "no empty database was created"
    );

    // The live database refuses UPDATE and DELETE of ledger rows, and a second event at a
    // position already taken (a fork).
    let conn = connect(&app.data_dir.path().join("accord.db"));
    let update = conn
        .execute(
            "update ledger_events set event = json_set(event, '$.purpose', 'something else') where seq = 2",
            [],
        )
        .expect_err("updates are refused");
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = conn
        .execute("delete from ledger_events where seq = 3", [])
        .expect_err("deletes are refused");
    assert!(delete.to_string().contains("append-only"), "{delete}");
    let fork = conn
        .execute(
            "insert into ledger_events (tenant_id, seq, kind, consent_id, event, hash, prev_hash, at)
             select tenant_id, seq, kind, consent_id, event, hash, prev_hash, at from ledger_events where seq = 2",
            [],
        )
        .expect_err("a fork is refused");
    assert!(fork.to_string().to_lowercase().contains("unique"), "{fork}");
    drop(conn);
    assert_eq!(chain(&app).await, events, "nothing changed");
}

fn uuid_like() -> String {
    "0190a5b2-0000-7000-8000-000000000000".to_owned()
}

/// `accord ledger verify` on a tampered copy: exit 1, the tenant and `event N: …` named.
async fn assert_caught(app: &TestApp, statements: &[&str], position: i64, reason: &str) {
    let copy = snapshot(app);
    tamper(copy.path(), statements);
    let ran = ledger_verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(1), "{statements:?}: {ran}");
    let named = format!(
        "tenant {} (Northwind Lending): event {position}: {reason}",
        app.tenant_id
    );
    assert!(
        ran.stdout.contains(&named),
        "{statements:?}: `{named}` in {ran}"
    );
    assert!(ran.stdout.contains("LEDGER TAMPERED"), "{ran}");
}

#[tokio::test]
async fn a_tampered_ledger_fails_verification_naming_the_first_broken_event() {
    let app = app_with_events().await;
    // An event's content changed (its purpose).
    assert_caught(
        &app,
        &["update ledger_events set event = json_set(event, '$.purpose', 'Marketing') where seq = 2"],
        2,
        "content does not match its hash",
    )
    .await;
    // An event's data use changed from read to write.
    assert_caught(
        &app,
        &["update ledger_events set event = json_set(event, '$.data_uses[0].direction', 'write') where seq = 1"],
        1,
        "content does not match its hash",
    )
    .await;
    // Its stored hash replaced.
    assert_caught(
        &app,
        &["update ledger_events set hash = (select hash from ledger_events where seq = 3) where seq = 2"],
        2,
        "content does not match its hash",
    )
    .await;
    // Another column of the row: its kind or previous hash.
    for (statement, reason) in [
        (
            "update ledger_events set kind = 'expired' where seq = 2",
            "event's kind, consent or previous hash disagrees with its row",
        ),
        (
            "update ledger_events set prev_hash = hash where seq = 2",
            "previous-hash link does not match the preceding event",
        ),
    ] {
        assert_caught(&app, &[statement], 2, reason).await;
    }
    // A row deleted.
    assert_caught(
        &app,
        &["delete from ledger_events where seq = 2"],
        2,
        "missing or out of order (found position 3)",
    )
    .await;
    // Two rows reordered.
    assert_caught(
        &app,
        &[
            "update ledger_events set seq = 100 where seq = 2",
            "update ledger_events set seq = 2 where seq = 3",
            "update ledger_events set seq = 3 where seq = 100",
        ],
        2,
        // Position 2 now holds the event that follows event 2.
        "previous-hash link does not match the preceding event",
    )
    .await;
    // The stored JSON no longer reads as an event.
    assert_caught(
        &app,
        &["update ledger_events set event = replace(event, '\"purpose\":', '\"purpos_\":') where seq = 3"],
        3,
        "content does not match its hash",
    )
    .await;

    // A forger who recomputes the altered event's hash breaks the next event's link, unless a
    // signed checkpoint sealed the chain at it, which then catches it first (the app's sealer
    // runs on its own schedule: the snapshot says which case this is).
    let copy = snapshot(&app);
    let conn = connect(&copy.path().join("accord.db"));
    let json: String = conn
        .query_row("select event from ledger_events where seq = 2", [], |r| {
            r.get(0)
        })
        .unwrap();
    let sealed_at_2: bool = conn
        .query_row(
            "select exists (select 1 from ledger_checkpoints where seq = 2)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    let mut forged: LedgerEvent = serde_json::from_str(&json).unwrap();
    forged.body.purpose = "Marketing".into();
    let (text, hash) = (forged.canonical_json().replace('\'', "''"), forged.hash());
    tamper(
        copy.path(),
        &[&format!(
            "update ledger_events set event = '{text}', hash = '{hash}' where seq = 2"
        )],
    );
    let ran = ledger_verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    let expected = if sealed_at_2 {
        "event 2: the event differs from the one its signed checkpoint sealed"
    } else {
        "event 3: previous-hash link does not match the preceding event"
    };
    assert!(
        ran.stdout.contains(expected),
        "sealed at 2: {sealed_at_2}: {ran}"
    );
}

#[tokio::test]
async fn ledger_verify_reads_a_postgresql_ledger_too() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let events = chain(&app).await;
    assert_eq!(events.len(), 1);
    let url = app.db.url().to_owned();
    let keys = app.data_dir.path().join("keys.toml");
    let env = [
        ("ACCORD_DATABASE__URL", url.as_str()),
        ("ACCORD_KEYS__FILE", keys.to_str().unwrap()),
    ];
    let ran = run_with_env(&["ledger", "verify", "--tenant", &app.tenant_id], &env).await;
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(
        ran.stdout
            .contains(&format!("1 events intact, head {}", events[0].1)),
        "{ran}"
    );

    let mut conn = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
    let refused = sqlx::query("update ledger_events set event = replace(event, 'read', 'write')")
        .execute(&mut conn)
        .await
        .expect_err("updates are refused");
    assert!(refused.to_string().contains("append-only"), "{refused}");
    sqlx::query("alter table ledger_events disable trigger ledger_events_refuse_change")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("update ledger_events set event = replace(event, '\"read\"', '\"write\"')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let ran = run_with_env(&["ledger", "verify"], &env).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stdout.contains(&format!(
            "tenant {} (Northwind Lending): event 1: content does not match its hash",
            app.tenant_id
        )),
        "{ran}"
    );
}

/// What flipping each byte (XOR 1) of event 2's stored JSON and of its stored hash did.
#[derive(Default, Debug)]
struct Sweep {
    /// Flips that `ledger verify` caught at event 2.
    caught: usize,
    /// Flips the database refused (the text is no longer JSON).
    refused: usize,
    /// Flips it missed, whose text still parses to the very same event (another spelling of it).
    equivalent: Vec<String>,
    /// Flips it missed that changed the event.
    missed: Vec<String>,
}

async fn sweep_event_2() -> Sweep {
    let app = app_with_events().await;
    let copy = snapshot(&app);
    let db = copy.path().join("accord.db");
    let store = accord_store_sqlite::SqliteStore::open(&db).await.unwrap();
    let conn = connect(&db);
    conn.execute_batch("pragma synchronous = off; drop trigger ledger_events_refuse_update;")
        .unwrap();
    let tenant = app.tenant();
    let jwks = app.state.keyring.signing_keys().jwks();
    let verify = || accord::proof::verify_chain(&store, tenant, &jwks, &[], &|_| {});
    assert!(verify().await.broken.is_none());

    let mut out = Sweep::default();
    for column in ["event", "hash"] {
        let original: String = conn
            .query_row(
                &format!("select {column} from ledger_events where seq = 2"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        let parsed: Option<LedgerEvent> = serde_json::from_str(&original).ok();
        let update = format!("update ledger_events set {column} = ?1 where seq = 2");
        for i in 0..original.len() {
            let mut bytes = original.clone().into_bytes();
            bytes[i] ^= 0x01;
            let Ok(flipped) = String::from_utf8(bytes) else {
                continue;
            };
            if conn.execute(&update, [&flipped]).is_err() {
                out.refused += 1;
                continue;
            }
            if let Some(b) = verify().await.broken {
                assert_eq!(b.seq, 2, "{column} byte {i}: {b:?}");
                out.caught += 1;
            } else {
                let around = flipped
                    .get(i.saturating_sub(12)..(i + 12).min(flipped.len()))
                    .unwrap_or(&flipped);
                let what = format!("{column} byte {i}: …{around}…");
                let same = parsed.is_some()
                    && serde_json::from_str::<LedgerEvent>(&flipped).ok() == parsed;
                if same {
                    out.equivalent.push(what);
                } else {
                    out.missed.push(what);
                }
            }
            conn.execute(&update, [&original]).unwrap();
        }
    }
    let intact = verify().await;
    assert!(intact.broken.is_none(), "restored: {:?}", intact.broken);
    assert_eq!(intact.events, 3);
    drop(conn);
    store.close().await;
    out
}

#[tokio::test]
async fn flipping_any_byte_that_changes_a_stored_event_or_its_hash_is_caught_at_that_event() {
    let sweep = sweep_event_2().await;
    assert!(
        sweep.missed.is_empty(),
        "changes of the event went unnoticed: {sweep:#?}"
    );
    assert!(sweep.caught > 500, "{sweep:#?}");
}

/// Stricter: a flip that leaves the event's meaning intact but not its stored bytes (e.g. the
/// timestamp's `T` separator turned to `U`, which the RFC 3339 parser accepts) is caught too.
/// Verification hashes the stored text itself (`Store::ledger_rows`), so any other text fails
/// its hash, whatever it means.
#[tokio::test]
async fn flipping_any_byte_of_a_stored_event_is_caught_even_when_it_means_the_same() {
    let sweep = sweep_event_2().await;
    assert!(
        sweep.missed.is_empty() && sweep.equivalent.is_empty(),
        "{sweep:#?}"
    );
}

/// Seals the demo tenant's chain now (the running instance's sealer does the same every round).
async fn seal(app: &TestApp) {
    accord_worker::Sealer::new(
        app.state.store.clone(),
        app.state.keyring.signing_keys(),
        app.state.clock.clone(),
        std::time::Duration::from_secs(1),
        app.state.config.urls.public_url.clone(),
    )
    .seal_all()
    .await
    .unwrap();
    let checkpoints = app
        .state
        .store
        .ledger_checkpoints(app.tenant())
        .await
        .unwrap();
    assert_eq!(checkpoints.last().map(|c| c.checkpoint.seq), Some(3));
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Every signature is checked: the sealer signs each chain's head; `ledger verify` checks
/// those signatures, and catches with them what hashes alone cannot: the last event
/// rewritten with a hash that matches, sealed events removed from the end, a checkpoint moved.
#[tokio::test]
async fn signed_checkpoints_catch_a_rewritten_or_truncated_tail() {
    let app = app_with_events().await;
    seal(&app).await;
    let events = chain(&app).await;

    let copy = snapshot(&app);
    let ran = ledger_verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(
        ran.stdout
            .contains("signed checkpoint(s) verified, sealed to event 3"),
        "{ran}"
    );

    // The last event rewritten, with its hash recomputed so the chain alone still holds.
    let text: String = connect(&copy.path().join("accord.db"))
        .query_row("select event from ledger_events where seq = 3", [], |r| {
            r.get(0)
        })
        .unwrap();
    let forged = text.replacen("hosted_flow", "tenant_api__", 1);
    assert_ne!(forged, text);
    let forged_hash = accord_domain::crypto::sha256_hex(forged.as_bytes());
    tamper(
        copy.path(),
        &[&format!(
            "update ledger_events set event = {}, hash = {} where seq = 3",
            literal(&forged),
            literal(&forged_hash)
        )],
    );
    let ran = ledger_verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stdout
            .contains("event 3: the event differs from the one its signed checkpoint sealed"),
        "{ran}"
    );

    // The last two events removed.
    let copy = snapshot(&app);
    tamper(copy.path(), &["delete from ledger_events where seq >= 2"]);
    let ran = ledger_verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        // (position 3, or 2 if the running sealer sealed the chain when it ended there)
        ran.stdout.contains(
            "event 2: missing: the chain ends at position 1 but a signed checkpoint seals position"
        ),
        "{ran}"
    );

    // A checkpoint's hash replaced: its signature no longer matches its row.
    let copy = snapshot(&app);
    let conn = connect(&copy.path().join("accord.db"));
    conn.execute_batch("drop trigger ledger_checkpoints_refuse_update")
        .unwrap();
    conn.execute(
        "update ledger_checkpoints set hash = ?1 where seq = 3",
        [&events[1].1],
    )
    .unwrap();
    drop(conn);
    let ran = ledger_verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stdout.contains("event 3: the signed checkpoint at this position is invalid: the signed checkpoint disagrees with its row"),
        "{ran}"
    );

    // Checked against another instance's keys, the checkpoints do not verify.
    let copy = snapshot(&app);
    let other = tempfile::tempdir().unwrap();
    let jwks = other.path().join("jwks.json");
    let keys = accord_domain::receipt::SigningKeys::new(
        "sig-other",
        std::collections::BTreeMap::from([("sig-other".to_owned(), [9; 32])]),
    )
    .unwrap();
    std::fs::write(&jwks, keys.jwks().to_string()).unwrap();
    let ran = ledger_verify(copy.path(), &["--jwks", jwks.to_str().unwrap()]).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stdout.contains("is not in") || ran.stdout.contains("unknown key"),
        "{ran}"
    );
}

/// The sealer never signs a rewrite: it remembers the last checkpoint it signed in a file
/// outside the database, and a chain truncated and rewritten behind Accord's back, its signed
/// checkpoints deleted with it, is refused (an integrity alert) rather than sealed with the
/// real key, by the running instance and by a fresh sealer reading the same file.
#[tokio::test]
async fn the_sealer_refuses_a_chain_rewritten_with_its_checkpoints_deleted() {
    let app = app_with_events().await;
    let file = app.data_dir.path().join("ledger-checkpoints.jsonl");
    let tenant = app.tenant();
    // The running sealer signs the head and appends it to the file.
    wait_sealed(&app, &file, 3).await;

    // Behind Accord's back: the last two events and every checkpoint deleted.
    let conn = connect(&app.data_dir.path().join("accord.db"));
    conn.execute_batch(
        "drop trigger ledger_events_refuse_delete; drop trigger ledger_checkpoints_refuse_delete;
         delete from ledger_events where seq >= 2; delete from ledger_checkpoints;",
    )
    .unwrap();
    drop(conn);
    // The truncated chain now looks unsealed: without the file, its head (position 1) would be
    // signed as if it were the whole ledger. Give the running sealer a few rounds to try.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    assert_eq!(
        restarted_sealer(&app, &file).seal_all().await.unwrap(),
        0,
        "nothing sealed"
    );
    let signed = app.state.store.ledger_checkpoints(tenant).await.unwrap();
    assert!(signed.is_empty(), "no forged checkpoint signed: {signed:?}");
    let in_file: Vec<i64> = accord_worker::read_checkpoint_file(&file)
        .unwrap()
        .into_iter()
        .filter(|c| c.checkpoint.tenant_id == tenant)
        .map(|c| c.checkpoint.seq)
        .collect();
    assert_eq!(
        in_file.iter().max(),
        Some(&3),
        "the file still says 3: {in_file:?}"
    );
}

/// Waits (bounded: 10 s) until the running sealer has signed position `seq` into the checkpoint
/// file and stored it too (it appends to the file first; tampering in between would see its own
/// late insert).
async fn wait_sealed(app: &TestApp, file: &Path, seq: i64) {
    let tenant = app.tenant();
    let mut remembered = None;
    for _ in 0..100 {
        remembered = accord_worker::read_checkpoint_file(file)
            .unwrap()
            .into_iter()
            .filter(|c| c.checkpoint.tenant_id == tenant)
            .map(|c| c.checkpoint.seq)
            .max();
        let stored = app.state.store.ledger_checkpoints(tenant).await.unwrap();
        if remembered == Some(seq) && stored.iter().any(|c| c.checkpoint.seq == seq) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "position {seq} is not signed into {} (last: {remembered:?})",
        file.display()
    );
}

/// A sealer as a restarted instance makes it: the same store, keys and checkpoint file.
fn restarted_sealer(app: &TestApp, file: &Path) -> accord_worker::Sealer {
    accord_worker::Sealer::new(
        app.state.store.clone(),
        app.state.keyring.signing_keys(),
        app.state.clock.clone(),
        std::time::Duration::from_secs(1),
        app.state.config.urls.public_url.clone(),
    )
    .with_checkpoint_file(file.to_path_buf())
    .unwrap()
}

/// The `ledger.integrity_alert` events in the tenant's outbox, their `data`.
async fn alerts(app: &TestApp) -> Vec<serde_json::Value> {
    app.state
        .store
        .webhook_events(app.tenant(), 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "ledger.integrity_alert")
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.body).unwrap()["data"].clone())
        .collect()
}

/// Runs SQL on the running app's database behind its back (the triggers named dropped first).
fn behind_the_back(app: &TestApp, sql: &str) {
    let conn = connect(&app.data_dir.path().join("accord.db"));
    conn.execute_batch(sql).unwrap();
}

/// The strongest rewrite an insider with the database can make: every event, tree node and
/// checkpoint deleted, then a longer ledger with a forged first consent appended through the
/// store itself, chained and treed exactly as Accord would. Nothing in the database disagrees
/// with anything else; only the checkpoint file does. The running sealer and a restarted one
/// both refuse it, sign nothing, and tell the tenant with a `ledger.integrity_alert` webhook
/// carrying the last checkpoint signed.
#[tokio::test]
async fn the_sealer_refuses_a_consistent_rewrite_and_alerts_the_tenant() {
    use crate::webhooks::{register, spawn, Receiver};
    let app = with_events(spawn(&[]).await).await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app, &receiver.url, &[]).await;
    receiver.trust(&[&secret]);
    let file = app.data_dir.path().join("ledger-checkpoints.jsonl");
    let tenant = app.tenant();
    wait_sealed(&app, &file, 3).await;
    let signed = app.state.store.ledger_checkpoints(tenant).await.unwrap();
    let last = signed.last().unwrap().clone();
    assert!(last.note.is_some() && last.root().is_some(), "{last:?}");

    let originals = app.state.store.ledger_events(tenant, 0, 100).await.unwrap();
    let mut forged: Vec<accord_domain::ledger::EventBody> =
        originals.iter().map(|e| e.event.body.clone()).collect();
    forged[0].purpose = "Anything we like".to_owned();
    forged.push(forged[2].clone());
    behind_the_back(
        &app,
        &format!(
            "drop trigger ledger_events_refuse_delete; drop trigger ledger_nodes_refuse_delete;
             drop trigger ledger_checkpoints_refuse_delete;
             delete from ledger_events where tenant_id = '{tenant}';
             delete from ledger_nodes where tenant_id = '{tenant}';
             delete from ledger_checkpoints where tenant_id = '{tenant}';"
        ),
    );
    let rewritten = app.state.store.append_events(tenant, forged).await.unwrap();
    assert_eq!(rewritten.len(), 4);
    assert_ne!(rewritten[2].hash, originals[2].hash);
    // The running sealer has a few rounds to try; it alerts once, not every round.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(alerts(&app).await.len(), 1, "{:?}", alerts(&app).await);

    // Restarted: nothing signed either, and the alert is raised again.
    assert_eq!(restarted_sealer(&app, &file).seal_all().await.unwrap(), 0);
    assert!(
        app.state
            .store
            .ledger_checkpoints(tenant)
            .await
            .unwrap()
            .is_empty(),
        "no forged checkpoint signed"
    );
    let kept = accord_worker::read_checkpoint_file(&file).unwrap();
    assert_eq!(
        kept.last(),
        Some(&last),
        "the file still ends with the real head"
    );
    let raised = alerts(&app).await;
    assert_eq!(raised.len(), 2);
    for a in &raised {
        assert_eq!(a["seq"], 3, "{a}");
        assert!(
            a["reason"]
                .as_str()
                .unwrap()
                .contains("the chain was rewritten"),
            "{a}"
        );
        assert_eq!(a["last_signed"]["size"], 3, "{a}");
        assert_eq!(a["last_signed"]["note"].as_str(), last.note.as_deref());
        assert_eq!(a["last_signed"]["jws"].as_str(), Some(last.jws.as_str()));
    }
    // And the tenant is told, at an endpoint that lists no types, signed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let sent = loop {
        let sent: Vec<_> = receiver
            .received()
            .into_iter()
            .filter(|r| r.event_type() == "ledger.integrity_alert")
            .collect();
        if sent.len() == 2 || std::time::Instant::now() > deadline {
            break sent;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(sent.len(), 2, "{sent:?}");
    receiver.assert_all_verified();
    assert_eq!(sent[0].json()["data"]["last_signed"]["size"], 3);
}

/// The chain intact, but one node of the tree signed at size 3 replaced: the next consent
/// extends a chain that verifies, and a tree that no longer holds the root signed. Refused.
#[tokio::test]
async fn the_sealer_refuses_a_tree_rewritten_under_an_intact_chain() {
    let app = app_with_events().await;
    let file = app.data_dir.path().join("ledger-checkpoints.jsonl");
    let tenant = app.tenant();
    wait_sealed(&app, &file, 3).await;
    // The leaf of event 3 is a peak of the tree of 3 leaves (the root is H(node(0..2), leaf 2)).
    behind_the_back(
        &app,
        &format!(
            "drop trigger ledger_nodes_refuse_update;
             update ledger_nodes set hash = randomblob(32)
             where tenant_id = '{tenant}' and level = 0 and idx = 2;"
        ),
    );
    let other = app.new_company("Dahlia Deli Ltd").await;
    let link = app.new_link_url(&other).await;
    app.browser().connect(Some(&link), "sandbox").await;
    assert_eq!(chain(&app).await.len(), 4);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(restarted_sealer(&app, &file).seal_all().await.unwrap(), 0);
    let sealed: Vec<i64> = app
        .state
        .store
        .ledger_checkpoints(tenant)
        .await
        .unwrap()
        .iter()
        .map(|c| c.checkpoint.seq)
        .collect();
    assert_eq!(
        sealed.last(),
        Some(&3),
        "position 4 is not sealed: {sealed:?}"
    );
    let raised = alerts(&app).await;
    assert!(!raised.is_empty());
    assert!(
        raised.iter().all(|a| a["reason"]
            .as_str()
            .unwrap()
            .contains("the Merkle tree of size 3 is not the one signed")),
        "{raised:?}"
    );
}
