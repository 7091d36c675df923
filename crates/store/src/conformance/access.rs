//! [`AccessLogStore`](crate::AccessLogStore): every access through a connection is kept as it
//! was recorded, all of a call or none, read back newest first a page at a time, only by the
//! connection's owner, and deleted by age for retention; many callers at once all land.

use super::fixtures::{self, at, World};
use crate::{Store, StoreError};
use accord_domain::access::{AccessKind, AccessOutcome, AccessRecord, Refusal};
use accord_domain::catalog::{DataType, Direction};
use accord_domain::ids::{AccessId, ConnectionId, TenantId};
use futures::future::join_all;

/// `n` access ids in increasing order (ids are time-ordered; sorting makes the order certain).
fn ids(n: usize) -> Vec<AccessId> {
    let mut ids: Vec<AccessId> = (0..n).map(|_| AccessId::new()).collect();
    ids.sort_unstable();
    ids
}

/// A served read of invoices through `connection` of `w`'s company at `at(seconds)`.
fn record(w: &World, connection: ConnectionId, id: AccessId, seconds: i64) -> AccessRecord {
    AccessRecord {
        id,
        tenant_id: w.tenant.id,
        company_id: w.company.id,
        connection_id: connection,
        at: at(seconds),
        kind: AccessKind::Data,
        data_type: Some(DataType::Invoices),
        direction: Some(Direction::Read),
        outcome: AccessOutcome::Served,
        platform_status: Some(200),
        records: Some(42),
        bytes: Some(9_000),
        api_key_id: Some("acc_live_k1".into()),
    }
}

async fn log(store: &dyn Store, t: TenantId, c: ConnectionId) -> Vec<AccessRecord> {
    store.access_log(t, c, None, 1000).await.unwrap()
}

pub async fn access_records_are_kept_and_paged_newest_first(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let conn = fixtures::linked(store, &w.company, &w.nv)
        .await
        .connection
        .id;
    let other = fixtures::linked(store, &w.company, &w.nv)
        .await
        .connection
        .id;
    let ids = ids(6);
    let mut records: Vec<AccessRecord> = ids
        .iter()
        .zip(0..)
        .map(|(id, n)| record(&w, conn, *id, 100 + n))
        .collect();
    // Every shape a record takes comes back as it went in.
    records[1].kind = AccessKind::Proxy;
    records[1].outcome = AccessOutcome::Refused(Refusal::NotConsented);
    records[1].direction = Some(Direction::Write);
    records[1].data_type = None;
    (
        records[1].platform_status,
        records[1].records,
        records[1].bytes,
    ) = (None, None, None);
    records[2].kind = AccessKind::Credential;
    records[2].outcome = AccessOutcome::PlatformError;
    records[2].platform_status = Some(503);
    records[2].api_key_id = None;
    records[5].connection_id = other;

    store.record_access(&[]).await.expect("nothing to write");
    store.record_access(&records[..2]).await.unwrap();
    store.record_access(&records[2..]).await.unwrap();

    let mut newest_first: Vec<AccessRecord> = records[..5].to_vec();
    newest_first.reverse();
    assert_eq!(log(store, w.tenant.id, conn).await, newest_first);
    let page = store.access_log(w.tenant.id, conn, None, 2).await.unwrap();
    assert_eq!(page, newest_first[..2]);
    let next = store
        .access_log(w.tenant.id, conn, Some(page[1].id), 2)
        .await
        .unwrap();
    assert_eq!(next, newest_first[2..4]);
    let last = store
        .access_log(w.tenant.id, conn, Some(next[1].id), 2)
        .await
        .unwrap();
    assert_eq!(last, newest_first[4..]);
    assert_eq!(log(store, w.tenant.id, other).await, [records[5].clone()]);
    assert!(log(store, w.tenant.id, ConnectionId::new())
        .await
        .is_empty());
}

pub async fn the_access_log_is_owner_scoped(store: &dyn Store) {
    let a = World::new(store, "Lender A").await;
    let b = World::new(store, "Lender B").await;
    let conn = fixtures::linked(store, &a.company, &a.nv)
        .await
        .connection
        .id;
    let ids = ids(3);
    store
        .record_access(&[record(&a, conn, ids[0], 10)])
        .await
        .unwrap();
    assert!(
        log(store, b.tenant.id, conn).await.is_empty(),
        "another tenant reads nothing of A's connection"
    );
    // B cannot write to A's log: a record naming A's connection under B is not found, and
    // nothing of its call is written, not even the records that were B's own.
    let b_conn = fixtures::linked(store, &b.company, &b.nv)
        .await
        .connection
        .id;
    let mine = record(&b, b_conn, ids[1], 20);
    let forged = record(&b, conn, ids[2], 20);
    assert!(matches!(
        store.record_access(&[mine.clone(), forged]).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        log(store, b.tenant.id, b_conn).await.is_empty(),
        "all or nothing"
    );
    assert_eq!(log(store, a.tenant.id, conn).await.len(), 1);
    store
        .record_access(std::slice::from_ref(&mine))
        .await
        .unwrap();
    assert_eq!(log(store, b.tenant.id, b_conn).await, [mine]);
}

pub async fn the_access_log_is_purged_by_age(store: &dyn Store) {
    let a = World::new(store, "Lender A").await;
    let b = World::new(store, "Lender B").await;
    let ca = fixtures::linked(store, &a.company, &a.nv)
        .await
        .connection
        .id;
    let cb = fixtures::linked(store, &b.company, &b.nv)
        .await
        .connection
        .id;
    let ids = ids(5);
    store
        .record_access(&[
            record(&a, ca, ids[0], 10),
            record(&a, ca, ids[2], 30),
            record(&a, ca, ids[4], 50),
        ])
        .await
        .unwrap();
    store
        .record_access(&[record(&b, cb, ids[1], 20), record(&b, cb, ids[3], 40)])
        .await
        .unwrap();
    assert_eq!(store.purge_access_log(at(45), 2).await.unwrap(), 2);
    let left = |records: Vec<AccessRecord>| records.iter().map(|r| r.at).collect::<Vec<_>>();
    assert_eq!(
        left(log(store, a.tenant.id, ca).await),
        [at(50), at(30)],
        "the oldest first, across tenants"
    );
    assert_eq!(left(log(store, b.tenant.id, cb).await), [at(40)]);
    assert_eq!(store.purge_access_log(at(45), 10).await.unwrap(), 2);
    assert_eq!(store.purge_access_log(at(45), 10).await.unwrap(), 0);
    assert_eq!(left(log(store, a.tenant.id, ca).await), [at(50)]);
    assert!(log(store, b.tenant.id, cb).await.is_empty());
    assert_eq!(
        store.purge_access_log(at(50), 10).await.unwrap(),
        0,
        "strictly older"
    );
}

pub async fn concurrent_access_records_all_land(store: &dyn Store) {
    const CALLERS: usize = 40;
    let w = World::new(store, "Lender A").await;
    let conn = fixtures::linked(store, &w.company, &w.nv)
        .await
        .connection
        .id;
    let ids = ids(CALLERS * 2);
    let calls: Vec<Vec<AccessRecord>> = ids
        .chunks(2)
        .zip(0..)
        .map(|(pair, n)| pair.iter().map(|id| record(&w, conn, *id, n)).collect())
        .collect();
    let outcomes = join_all(calls.iter().map(|c| store.record_access(c))).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let mut got: Vec<AccessId> = log(store, w.tenant.id, conn)
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    got.reverse();
    assert_eq!(got, ids, "every record, once, newest first");
}
