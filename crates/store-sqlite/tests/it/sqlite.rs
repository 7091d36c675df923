//! What only the SQLite backend has: its pragmas, the triggers that keep notice versions and
//! consents immutable, the group-commit writer, and durability across a reopen.

use crate::fresh_store;
use accord_store::conformance::fixtures::{self, at, World};
use accord_store::{
    CompanyStore, ConnectionStore, ConsentStore, LedgerStore, NdaStore, NoticeStore, StoreError,
    TenantStore,
};
use accord_store_sqlite::SqliteStore;
use rusqlite::Connection;
use std::path::Path;

/// A separate raw connection to the same file, as an operator with `sqlite3` would have.
pub fn raw(dir: &Path) -> Connection {
    let conn = Connection::open(dir.join("accord.db")).expect("raw connection");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy timeout");
    conn
}

#[tokio::test]
async fn pragmas_hold_on_reader_and_writer() {
    let (store, _dir) = fresh_store().await;
    for p in store.pragmas().await.unwrap() {
        assert_eq!(p.journal_mode, "wal");
        assert_eq!(p.synchronous, 2, "FULL");
        assert!(p.foreign_keys);
        assert_eq!(p.busy_timeout_ms, 5000);
    }
}

#[tokio::test]
async fn notice_versions_refuse_update_and_delete() {
    let (store, dir) = fresh_store().await;
    let tenant = fixtures::tenant(&*store, "Lender A").await;
    let nv = fixtures::notice_version(&*store, tenant.id).await;
    let conn = raw(dir.path());
    let update = conn.execute(
        "update notice_versions set content = '{}' where id = ?1",
        [nv.id.to_string()],
    );
    assert!(update.unwrap_err().to_string().contains("immutable"));
    let delete = conn.execute("delete from notice_versions", []);
    assert!(delete.unwrap_err().to_string().contains("immutable"));
    assert_eq!(
        store.notice_version(tenant.id, nv.id).await.unwrap(),
        Some(nv)
    );
}

#[tokio::test]
async fn consents_can_only_be_withdrawn_once() {
    let (store, dir) = fresh_store().await;
    let w = World::new(&*store, "Lender A").await;
    let write = fixtures::consent_write(&w.company, &w.nv, at(0));
    store.record_consent(&write).await.unwrap();
    let id = write.consent.id.to_string();
    let conn = raw(dir.path());
    for edit in [
        "update consents set notice_text = 'something else' where id = ?1",
        "update consents set given_at = given_at + 1, withdrawn_at = 1 where id = ?1",
        "delete from consents where id = ?1",
    ] {
        let refused = conn.execute(edit, [&id]);
        assert!(refused.is_err(), "{edit} must be refused");
    }
    conn.execute("update consents set withdrawn_at = 42 where id = ?1", [&id])
        .expect("withdrawal allowed");
    let again = conn.execute("update consents set withdrawn_at = 43 where id = ?1", [&id]);
    assert!(again.is_err(), "withdrawn once");
    assert_eq!(
        store
            .consent(w.tenant.id, write.consent.id)
            .await
            .unwrap()
            .unwrap()
            .notice_text,
        write.consent.notice_text
    );
}

#[tokio::test]
async fn a_corrupt_row_is_an_error_not_a_panic() {
    let (store, dir) = fresh_store().await;
    let tenant = fixtures::tenant(&*store, "Lender A").await;
    raw(dir.path())
        .execute("update tenants set settings = '{\"pre_ticked\": true}'", [])
        .unwrap();
    assert!(matches!(
        store.tenant(tenant.id).await,
        Err(StoreError::Backend(_))
    ));
}

