//! Data access under consent on PostgreSQL, with several Accord instances (several stores, each
//! with its own pool) on one database: the refresh lease is given to one caller across
//! instances, two links to one upstream organisation at once leave one connection, and access
//! records from many callers are grouped into shared commits, every one of them durable, a
//! refused call refused alone.

use accord_domain::access::{AccessKind, AccessOutcome, AccessRecord};
use accord_domain::catalog::{DataType, Direction};
use accord_domain::connection::ConnectionStatus;
use accord_domain::ids::{AccessId, ConnectionId};
use accord_store::conformance::fixtures::{self, at, World};
use accord_store::{AccessLogStore, LinkWrite, Store, StoreError};
use accord_store_postgres::testing::TestDatabase;
use futures::future::join_all;
use sqlx::Connection as _;
use std::sync::Arc;

/// Two stores on one fresh database, as two instances would be, or `None` when the
/// PostgreSQL tests are not enabled.
async fn two_instances() -> Option<(Arc<dyn Store>, Arc<dyn Store>, TestDatabase)> {
    let db = TestDatabase::create().await?;
    let a: Arc<dyn Store> = Arc::new(db.store().await);
    let b: Arc<dyn Store> = Arc::new(db.store().await);
    Some((a, b, db))
}

/// Twenty rounds of 16 callers on each of two instances asking for one connection's refresh
/// lease at the same instant: each round, exactly one of the 32 gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_for_a_refresh_lease_give_it_to_one() {
    let Some((a, b, _db)) = two_instances().await else {
        return;
    };
    let w = World::new(&*a, "Lender A").await;
    let linked = fixtures::linked(&*a, &w.company, &w.nv).await;
    let (t, id) = (w.tenant.id, linked.connection.id);
    for round in 0..20 {
        // Each round starts once the previous lease has expired.
        let now = 1000 + round * 100;
        let calls = (0..32).map(|n| {
            let store = if n % 2 == 0 { &a } else { &b };
            store.lease_token_refresh(t, id, at(now + 60), at(now))
        });
        let won: Vec<bool> = join_all(calls)
            .await
            .into_iter()
            .map(|r| r.expect("a refusal, never an error"))
            .collect();
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: exactly one of 32 callers on two instances"
        );
    }
}

/// Two connections of one company to one platform, linked at the same instant on two
/// instances with the same upstream organisation, for ten rounds: each round ends with one of
/// them linked and the other disconnected as replaced, never both linked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_links_to_one_upstream_at_once_leave_one_connection() {
    let Some((a, b, _db)) = two_instances().await else {
        return;
    };
    let w = World::new(&*a, "Lender A").await;
    let t = w.tenant.id;
    for round in 0..10 {
        let org = fixtures::upstream(&format!("org-{round}"));
        let writes = [0, 1].map(|_| fixtures::consent_write(&w.company, &w.nv, at(round * 10)));
        for write in &writes {
            a.record_consent(write).await.unwrap();
        }
        let links = writes
            .iter()
            .zip([&a, &b])
            .enumerate()
            .map(|(n, (write, store))| {
                let link = LinkWrite {
                    upstream: Some(org.clone()),
                    ..fixtures::link_write(&format!("ct:{round}-{n}"), None)
                };
                let id = write.connection.id;
                async move {
                    store
                        .link_connection(t, id, &link, at(round * 10 + 5))
                        .await
                }
            });
        let outs: Vec<_> = join_all(links).await;
        let replaced: usize = outs
            .iter()
            .map(|o| o.as_ref().expect("both links succeed").replaced.len())
            .sum();
        assert_eq!(
            replaced, 1,
            "round {round}: the second link replaces the first"
        );
        let mut statuses = Vec::new();
        for write in &writes {
            let linked = a.connection(t, write.connection.id).await.unwrap();
            statuses.push(linked.unwrap().status);
        }
        statuses.sort_by_key(|s| s.as_str());
        assert_eq!(
            statuses,
            [ConnectionStatus::Disconnected, ConnectionStatus::Linked],
            "round {round}"
        );
    }
    // The chain took every `withdrawn` event in turn.
    let events = a.ledger_events(t, 0, 1000).await.unwrap();
    let replaced = events
        .iter()
        .filter(|e| e.event.body.method == "replaced")
        .count();
    assert_eq!(replaced, 10);
}

