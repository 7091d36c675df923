//! `accord ledger verify` (the real binary) beyond the chain: the consent, connection and NDA
//! rows compared with the events that recorded them, and the ledger compared with checkpoints
//! kept outside the database (`--checkpoints`: the sealer's file, saved C2SP notes, a URL).
//! Tampering is done with direct SQL on consistent copies (`VACUUM INTO`) of a database written
//! by real flows, as an insider with the database file could, or through the store itself for
//! the strongest rewrite (everything in the database consistent with everything else).

use crate::helpers::{spawn_app, TestApp};
use crate::ledger::{connect, snapshot, with_events};
use crate::receipts::{run, Ran};
use std::path::{Path, PathBuf};

/// Three events in the demo tenant's chain: the demo company gives consent (1), the tenant
/// disconnects it through the API (2, withdrawn), another company gives consent (3).
async fn app_with_events() -> TestApp {
    with_events(spawn_app().await).await
}

/// Runs SQL on a copy's database (triggers dropped by the caller's SQL when needed).
fn tamper(dir: &Path, sql: &str) {
    connect(&dir.join("accord.db")).execute_batch(sql).unwrap();
}

async fn verify(dir: &Path, extra: &[&str]) -> Ran {
    let mut args = vec![
        "ledger",
        "verify",
        "--quiet",
        "--data-dir",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args).await
}