/// Many callers at once: each hears its own outcome, a broken request fails alone, and the
/// writer batched them (fewer commits than requests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_answers_each_caller_and_isolates_failures() {
    let (store, _dir) = fresh_store().await;
    let w = World::new(&*store, "Lender A").await;
    let taken = fixtures::consent_write(&w.company, &w.nv, at(0));
    store.record_consent(&taken).await.unwrap();
    let mut writes: Vec<_> = (0..400)
        .map(|n| fixtures::consent_write(&w.company, &w.nv, at(n)))
        .collect();
    for write in writes.iter_mut().step_by(40) {
        write.consent.id = taken.consent.id;
        write.connection.consent_id = Some(taken.consent.id);
    }
    let before = store.group_commit_stats();
    let outcomes =
        futures::future::join_all(writes.iter().map(|write| store.record_consent(write))).await;
    for (n, outcome) in outcomes.iter().enumerate() {
        if n % 40 == 0 {
            assert!(
                matches!(outcome, Err(StoreError::Conflict(_))),
                "request {n}: {outcome:?}"
            );
        } else {
            assert!(outcome.is_ok(), "request {n}: {outcome:?}");
        }
    }
    let after = store.group_commit_stats();
    assert_eq!(after.requests - before.requests, 400);
    assert!(after.batches - before.batches < 400, "batched: {after:?}");
    assert_eq!(
        store
            .company_consents(w.tenant.id, w.company.id)
            .await
            .unwrap()
            .len(),
        1 + 390
    );
}

#[tokio::test]
async fn committed_writes_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accord.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let w = World::new(&store, "Lender A").await;
    let write = fixtures::linked(&store, &w.company, &w.nv).await;
    store.close().await;
    drop(store);

    let reopened = SqliteStore::open(&path)
        .await
        .expect("reopen runs migrations again");
    reopened.migrate().await.expect("idempotent");
    assert_eq!(
        reopened.tenant_by_name("Lender A").await.unwrap(),
        Some(w.tenant.clone())
    );
    assert_eq!(
        reopened
            .consent(w.tenant.id, write.consent.id)
            .await
            .unwrap(),
        Some(write.consent)
    );
    assert_eq!(
        reopened
            .connection_tokens(w.tenant.id, write.connection.id)
            .await
            .unwrap()
            .as_deref(),
        Some("ct:tokens")
    );
}

/// The batch path carries text through JSON: any text must come back byte for byte.
#[tokio::test]
async fn consent_text_round_trips_exactly() {
    let (store, _dir) = fresh_store().await;
    let w = World::new(&*store, "Lender A").await;
    let mut write = fixtures::consent_write(&w.company, &w.nv, at(0));
    write.consent.notice_text =
        "«Données» \"quoted\" \\ back\\slash\n\ttab \u{2028} 😀 \u{0} nul \u{7f} end".into();
    write.consent.evidence.user_agent = Some("Mozilla/5.0 \"x\" \u{0}".into());
    store.record_consent(&write).await.unwrap();
    assert_eq!(
        store.consent(w.tenant.id, write.consent.id).await.unwrap(),
        Some(write.consent)
    );
}

#[tokio::test]
async fn signed_ndas_refuse_update_and_delete() {
    let (store, dir) = fresh_store().await;
    let w = World::new(&*store, "Lender A").await;
    let nda = accord_store::conformance::nda_acceptance(&w.company, 10);
    store
        .record_nda(&nda, accord_store::conformance::nda_event(&nda))
        .await
        .unwrap();
    let conn = raw(dir.path());
    for edit in [
        "update nda_acceptances set signer_name = 'Mallory'",
        "delete from nda_acceptances",
    ] {
        let err = conn.execute(edit, []).unwrap_err();
        assert!(err.to_string().contains("immutable"), "{edit}: {err}");
    }
    assert_eq!(
        store
            .nda(w.tenant.id, nda.id)
            .await
            .unwrap()
            .unwrap()
            .signer_name,
        nda.signer_name
    );
}

