//! [`CompanyStore`]: a tenant's companies, unique by external id, paged by id, and deleted
//! with their connections (tokens destroyed, consents withdrawn but kept as proof).

use super::fixtures::{self, at, World};
use super::page;
use crate::{CompanyStore, Store, StoreError, TenantStore};
use accord_domain::connection::ConnectionStatus;
use accord_domain::crypto::TokenHash;
use accord_domain::flow::SessionKind;
use accord_domain::ids::CompanyId;
use accord_domain::tenant::Company;
use time::Duration;

pub async fn external_id_is_unique_per_tenant(store: &(impl TenantStore + CompanyStore + ?Sized)) {
    let a = fixtures::tenant(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let first = fixtures::company(store, a.id, Some("cust-1")).await;
    assert_eq!(
        store.company(a.id, first.id).await.unwrap(),
        Some(first.clone())
    );
    let again = Company {
        id: CompanyId::new(),
        ..first.clone()
    };
    assert!(matches!(
        store.create_company(&again).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.company(a.id, again.id).await.unwrap(), None);
    fixtures::company(store, b.id, Some("cust-1")).await;
    fixtures::company(store, a.id, None).await;
    fixtures::company(store, a.id, None).await;
}

pub async fn companies_page_by_id(store: &(impl TenantStore + CompanyStore + ?Sized)) {
    let a = fixtures::tenant(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(fixtures::company(store, a.id, None).await.id);
        fixtures::company(store, b.id, None).await;
    }
    ids.sort();
    let list = |after, limit| async move {
        store
            .list_companies(a.id, page(after, limit))
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(list(None, 2).await, ids[..2]);
    assert_eq!(list(Some(ids[1]), 2).await, ids[2..4]);
    assert_eq!(list(Some(ids[3]), 2).await, ids[4..]);
    assert!(list(Some(ids[4]), 2).await.is_empty());
    assert_eq!(list(None, 100).await, ids);
}

pub async fn delete_company_disconnects_its_connections(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let t = w.tenant.id;
    let company = fixtures::company(store, t, Some("cust-9")).await;
    let linked = fixtures::linked(store, &company, &w.nv).await;
    let pending = fixtures::consent_write(&company, &w.nv, at(1));
    store.record_consent(&pending).await.unwrap();
    store
        .create_link_session(&fixtures::link_session(
            &company,
            SessionKind::Link,
            "link",
            at(600),
        ))
        .await
        .unwrap();
    fixtures::browser(store, &company, SessionKind::Manage, "manage").await;

    assert!(store.delete_company(t, company.id, at(120)).await.unwrap());
    assert_eq!(store.company(t, company.id).await.unwrap(), None);
    assert_eq!(
        store.list_companies(t, page(None, 10)).await.unwrap(),
        vec![w.company.clone()]
    );
    assert!(
        !store.delete_company(t, company.id, at(130)).await.unwrap(),
        "already gone"
    );
    for id in [linked.connection.id, pending.connection.id] {
        assert_eq!(
            store.connection(t, id).await.unwrap().unwrap().status,
            ConnectionStatus::Disconnected
        );
        assert_eq!(store.connection_tokens(t, id).await.unwrap(), None);
    }
    let consents = store.company_consents(t, company.id).await.unwrap();
    assert_eq!(consents.len(), 2, "consents are kept as proof");
    assert!(consents.iter().all(|c| c.withdrawn_at == Some(at(120))));
    assert_eq!(
        store
            .claim_jobs(at(200), 10, Duration::minutes(1))
            .await
            .unwrap()
            .len(),
        1,
        "one job: only one held tokens"
    );
    let browser = fixtures::unbound_browser(SessionKind::Link, "late", at(900));
    assert_eq!(
        store
            .consume_link_session(&TokenHash::of("link"), at(130), &browser)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .browser_session(&TokenHash::of("manage"), SessionKind::Manage, at(130))
            .await
            .unwrap(),
        None
    );
    // A deleted company frees its external id.
    fixtures::company(store, t, Some("cust-9")).await;
}
