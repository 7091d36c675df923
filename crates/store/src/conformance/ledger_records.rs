//! The records `accord ledger verify` reads beside the ledger ([`LedgerStore::consent_records`]
//! and [`LedgerStore::connection_records`]): the same rows as the full reads, in the same id
//! order and pages, holding the same values for every column they keep.

use super::fixtures::{self, at, World};
use crate::{ConnectionRecord, ConsentRecord, Store};
use accord_domain::connection::{Connection, ConnectionStatus};
use accord_domain::consent::Consent;
use accord_domain::ids::{ConnectionId, TenantId};

fn consent_record(k: &Consent) -> ConsentRecord {
    ConsentRecord {
        id: k.id,
        company_id: k.company_id,
        connection_id: k.connection_id,
        notice_version_id: k.notice_version_id,
        data_uses: k.data_uses.clone(),
        notice_text: k.notice_text.clone(),
        notice_sha256: k.notice_sha256.clone(),
        withdrawn_at: k.withdrawn_at,
    }
}

fn connection_record(c: &Connection) -> ConnectionRecord {
    ConnectionRecord {
        id: c.id,
        consent_id: c.consent_id,
        status: c.status,
    }
}

/// The pages a whole-table read sends ([`crate::LedgerStore::send_ledger_rows`] and its
/// neighbours), received as the verifier receives them.
pub(super) async fn sent<T>(
    read: impl std::future::Future<Output = ()>,
    mut pages: tokio::sync::mpsc::Receiver<crate::Result<Vec<T>>>,
) -> Vec<Vec<T>> {
    let receive = async {
        let mut all = Vec::new();
        while let Some(page) = pages.recv().await {
            all.push(page.unwrap());
        }
        all
    };
    let ((), all) = tokio::join!(read, receive);
    all
}

/// The pages a whole-table read sends when its receiver hands each one back once it has a
/// copy ([`crate::Pages::recycled`]), starting with `old` handed back: a reader that fills
/// pages handed back overwrites `old`'s rows (more rows than a page, fewer, or other rows).
pub(super) async fn sent_recycled<T: Clone, F: std::future::Future<Output = ()>>(
    old: Vec<T>,
    read: impl FnOnce(crate::Pages<T>) -> F,
) -> Vec<Vec<T>> {
    let (to, mut pages) = tokio::sync::mpsc::channel(1);
    let spent = crate::Spent::default();
    spent.give(old);
    let read = read(crate::Pages::recycled(to, spent.clone()));
    let receive = async {
        let mut all = Vec::new();
        while let Some(page) = pages.recv().await {
            let page: Vec<T> = page.unwrap();
            all.push(page.clone());
            spent.give(page);
        }
        all
    };
    let ((), all) = tokio::join!(read, receive);
    all
}

async fn consent_pages(store: &dyn Store, tenant: TenantId, limit: u32) -> Vec<Vec<ConsentRecord>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.consent_records(tenant, after, limit).await.unwrap();
        let Some(last) = page.last() else {
            return pages;
        };
        after = Some(last.id);
        pages.push(page);
    }
}

async fn connection_pages(
    store: &dyn Store,
    tenant: TenantId,
    limit: u32,
) -> Vec<Vec<ConnectionRecord>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .connection_records(tenant, after, limit)
            .await
            .unwrap();
        let Some(last) = page.last() else {
            return pages;
        };
        after = Some(last.id);
        pages.push(page);
    }
}

/// A tenant's consents and connections, in force, withdrawn and disconnected, read as
/// verification reads them: every row of the tenant and no other's, in id order, pages of the
/// size asked for, each value the one the full read holds.
pub async fn verification_reads_hold_the_compared_columns_of_every_row(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = World::new(store, "Lender B").await;
    let mut connections = Vec::new();
    for n in 0..5 {
        let write = fixtures::consent_write(&w.company, &w.nv, at(n));
        store.record_consent(&write).await.unwrap();
        connections.push(write.connection.id);
        store
            .record_consent(&fixtures::consent_write(&other.company, &other.nv, at(n)))
            .await
            .unwrap();
    }
    // One withdrawn and disconnected, so an end time and a status other than the first show.
    let disconnected = connections[2];
    store
        .disconnect(w.tenant.id, disconnected, true, "manage_page", at(40))
        .await
        .unwrap()
        .expect("the connection exists");
    let tenant = w.tenant.id;

    let pages = consent_pages(store, tenant, 2).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    let want: Vec<ConsentRecord> = store
        .tenant_consents(tenant, None, 100)
        .await
        .unwrap()
        .iter()
        .map(consent_record)
        .collect();
    assert_eq!(pages.concat(), want);
    // The whole read sends the same pages (one page of room: the reader waits for the receiver).
    let (to, received) = tokio::sync::mpsc::channel(1);
    let whole = sent(store.send_consent_records(tenant, 2, to.into()), received).await;
    assert_eq!(
        whole, pages,
        "a whole read sends the pages a paged one reads"
    );
    // Handed back: a page of other consents, longer than a page (read in pages of 2).
    let mut old = want.clone();
    old.reverse();
    let whole = sent_recycled(old, |to| store.send_consent_records(tenant, 2, to)).await;
    assert_eq!(
        whole, pages,
        "a read into pages handed back sends what a paged one reads"
    );
    assert_eq!(
        want.iter()
            .filter(|k| k.withdrawn_at == Some(at(40)))
            .count(),
        1,
        "the withdrawn consent keeps its end"
    );

    let pages = connection_pages(store, tenant, 3).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 2]);
    let (to, received) = tokio::sync::mpsc::channel(1);
    let whole = sent(
        store.send_connection_records(tenant, 3, to.into()),
        received,
    )
    .await;
    assert_eq!(
        whole, pages,
        "a whole read sends the pages a paged one reads"
    );
    let want: Vec<ConnectionRecord> = store
        .tenant_connections(tenant, None, 100)
        .await
        .unwrap()
        .iter()
        .map(connection_record)
        .collect();
    assert_eq!(pages.concat(), want);
    let mut ids: Vec<ConnectionId> = want.iter().map(|c| c.id).collect();
    ids.sort();
    connections.sort();
    assert_eq!(ids, connections, "the tenant's connections, no other's");
    assert!(want
        .iter()
        .all(|c| (c.status == ConnectionStatus::Disconnected) == (c.id == disconnected)));

    // After the last id: nothing; a tenant without rows: nothing.
    let last = want.last().map(|c| c.id);
    assert!(store
        .connection_records(tenant, last, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .consent_records(TenantId::new(), None, 10)
        .await
        .unwrap()
        .is_empty());
    let (to, received) = tokio::sync::mpsc::channel(1);
    let none = sent(
        store.send_consent_records(TenantId::new(), 10, to.into()),
        received,
    )
    .await;
    assert!(none.is_empty(), "a tenant without rows: no page");
}