/// The consents in the order they were given: (consent id, connection id).
fn consents(dir: &Path) -> Vec<(String, String)> {
    let conn = connect(&dir.join("accord.db"));
    let mut s = conn
        .prepare("select id, connection_id from consents order by given_at, id")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn records_edited_behind_accords_back_are_named_with_their_event() {
    let app = app_with_events().await;
    let t = app.tenant_id.clone();
    let copy = snapshot(&app);
    let ran = verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(
        ran.stdout.contains("every record agrees with the ledger"),
        "{ran}"
    );
    assert!(
        ran.stdout.contains("no checkpoint given (--checkpoints"),
        "said plainly: {ran}"
    );
    let ids = consents(copy.path());
    let ((first, first_conn), (second, _)) = (&ids[0], &ids[1]);

    // The text of the consent in force rewritten, the withdrawn one put back in force, and
    // its connection relinked: three edits, the ledger untouched.
    tamper(
        copy.path(),
        &format!(
            "drop trigger consents_only_withdraw;
             update consents set notice_text = notice_text || ' We may sell your data.'
                 where id = '{second}';
             update consents set withdrawn_at = null where id = '{first}';
             update connections set status = 'linked' where id = '{first_conn}';"
        ),
    );
    let ran = verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    for line in [
        format!("tenant {t}: RECORD DISAGREES: consent {second} (event 3): its text does not hash to its recorded fingerprint"),
        format!("tenant {t}: RECORD DISAGREES: consent {first} (event 2): it is in force, but the ledger records it withdrawn"),
        format!("tenant {t}: RECORD DISAGREES: connection {first_conn} (event 2): its status is linked but the last consent event on it is `withdrawn`"),
    ] {
        assert!(ran.stdout.contains(&line), "{line}\nin {ran}");
    }
    assert!(ran.stdout.contains("LEDGER TAMPERED"), "{ran}");
}

#[tokio::test]
async fn a_consent_rewritten_with_its_fingerprint_or_deleted_is_named() {
    let app = app_with_events().await;
    let t = app.tenant_id.clone();

    // Text and fingerprint rewritten together: the row agrees with itself, not with its event.
    let copy = snapshot(&app);
    let ids = consents(copy.path());
    let (second, second_conn) = &ids[1];
    let forged = "Nothing is shared.";
    let forged_sha = accord_domain::crypto::sha256_hex(forged.as_bytes());
    tamper(
        copy.path(),
        &format!(
            "drop trigger consents_only_withdraw;
             update consents set notice_text = '{forged}', notice_sha256 = '{forged_sha}'
                 where id = '{second}';"
        ),
    );
    let ran = verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    let named = format!(
        "tenant {t}: RECORD DISAGREES: consent {second} (event 3): its text fingerprint {forged_sha} differs from the"
    );
    assert!(ran.stdout.contains(&named), "{named}\nin {ran}");

    // The row deleted, and its connection's: the events remain without their records.
    let copy = snapshot(&app);
    tamper(
        copy.path(),
        &format!(
            "drop trigger consents_refuse_delete;
             delete from consents where id = '{second}';
             delete from connections where id = '{second_conn}';"
        ),
    );
    let ran = verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    for line in [
        format!("consent {second} (event 3): the ledger records it, but the database holds no such consent (its row was deleted)"),
        format!("connection {second_conn} (event 3): the ledger records consent events on it, but the database holds no such connection (its row was deleted)"),
    ] {
        assert!(ran.stdout.contains(&line), "{line}\nin {ran}");
    }
}

/// Waits (bounded: 10 s) until the running sealer has signed position `seq` into the
/// checkpoint file and stored it too.
async fn wait_sealed(app: &TestApp, file: &Path, seq: i64) {
    let tenant = app.tenant();
    for _ in 0..100 {
        let in_file = accord_worker::read_checkpoint_file(file)
            .unwrap()
            .into_iter()
            .any(|c| c.checkpoint.tenant_id == tenant && c.checkpoint.seq == seq);
        let stored = app.state.store.ledger_checkpoints(tenant).await.unwrap();
        if in_file && stored.iter().any(|c| c.checkpoint.seq == seq) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("position {seq} is not signed into {}", file.display());
}

/// The sealer's checkpoint file, copied as the tenant or an auditor would keep it.
fn kept_file(app: &TestApp, dir: &Path) -> PathBuf {
    let kept = dir.join("kept-checkpoints.jsonl");
    std::fs::copy(app.data_dir.path().join("ledger-checkpoints.jsonl"), &kept).unwrap();
    kept
}

#[tokio::test]
async fn checkpoints_kept_outside_catch_truncation_and_bad_signatures() {
    let app = app_with_events().await;
    let t = app.tenant_id.clone();
    wait_sealed(
        &app,
        &app.data_dir.path().join("ledger-checkpoints.jsonl"),
        3,
    )
    .await;
    let keep = tempfile::tempdir().unwrap();
    let file = kept_file(&app, keep.path());
    let file_arg = file.to_str().unwrap();

    // Intact: the file, the public signed note saved to a file, and its URL all hold.
    let url = format!("{}/ledger/{t}/checkpoint", app.base);
    let note = app
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let notes = keep.path().join("notes.txt");
    std::fs::write(&notes, format!("{note}\n{note}")).unwrap();
    let copy = snapshot(&app);
    let ran = verify(
        copy.path(),
        &[
            "--checkpoints",
            file_arg,
            "--checkpoints",
            notes.to_str().unwrap(),
            &url,
        ],
    )
    .await;
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(
        ran.stdout
            .contains("checkpoint(s) given hold: the database still holds each signed tree"),
        "{ran}"
    );
    assert!(!ran.stdout.contains("no checkpoint given"), "{ran}");

    // The newest event removed with everything that names it: its tree leaf, its checkpoints,
    // its consent and connection. The database alone agrees with itself…
    let ids = consents(copy.path());
    let (second, second_conn) = &ids[1];
    tamper(
        copy.path(),
        &format!(
            "drop trigger ledger_events_refuse_delete; drop trigger ledger_nodes_refuse_delete;
             drop trigger ledger_checkpoints_refuse_delete; drop trigger consents_refuse_delete;
             delete from ledger_events where tenant_id = '{t}' and seq = 3;
             delete from ledger_nodes where tenant_id = '{t}' and level = 0 and idx = 2;
             delete from ledger_checkpoints where tenant_id = '{t}' and seq >= 3;
             delete from consents where id = '{second}';
             delete from connections where id = '{second_conn}';"
        ),
    );
    let ran = verify(copy.path(), &[]).await;
    assert_eq!(
        ran.code,
        Some(0),
        "undetectable from the database alone: {ran}"
    );
    // …but not with the file.
    let ran = verify(copy.path(), &["--checkpoints", file_arg]).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stdout
            .contains(&format!("tenant {t}: TRUNCATED: {file_arg} line"))
            && ran.stdout.contains(
                "seals 3 event(s) but the chain ends at position 2: events 3 to 3 were removed"
            ),
        "{ran}"
    );
    assert!(
        ran.stdout
            .contains("the database holds fewer checkpoints than given")
            && ran.stdout.contains("none at position(s) 3"),
        "{ran}"
    );

    // A checkpoint whose signature was altered is refused, not trusted.
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text.lines().last().unwrap();
    let mut entry: serde_json::Value = serde_json::from_str(line).unwrap();
    let jws = entry["jws"].as_str().unwrap().to_owned();
    let flipped = if jws.ends_with('A') { 'B' } else { 'A' };
    entry["jws"] = format!("{}{flipped}", &jws[..jws.len() - 1]).into();
    let bad = keep.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{entry}\n")).unwrap();
    let intact = snapshot(&app);
    let ran = verify(intact.path(), &["--checkpoints", bad.to_str().unwrap()]).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stdout
            .contains("line 1: the checkpoint does not verify: JWS"),
        "{ran}"
    );
}

