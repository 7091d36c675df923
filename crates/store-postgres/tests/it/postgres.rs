//! What only the PostgreSQL backend has: the start-up durability check, the triggers that keep
//! notice versions and consents immutable, native types, the group-commit writers, and two
//! stores (two Accord instances) on one database.

use crate::fresh_store;
use accord_domain::flow::SessionKind;
use accord_domain::ids::BrowserSessionId;
use accord_store::conformance::fixtures::{self, at, World};
use accord_store::{
    CompanyStore, ConnectionStore, ConsentStore, LedgerStore, NdaStore, NoticeStore, Store,
    StoreError, TenantStore, WebhookStore,
};
use accord_store_postgres::testing::{test_options, TestDatabase};
use accord_store_postgres::{PgOptions, PgStore};
use sqlx::Connection as _;
use std::collections::BTreeSet;
use std::sync::Arc;
use time::Duration;

/// Sets a durability setting for every new session of the test database (as an operator's
/// `alter database … set` would) — only `synchronous_commit` can be changed per database.
async fn set_for_database(db: &TestDatabase, setting: &str, value: &str) {
    let mut conn = db.raw().await;
    sqlx::query(&format!(
        "alter database \"{}\" set {setting} = '{value}'",
        db.name()
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn durable_settings_are_checked_and_reported() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    let d = store.durability();
    assert_eq!(d.fsync.as_deref(), Some("on"));
    assert!(d.unsafe_settings().is_empty(), "{d:?}");
}

#[tokio::test]
async fn synchronous_commit_off_is_refused_unless_allowed() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    set_for_database(&db, "synchronous_commit", "off").await;
    let refused = PgStore::connect(db.url(), test_options())
        .await
        .unwrap_err();
    let message = refused.to_string();
    assert!(message.contains("synchronous_commit = off"), "{message}");
    assert!(
        message.contains("database.allow_unsafe_durability"),
        "{message}"
    );
    assert!(!message.contains(db.url()), "the URL is not in the error");

    let allowed = PgStore::connect(
        db.url(),
        PgOptions {
            allow_unsafe_durability: true,
            ..test_options()
        },
    )
    .await
    .expect("explicitly allowed");
    assert_eq!(
        allowed.durability().unsafe_settings(),
        ["synchronous_commit = off"]
    );
}

#[tokio::test]
async fn a_malformed_url_is_an_error_that_does_not_quote_it() {
    let err = PgStore::connect("postgres://user:s3cret@[::1", test_options())
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[tokio::test]
async fn notice_versions_refuse_update_delete_and_truncate() {
    let Some((store, db)) = fresh_store().await else {
        return;
    };
    let tenant = fixtures::tenant(&*store, "Lender A").await;
    let nv = fixtures::notice_version(&*store, tenant.id).await;
    let mut conn = db.raw().await;
    for edit in [
        "update notice_versions set content = '{}'",
        "delete from notice_versions",
        "truncate notice_versions cascade",
    ] {
        let err = sqlx::query(edit).execute(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains("immutable"), "{edit}: {err}");
    }
    assert_eq!(
        store.notice_version(tenant.id, nv.id).await.unwrap(),
        Some(nv)
    );
}

#[tokio::test]
async fn consents_can_only_be_withdrawn_once() {
    let Some((store, db)) = fresh_store().await else {
        return;
    };
    let w = World::new(&*store, "Lender A").await;
    let write = fixtures::consent_write(&w.company, &w.nv, at(0));
    store.record_consent(&write).await.unwrap();
    let id = write.consent.id.as_uuid();
    let mut conn = db.raw().await;
    for edit in [
        "update consents set notice_text = 'something else' where id = $1",
        "update consents set given_at = given_at + interval '1 second', withdrawn_at = now() where id = $1",
        "update consents set evidence = '{}' , withdrawn_at = now() where id = $1",
        "delete from consents where id = $1",
    ] {
        let refused = sqlx::query(edit).bind(id).execute(&mut conn).await;
        assert!(refused.is_err(), "{edit} must be refused");
    }
    assert!(sqlx::query("truncate consents")
        .execute(&mut conn)
        .await
        .is_err());
    sqlx::query("update consents set withdrawn_at = now() where id = $1")
        .bind(id)
        .execute(&mut conn)
        .await
        .expect("withdrawal allowed");
    let again = sqlx::query("update consents set withdrawn_at = now() where id = $1")
        .bind(id)
        .execute(&mut conn)
        .await;
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

/// The consent write's references are checked once per statement (migration 0017), with the
/// foreign keys' refusals: a missing parent refuses the statement with SQLSTATE 23503 and the
/// constraint's name, references never change, and parents are never deleted.
#[tokio::test]
async fn references_are_checked_per_statement_and_parents_stay() {
    let Some((store, db)) = fresh_store().await else {
        return;
    };
    let w = World::new(&*store, "Lender A").await;
    let other = World::new(&*store, "Lender B").await;
    let write = fixtures::consent_write(&w.company, &w.nv, at(0));
    store.record_consent(&write).await.unwrap();
    let events = store.ledger_events(w.tenant.id, 0, 10).await.unwrap().len();
    // Its webhook events (`connection.created`, `consent.given`) become `webhook_events` rows
    // when fanned out (migration 0019), for the straight SQL below.
    assert_eq!(store.fan_out_webhook_events(at(0), 100).await.unwrap(), 2);

    // Through the store: another tenant's company is not found, and nothing is written.
    let mut theirs = fixtures::consent_write(&w.company, &w.nv, at(1));
    theirs.connection.company_id = other.company.id;
    theirs.consent.company_id = other.company.id;
    assert!(matches!(
        store.record_consent(&theirs).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .connection(w.tenant.id, theirs.connection.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.ledger_events(w.tenant.id, 0, 10).await.unwrap().len(),
        events
    );

    // Straight SQL: each reference, with the name of the constraint it replaced (or, for the
    // OAuth flow's browser session, the foreign key that still holds it).
    let session = fixtures::browser(&*store, &w.company, SessionKind::Link, "cookie").await;
    let mut conn = db.raw().await;
    let missing = missing_references(&w, session.id);
    for (insert, constraint) in &missing {
        let err = sqlx::query(insert).execute(&mut conn).await.unwrap_err();
        let e = err
            .as_database_error()
            .unwrap_or_else(|| panic!("{insert}: {err}"));
        assert_eq!(e.code().as_deref(), Some("23503"), "{insert}: {err}");
        assert_eq!(e.constraint(), Some(*constraint), "{insert}");
    }
    // A copy with every reference intact is accepted: the checks refuse only what is missing.
    sqlx::query(&consent_copy("nothing"))
        .execute(&mut conn)
        .await
        .unwrap();

    for edit in [
        "update connections set company_id = gen_random_uuid()",
        "update connections set tenant_id = gen_random_uuid()",
        "update webhook_events set tenant_id = gen_random_uuid()",
        "update companies set tenant_id = gen_random_uuid()",
        "update tenants set id = gen_random_uuid()",
        "delete from connections",
        "delete from companies",
        "delete from tenants",
        "truncate connections cascade",
        "truncate companies cascade",
        "truncate tenants cascade",
    ] {
        let refused = sqlx::query(edit).execute(&mut conn).await;
        assert!(refused.is_err(), "{edit} must be refused");
    }
    // Ordinary updates of those rows still go through.
    sqlx::query("update connections set last_error = 'x'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        store
            .connection(w.tenant.id, write.connection.id)
            .await
            .unwrap()
            .unwrap()
            .company_id,
        w.company.id
    );
}

/// An insert of a copy of the one consent with `column` pointing nowhere (`nothing`: a copy
/// with every reference intact).
fn consent_copy(column: &str) -> String {
    let cols = "id, tenant_id, company_id, connection_id, platform_key, category, \
                notice_version_id, notice_version, locale, data_uses, notice_text, \
                notice_sha256, evidence, given_at";
    let values = cols
        .replace(column, "gen_random_uuid()")
        .replacen("id,", "gen_random_uuid(),", 1);
    format!("insert into consents ({cols}) select {values} from consents limit 1")
}

/// Inserts that each name one missing parent, with the name of the constraint that refuses
/// them (the one it replaced or, for the OAuth flow's browser session, the foreign key that
/// still holds it).
fn missing_references(w: &World, session: BrowserSessionId) -> Vec<(String, &'static str)> {
    vec![
        (
            consent_copy("connection_id"),
            "consents_tenant_id_connection_id_fkey",
        ),
        (consent_copy("company_id"), "consents_tenant_id_company_id_fkey"),
        (
            consent_copy("notice_version_id"),
            "consents_tenant_id_notice_version_id_fkey",
        ),
        (
            "insert into connections (id, tenant_id, company_id, platform_key, status, data_uses, created_at, updated_at)
             select gen_random_uuid(), tenant_id, gen_random_uuid(), platform_key, status, data_uses, created_at, updated_at
             from connections limit 1".to_owned(),
            "connections_tenant_id_company_id_fkey",
        ),
        (
            "insert into oauth_flows (state_hash, tenant_id, browser_session_id, connection_id, platform_key,
                 pkce_verifier_ct, redirect_uri, created_at, expires_at)
             select 'h1', tenant_id, gen_random_uuid(), id, platform_key, 'ct', 'https://a.example/cb', now(), now()
             from connections limit 1".to_owned(),
            "oauth_flows_tenant_id_browser_session_id_fkey",
        ),
        (
            "insert into oauth_flows (state_hash, tenant_id, browser_session_id, connection_id, platform_key,
                 pkce_verifier_ct, redirect_uri, created_at, expires_at)
             values ('h2', '{}', '{}', gen_random_uuid(), 'sandbox', 'ct', 'https://a.example/cb', now(), now())"
                .replacen("{}", &w.tenant.id.to_string(), 1)
                .replacen("{}", &session.to_string(), 1),
            "oauth_flows_tenant_id_connection_id_fkey",
        ),
        (
            "insert into ledger_events (tenant_id, seq, kind, consent_id, event, hash, prev_hash, at)
             values (gen_random_uuid(), 1, 'given', gen_random_uuid(), '{}', 'h', 'p', now())".to_owned(),
            "ledger_events_tenant_id_fkey",
        ),
        (
            "insert into webhook_events (id, tenant_id, event_type, body, created_at)
             values (gen_random_uuid(), gen_random_uuid(), 'consent.given', '{}', now())".to_owned(),
            "webhook_events_tenant_id_fkey",
        ),
    ]
}

/// A broken uniqueness rule is a `Conflict` with a fixed sentence naming the rule: the driver's
/// text (which quotes the values and the schema) never reaches it, since a `Conflict` may be
/// shown to an API caller.
#[tokio::test]
async fn a_conflict_names_the_rule_not_the_driver_text() {
    let Some((store, _db)) = fresh_store().await else {
        return;
    };
    let w = World::new(&*store, "Lender A").await;
    let first = fixtures::company(&*store, w.tenant.id, Some("crm-42")).await;
    let again = accord_domain::tenant::Company {
        id: accord_domain::ids::CompanyId::new(),
        ..first.clone()
    };
    let Err(StoreError::Conflict(message)) = store.create_company(&again).await else {
        panic!("a second company with the same external_id must conflict");
    };
    assert_eq!(
        message,
        "this tenant already has a company with this external_id"
    );
    let Err(StoreError::Conflict(message)) = store.create_company(&first).await else {
        panic!("a second company with the same id must conflict");
    };
    assert!(!message.contains("duplicate key"), "{message}");
    assert!(!message.contains("crm-42"), "{message}");
}

#[tokio::test]
async fn the_schema_uses_native_types() {
    let Some((_store, db)) = fresh_store().await else {
        return;
    };
    let mut conn = db.raw().await;
    let types: Vec<(String, String)> = sqlx::query_as(
        "select column_name::text, data_type::text from information_schema.columns
         where table_name = 'consents' and column_name in ('id', 'given_at', 'evidence')
         order by column_name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        types,
        [
            ("evidence".into(), "jsonb".into()),
            ("given_at".into(), "timestamp with time zone".into()),
            ("id".into(), "uuid".into()),
        ]
    );
}

#[tokio::test]
async fn times_keep_microseconds() {
    let Some((store, _db)) = fresh_store().await else {
        return;
    };
    let w = World::new(&*store, "Lender A").await;
    let mut write = fixtures::consent_write(&w.company, &w.nv, at(0));
    write.consent.given_at = at(0) + Duration::nanoseconds(123_456_789);
    store.record_consent(&write).await.unwrap();
    let back = store
        .consent(w.tenant.id, write.consent.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.given_at, at(0) + Duration::microseconds(123_456));
}

#[tokio::test]
async fn a_corrupt_row_is_an_error_not_a_panic() {
    let Some((store, db)) = fresh_store().await else {
        return;
    };
    let tenant = fixtures::tenant(&*store, "Lender A").await;
    let mut conn = db.raw().await;
    sqlx::query("update tenants set settings = '{\"pre_ticked\": true}'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(matches!(
        store.tenant(tenant.id).await,
        Err(StoreError::Backend(_))
    ));
}

/// Many callers at once: each hears its own outcome, a broken request fails alone, and the
/// writers batched them (fewer commits than requests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_answers_each_caller_and_isolates_failures() {
    let Some((store, _db)) = fresh_store().await else {
        return;
    };
    let w = World::new(&*store, "Lender A").await;
    let other = World::new(&*store, "Lender B").await;
    let taken = fixtures::consent_write(&w.company, &w.nv, at(0));
    store.record_consent(&taken).await.unwrap();
    let theirs = fixtures::consent_write(&other.company, &other.nv, at(0));
    store.record_consent(&theirs).await.unwrap();
    let mut writes: Vec<_> = (0..400)
        .map(|n| fixtures::consent_write(&w.company, &w.nv, at(n)))
        .collect();
    // One write names another tenant's connection: refused alone inside a whole batch.
    writes[10].connection.id = theirs.connection.id;
    writes[10].consent.connection_id = theirs.connection.id;
    for (n, write) in writes.iter_mut().enumerate() {
        match n % 40 {
            // a consent id already used: Conflict
            0 => {
                write.consent.id = taken.consent.id;
                write.connection.consent_id = Some(taken.consent.id);
            }
            // another tenant's notice version: the foreign key says NotFound
            20 => write.consent.notice_version_id = other.nv.id,
            _ => {}
        }
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
        } else if n == 10 || n % 40 == 20 {
            assert!(
                matches!(outcome, Err(StoreError::NotFound)),
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
        1 + 379
    );
    assert_eq!(
        store
            .connection(other.tenant.id, theirs.connection.id)
            .await
            .unwrap(),
        Some(theirs.connection),
        "the other tenant's connection is untouched"
    );
}

/// Two consents for one connection in the same batch: both land, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_twice_in_a_batch() {
    let Some((store, _db)) = fresh_store().await else {
        return;
    };
    let w = World::new(&*store, "Lender A").await;
    let first = fixtures::consent_write(&w.company, &w.nv, at(0));
    let second = fixtures::reconsent(&first, at(1));
    let others: Vec<_> = (0..50)
        .map(|n| fixtures::consent_write(&w.company, &w.nv, at(n)))
        .collect();
    let all: Vec<_> = std::iter::once(&first)
        .chain(others.iter())
        .chain(std::iter::once(&second))
        .collect();
    let outcomes = futures::future::join_all(all.iter().map(|w| store.record_consent(w))).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let consents = store
        .company_consents(w.tenant.id, w.company.id)
        .await
        .unwrap();
    assert_eq!(consents.len(), 52);
    let connection = store
        .connection(w.tenant.id, first.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        connection.consent_id == Some(first.consent.id)
            || connection.consent_id == Some(second.consent.id)
    );
}

/// Two stores on one database are two Accord instances: what one writes, the other reads; what
/// one consumes, the other cannot; their claims never overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_database_share_one_truth() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let a: Arc<dyn Store> = Arc::new(db.store().await);
    let b: Arc<dyn Store> = Arc::new(db.store().await);
    let w = World::new(&*a, "Lender A").await;
    assert_eq!(b.tenant(w.tenant.id).await.unwrap(), Some(w.tenant.clone()));

    // Link sessions: 16 opens split over both instances, one wins.
    let link = fixtures::link_session(
        &w.company,
        accord_domain::flow::SessionKind::Link,
        "t",
        at(600),
    );
    a.create_link_session(&link).await.unwrap();
    let hash = accord_domain::crypto::TokenHash::of("t");
    let browsers: Vec<_> = (0..16)
        .map(|n| {
            fixtures::unbound_browser(
                accord_domain::flow::SessionKind::Link,
                &format!("c{n}"),
                at(900),
            )
        })
        .collect();
    let opens = futures::future::join_all(browsers.iter().enumerate().map(|(n, browser)| {
        let store = if n % 2 == 0 { &a } else { &b };
        let hash = &hash;
        async move {
            store
                .consume_link_session(hash, at(1), browser)
                .await
                .unwrap()
        }
    }))
    .await;
    assert_eq!(opens.iter().filter(|o| o.is_some()).count(), 1);

    // Jobs: 40 revocations, drained by both instances at once, each claimed once.
    for _ in 0..40 {
        let write = fixtures::linked(&*a, &w.company, &w.nv).await;
        b.disconnect(w.tenant.id, write.connection.id, true, "test", at(2))
            .await
            .unwrap();
    }
    let drain = |store: Arc<dyn Store>| async move {
        let mut mine = Vec::new();
        loop {
            let jobs = store
                .claim_jobs(at(10), 2, Duration::minutes(5))
                .await
                .unwrap();
            if jobs.is_empty() {
                return mine;
            }
            mine.extend(jobs.into_iter().map(|j| (j.id, j.attempts)));
        }
    };
    let workers: Vec<_> = [&a, &b, &a, &b]
        .into_iter()
        .map(|store| tokio::spawn(drain(Arc::clone(store))))
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let ids: BTreeSet<_> = all.iter().map(|(id, _)| *id).collect();
    assert_eq!((all.len(), ids.len()), (40, 40), "each job claimed once");
    assert!(all.iter().all(|(_, attempts)| *attempts == 1));
    assert_eq!(db.job_ids().await.len(), 40);
}