fn record(w: &World, connection: ConnectionId, n: i64) -> AccessRecord {
    AccessRecord {
        id: AccessId::new(),
        tenant_id: w.tenant.id,
        company_id: w.company.id,
        connection_id: connection,
        at: at(n),
        kind: AccessKind::Data,
        data_type: Some(DataType::Invoices),
        direction: Some(Direction::Read),
        outcome: AccessOutcome::Served,
        platform_status: Some(200),
        records: Some(3),
        bytes: Some(512),
        api_key_id: Some("acc_live_k1".into()),
    }
}

/// Rows and distinct inserting transactions of the access log, read on a connection of its own
/// (an operator's `psql`), after the stores are gone.
async fn rows_and_commits(db: &TestDatabase) -> (i64, i64) {
    let mut conn = db.raw().await;
    let counted = sqlx::query_as("select count(*), count(distinct xmin::text) from access_log")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    counted
}

/// 96 calls at once on two instances, one to three records each: every call is answered after
/// its records committed, all of them are there once both stores are closed, and they took far
/// fewer commits than calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_records_from_many_callers_share_commits_and_are_all_durable() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    let w = World::new(&a, "Lender A").await;
    let id = fixtures::linked(&a, &w.company, &w.nv).await.connection.id;
    let calls: Vec<Vec<AccessRecord>> = (0..96)
        .map(|n| (0..=n % 3).map(|k| record(&w, id, n * 10 + k)).collect())
        .collect();
    let total: usize = calls.iter().map(Vec::len).sum();
    let answers = join_all(calls.iter().enumerate().map(|(n, records)| {
        let store = if n % 2 == 0 { &a } else { &b };
        store.record_access(records)
    }))
    .await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    a.close().await;
    b.close().await;
    let (rows, commits) = rows_and_commits(&db).await;
    assert_eq!(
        rows,
        i64::try_from(total).unwrap(),
        "every record answered is kept"
    );
    assert!(commits < 48, "96 calls grouped into {commits} commits");
}

/// Among 32 calls at once, one names a connection that does not exist and one another
/// tenant's: those two are refused `NotFound` with nothing of theirs written, and the 30 others
/// are kept whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_among_many_is_refused_alone() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    let w = World::new(&store, "Lender A").await;
    let other = World::new(&store, "Lender B").await;
    let id = fixtures::linked(&store, &w.company, &w.nv)
        .await
        .connection
        .id;
    let theirs = fixtures::linked(&store, &other.company, &other.nv)
        .await
        .connection
        .id;
    let calls: Vec<Vec<AccessRecord>> = (0..32)
        .map(|n| {
            let mut call = vec![record(&w, id, n * 10), record(&w, id, n * 10 + 1)];
            match n {
                7 => call[1].connection_id = ConnectionId::new(),
                19 => call[1].connection_id = theirs,
                _ => {}
            }
            call
        })
        .collect();
    let answers = join_all(calls.iter().map(|records| store.record_access(records))).await;
    for (n, answer) in answers.iter().enumerate() {
        if n == 7 || n == 19 {
            assert!(
                matches!(answer, Err(StoreError::NotFound)),
                "{n}: {answer:?}"
            );
        } else {
            assert!(answer.is_ok(), "{n}: {answer:?}");
        }
    }
    store.close().await;
    let (rows, _) = rows_and_commits(&db).await;
    assert_eq!(
        rows, 60,
        "the 30 calls accepted, whole; nothing of the two refused"
    );
}