/// The strongest rewrite: every event, node and checkpoint of the tenant deleted and the
/// ledger appended again through the store, its first consent's purpose changed. Nothing in
/// the database disagrees with anything else, and the records still match the events' facts;
/// only checkpoints kept outside show it, each of them naming the rewrite.
#[tokio::test]
async fn a_consistent_rewrite_is_caught_by_every_checkpoint_kept_outside() {
    let app = app_with_events().await;
    let t = app.tenant_id.clone();
    let tenant = app.tenant();
    wait_sealed(
        &app,
        &app.data_dir.path().join("ledger-checkpoints.jsonl"),
        3,
    )
    .await;
    let keep = tempfile::tempdir().unwrap();
    let file = kept_file(&app, keep.path());

    let originals = app.state.store.ledger_events(tenant, 0, 100).await.unwrap();
    let mut forged: Vec<accord_domain::ledger::EventBody> =
        originals.iter().map(|e| e.event.body.clone()).collect();
    forged[0].purpose = "Anything we like".to_owned();
    connect(&app.data_dir.path().join("accord.db"))
        .execute_batch(&format!(
            "drop trigger ledger_events_refuse_delete; drop trigger ledger_nodes_refuse_delete;
             drop trigger ledger_checkpoints_refuse_delete;
             delete from ledger_events where tenant_id = '{t}';
             delete from ledger_nodes where tenant_id = '{t}';
             delete from ledger_checkpoints where tenant_id = '{t}';"
        ))
        .unwrap();
    let rewritten = app.state.store.append_events(tenant, forged).await.unwrap();
    assert_ne!(rewritten[0].hash, originals[0].hash);

    let copy = snapshot(&app);
    let ran = verify(copy.path(), &[]).await;
    assert_eq!(
        ran.code,
        Some(0),
        "undetectable from the database alone: {ran}"
    );
    let ran = verify(copy.path(), &["--checkpoints", file.to_str().unwrap()]).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stdout.contains(&format!("tenant {t}: REWRITTEN: ")),
        "{ran}"
    );
    assert!(
        ran.stdout
            .contains("(position 3): the event at this position is not the one signed"),
        "{ran}"
    );
}

#[tokio::test]
async fn a_ledger_that_cannot_be_read_to_its_end_is_unverified_neither_intact_nor_tampered() {
    let app = app_with_events().await;
    let t = app.tenant_id.clone();
    let copy = snapshot(&app);
    let db = copy.path().join("accord.db");
    // The page holding the chain's first events made unreadable: its b-tree page type byte,
    // which SQLite checks before reading a cell (`database disk image is malformed`).
    let (page, size): (u64, u64) = {
        let conn = connect(&db);
        let page = conn
            .query_row(
                "select rootpage from sqlite_schema where name = 'ledger_events'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let size = conn
            .query_row("pragma page_size", [], |r| r.get(0))
            .unwrap();
        (page, size)
    };
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        file.seek(SeekFrom::Start((page - 1) * size)).unwrap();
        file.write_all(&[0xff]).unwrap();
        file.sync_all().unwrap();
    }
    let ran = verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(2), "{ran}");
    let line = ran
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("tenant {t} ")))
        .unwrap_or_default();
    assert!(
        line.contains("UNVERIFIED after event 0: the ledger could not be read further")
            && line.contains("database disk image is malformed"),
        "{ran}"
    );
    assert!(
        ran.stdout
            .contains("LEDGER NOT VERIFIED: 1 of 1 tenant(s) could not be read to the end"),
        "{ran}"
    );
    assert!(!ran.stdout.contains("intact"), "{ran}");
    assert!(!ran.stdout.contains("TAMPERED"), "{ran}");
}

#[tokio::test]
async fn a_record_id_respelled_to_hide_it_from_lookups_is_named() {
    let app = app_with_events().await;
    let t = app.tenant_id.clone();
    let copy = snapshot(&app);
    let ids = consents(copy.path());
    let (second, _) = &ids[1];
    // The same uuid in capitals: the row still parses to the consent, but no lookup by id
    // (the API's, the manage page's) finds it any more.
    tamper(
        copy.path(),
        &format!(
            "drop trigger consents_only_withdraw;
             update consents set id = upper(id) where id = '{second}';"
        ),
    );
    let ran = verify(copy.path(), &[]).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    let upper = second.to_uppercase();
    assert!(
        ran.stdout.contains(&format!(
            "tenant {t}: RECORD UNREADABLE: corrupt value in column `consents.id`: \"{upper}\" is not an id as Accord writes it (lowercase, hyphenated)"
        )),
        "{ran}"
    );
    assert!(ran.stdout.contains("LEDGER TAMPERED"), "{ran}");
}