/// Two instances appending to one tenant's ledger at once — consents through each one's group
/// commit, disconnects, and direct appends — leave one unforked chain without gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_append_to_one_unforked_chain() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let a: Arc<dyn Store> = Arc::new(db.store().await);
    let b: Arc<dyn Store> = Arc::new(db.store().await);
    let w = World::new(&*a, "Lender A").await;
    let writes: Vec<_> = (0..120)
        .map(|n| fixtures::consent_write(&w.company, &w.nv, at(n)))
        .collect();
    let consents = futures::future::join_all(writes.iter().enumerate().map(|(n, write)| {
        let store = if n % 2 == 0 { &a } else { &b };
        store.record_consent(write)
    }));
    let disconnects =
        futures::future::join_all(writes[..20].iter().enumerate().map(|(n, write)| {
            let store = if n % 2 == 0 { &b } else { &a };
            store.disconnect(w.tenant.id, write.connection.id, false, "test", at(500))
        }));
    let appends = futures::future::join_all((0..10).map(|n| {
        let store = if n % 2 == 0 { &a } else { &b };
        let mut body = writes[0].event.clone();
        body.kind = accord_domain::ledger::EventKind::NdaAccepted;
        store.append_events(w.tenant.id, vec![body])
    }));
    let (consents, disconnects, appends) = tokio::join!(consents, disconnects, appends);
    assert!(consents.iter().all(Result::is_ok), "{consents:?}");
    assert!(appends.iter().all(Result::is_ok), "{appends:?}");
    // A disconnect may run before its connection exists (`None`): it races the consent.
    assert!(disconnects.iter().all(Result::is_ok), "{disconnects:?}");

    let events = a.ledger_events(w.tenant.id, 0, 10_000).await.unwrap();
    let mut verifier = accord_domain::ledger::ChainVerifier::default();
    for e in &events {
        verifier
            .push(e)
            .unwrap_or_else(|broken| panic!("chain broken: {broken}"));
    }
    // 120 given, 10 appended, and one withdrawn event per disconnect that found a consent in
    // force (a disconnect may run before its connection's consent was written).
    let given = events
        .iter()
        .filter(|e| e.event.body.kind == accord_domain::ledger::EventKind::Given)
        .count();
    assert_eq!(given, 120);
    assert!(
        events.len() >= 130 && events.len() <= 150,
        "{}",
        events.len()
    );
    assert_eq!(
        b.ledger_events(w.tenant.id, 0, 10_000).await.unwrap(),
        events
    );
}