/// A ledger row whose columns were edited behind the store's back (triggers dropped, as an
/// operator with `sqlite3` could) no longer reads as an event: its time, kind or link.
#[tokio::test]
async fn an_edited_ledger_row_is_refused_on_read() {
    for edit in [
        "update ledger_events set at = at + 1",
        "update ledger_events set kind = 'expired'",
        "update ledger_events set prev_hash = hash",
    ] {
        let (store, dir) = fresh_store().await;
        let w = World::new(&*store, "Lender A").await;
        store
            .record_consent(&fixtures::consent_write(&w.company, &w.nv, at(0)))
            .await
            .unwrap();
        assert_eq!(
            store.ledger_events(w.tenant.id, 0, 10).await.unwrap().len(),
            1
        );
        let conn = raw(dir.path());
        conn.execute_batch("drop trigger ledger_events_refuse_update")
            .unwrap();
        conn.execute(edit, []).unwrap();
        drop(conn);
        let read = store.ledger_events(w.tenant.id, 0, 10).await;
        assert!(
            matches!(read, Err(StoreError::Backend(_))),
            "{edit}: {read:?}"
        );
    }
}

/// A notice version is never published without the re-consent its material change calls for:
/// when marking the connections fails (a trigger here), the version is not there either.
#[tokio::test]
async fn a_failed_reconsent_publishes_no_version() {
    let (store, dir) = fresh_store().await;
    let w = World::new(&*store, "Lender A").await;
    let linked = fixtures::linked(&*store, &w.company, &w.nv).await;
    raw(dir.path())
        .execute_batch(
            "create trigger refuse_reconsent before update of status on connections
             when new.status = 'reconsent_required'
             begin select raise(abort, 'test'); end",
        )
        .unwrap();
    let published = store
        .publish_notice_version(
            w.tenant.id,
            w.nv.category,
            w.nv.locale,
            &fixtures::content("A new purpose."),
            at(100),
        )
        .await;
    assert!(
        matches!(published, Err(StoreError::Backend(_))),
        "{published:?}"
    );
    assert_eq!(
        store
            .notice_versions(w.tenant.id, w.nv.notice_id)
            .await
            .unwrap(),
        std::slice::from_ref(&w.nv),
        "no new version"
    );
    let notice = store.notice(w.tenant.id, w.nv.notice_id).await.unwrap();
    assert_eq!(notice.map(|n| n.current_version), Some(1));
    let connection = store
        .connection(w.tenant.id, linked.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connection.status.as_str(), "linked");

    // An editorial change marks nothing, so the trigger never fires and the version lands.
    let mut editorial = w.nv.content.clone();
    editorial.purpose.push(' ');
    let published = store
        .publish_notice_version(w.tenant.id, w.nv.category, w.nv.locale, &editorial, at(200))
        .await
        .unwrap();
    assert_eq!(published.version.version, 2);
    assert!(published.reconsent_required.is_empty());
}

/// A broken uniqueness rule says which rule, in words a caller may be shown, never the
/// driver's text.
#[tokio::test]
async fn conflicts_name_the_rule_not_the_driver() {
    let (store, _dir) = fresh_store().await;
    let tenant = fixtures::tenant(&*store, "Lender A").await;
    let mut company = fixtures::company(&*store, tenant.id, Some("crm-1")).await;
    company.id = accord_domain::ids::CompanyId::new();
    let Err(StoreError::Conflict(message)) = store.create_company(&company).await else {
        panic!("a second company with the same external_id must conflict");
    };
    assert_eq!(message, "a company with this external_id already exists");
    let again = fixtures::tenant(&*store, "Lender B").await;
    let mut clash = again.clone();
    clash.id = accord_domain::ids::TenantId::new();
    let Err(StoreError::Conflict(message)) = store
        .create_tenant(&clash, &fixtures::api_key(clash.id))
        .await
    else {
        panic!("a second tenant of the same name must conflict");
    };
    assert_eq!(message, "a tenant with this name already exists");
}

/// After `close`, calls fail instead of hanging, and the file opens again.
#[tokio::test]
async fn calls_after_close_fail() {
    let (store, dir) = fresh_store().await;
    fixtures::tenant(&*store, "Lender A").await;
    store.close().await;
    assert!(matches!(
        store.tenant_by_name("Lender A").await,
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        store
            .add_api_key(&fixtures::api_key(accord_domain::ids::TenantId::new()))
            .await,
        Err(StoreError::Backend(_))
    ));
    let reopened = SqliteStore::open(&dir.path().join("accord.db"))
        .await
        .unwrap();
    assert!(reopened.tenant_by_name("Lender A").await.unwrap().is_some());
}
