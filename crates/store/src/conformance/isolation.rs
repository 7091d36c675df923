//! Tenant isolation, across every role: another tenant's ids answer as if they did not exist, reads and writes.

use super::fixtures::{self, at, t0, World};
use super::page;
use crate::{Store, StoreError};
use accord_domain::connection::ConnectionStatus;
use accord_domain::flow::{LinkSession, SessionKind};
use accord_domain::ids::ConnectionId;
use accord_domain::tenant::TenantPlatform;

/// B's writes naming A's connection, company or rows are refused, as if they did not exist.
async fn writes_from_b_are_refused(store: &dyn Store, a: &World, b: &World, conn: ConnectionId) {
    let tb = b.tenant.id;
    assert!(matches!(
        store
            .link_connection(tb, conn, &fixtures::link_write("ct:evil", None), at(5))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.fail_connection(tb, conn, "evil", at(5)).await,
        Err(StoreError::NotFound)
    ));
    assert!(store
        .disconnect(tb, conn, true, "test", at(5))
        .await
        .unwrap()
        .is_none());
    assert!(!store.delete_company(tb, a.company.id, at(5)).await.unwrap());
    // Writes naming A's rows from B's side are refused, as if those rows did not exist.
    let mut hijack = fixtures::consent_write(&b.company, &b.nv, at(5));
    hijack.connection.id = conn;
    hijack.consent.connection_id = conn;
    assert!(matches!(
        store.record_consent(&hijack).await,
        Err(StoreError::NotFound)
    ));
    let foreign = LinkSession {
        tenant_id: tb,
        ..fixtures::link_session(&a.company, SessionKind::Link, "b-link", at(600))
    };
    assert!(matches!(
        store.create_link_session(&foreign).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn another_tenants_ids_are_not_found(store: &dyn Store) {
    let a = World::new(store, "Lender A").await;
    let b = World::new(store, "Lender B").await;
    let (ta, tb) = (a.tenant.id, b.tenant.id);
    let write = fixtures::linked(store, &a.company, &a.nv).await;
    let conn = write.connection.id;
    let link = fixtures::link_session(&a.company, SessionKind::Link, "a-link", at(600));
    store.create_link_session(&link).await.unwrap();
    let request = fixtures::support_request(ta, Some(a.company.id), 1);
    store.create_support_request(&request, None).await.unwrap();
    assert_eq!(store.support_request(tb, request.id).await.unwrap(), None);
    assert!(store
        .funnel_counts(tb, t0(), at(7200))
        .await
        .unwrap()
        .is_empty());
    let platform = TenantPlatform {
        tenant_id: ta,
        platform_key: fixtures::sandbox(),
        enabled: true,
        client_id: None,
        client_secret_ct: None,
        updated_at: t0(),
    };
    store.upsert_tenant_platform(&platform).await.unwrap();

    assert_eq!(store.company(tb, a.company.id).await.unwrap(), None);
    assert_eq!(
        store.list_companies(tb, page(None, 10)).await.unwrap(),
        vec![b.company.clone()]
    );
    assert_eq!(
        store
            .tenant_platform(tb, &platform.platform_key)
            .await
            .unwrap(),
        None
    );
    assert!(store.tenant_platforms(tb).await.unwrap().is_empty());
    assert_eq!(store.notice(tb, a.nv.notice_id).await.unwrap(), None);
    assert!(store
        .notice_versions(tb, a.nv.notice_id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.notice_version(tb, a.nv.id).await.unwrap(), None);
    assert_eq!(store.notices(tb).await.unwrap().len(), 1, "only its own");
    assert_eq!(store.link_session(tb, link.id).await.unwrap(), None);
    assert_eq!(store.connection(tb, conn).await.unwrap(), None);
    assert!(store
        .company_connections(tb, a.company.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.connection_tokens(tb, conn).await.unwrap(), None);
    assert_eq!(store.consent(tb, write.consent.id).await.unwrap(), None);
    assert!(store
        .company_consents(tb, a.company.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.support_requests(tb, page(None, 10)).await.unwrap(),
        vec![]
    );

    writes_from_b_are_refused(store, &a, &b, conn).await;

    assert_eq!(
        store.connection(ta, conn).await.unwrap().unwrap().status,
        ConnectionStatus::Linked,
        "A untouched"
    );
    assert_eq!(
        store.connection_tokens(ta, conn).await.unwrap().as_deref(),
        Some("ct:tokens")
    );
    assert!(store.company(ta, a.company.id).await.unwrap().is_some());
    assert_eq!(
        store.company_consents(ta, a.company.id).await.unwrap(),
        vec![write.consent]
    );
}