#[tokio::test]
async fn ledger_events_refuse_update_delete_and_truncate() {
    let Some((store, db)) = fresh_store().await else {
        return;
    };
    let w = World::new(&*store, "Lender A").await;
    fixtures::linked(&*store, &w.company, &w.nv).await;
    let mut conn = db.raw().await;
    for edit in [
        "update ledger_events set kind = 'withdrawn'",
        "delete from ledger_events",
        "truncate ledger_events",
    ] {
        let err = sqlx::query(edit).execute(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{edit}: {err}");
    }
}

#[tokio::test]
async fn signed_ndas_refuse_update_delete_and_truncate() {
    let Some((store, db)) = fresh_store().await else {
        return;
    };
    let w = World::new(&*store, "Lender A").await;
    let nda = accord_store::conformance::nda_acceptance(&w.company, 10);
    store
        .record_nda(&nda, accord_store::conformance::nda_event(&nda))
        .await
        .unwrap();
    let mut conn = db.raw().await;
    for edit in [
        "update nda_acceptances set signer_name = 'Mallory'",
        "delete from nda_acceptances",
        "truncate nda_acceptances",
    ] {
        let err = sqlx::query(edit).execute(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains("immutable"), "{edit}: {err}");
    }
}

#[tokio::test]
async fn migrate_is_idempotent_and_reports_versions() {
    let Some((store, _db)) = fresh_store().await else {
        return;
    };
    // Every file of `migrations/`, by its number (so adding one does not edit this test).
    let mut expected: Vec<i64> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.split('_').next().unwrap().parse().ok()
            })
            .collect();
    expected.sort_unstable();
    assert!(expected.starts_with(&[1, 2, 3, 4]), "{expected:?}");
    assert_eq!(store.migrate().await.unwrap(), expected);
    assert_eq!(store.migrate().await.unwrap(), expected);
}
