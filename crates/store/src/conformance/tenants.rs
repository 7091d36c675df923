//! Tenants and what they own directly: API keys, link settings, companies, configured
//! platforms, support requests.

use super::fixtures::{self, at, t0, World};
use super::page;
use crate::{Store, StoreError};
use accord_domain::catalog::PlatformKey;
use accord_domain::ids::{ApiKeyId, CompanyId, TenantId};
use accord_domain::settings::LinkSettings;
use accord_domain::tenant::{ApiKeyRecord, Company, Tenant, TenantPlatform};

pub async fn ping_answers(store: &dyn Store) {
    store.ping().await.expect("ping");
}

pub async fn tenants_and_api_keys(store: &dyn Store) {
    let tenant = Tenant {
        id: TenantId::new(),
        name: "Lender A".into(),
        settings: LinkSettings::default(),
        created_at: t0(),
    };
    let key = fixtures::api_key(tenant.id);
    store
        .create_tenant(&tenant, &key)
        .await
        .expect("create tenant");
    assert_eq!(store.tenant(tenant.id).await.unwrap(), Some(tenant.clone()));
    assert_eq!(
        store.tenant_by_name("Lender A").await.unwrap(),
        Some(tenant.clone())
    );
    assert_eq!(store.tenant_by_name("Lender B").await.unwrap(), None);
    assert_eq!(store.tenant(TenantId::new()).await.unwrap(), None);
    assert_eq!(store.api_key(&key.key_id).await.unwrap(), Some(key.clone()));
    assert_eq!(store.api_key("k-unknown").await.unwrap(), None);

    let second = ApiKeyRecord {
        revoked_at: Some(at(5)),
        ..fixtures::api_key(tenant.id)
    };
    store.add_api_key(&second).await.expect("add key");
    assert_eq!(
        store.api_key(&second.key_id).await.unwrap(),
        Some(second.clone())
    );
    let clash = ApiKeyRecord {
        id: ApiKeyId::new(),
        ..second
    };
    assert!(
        matches!(
            store.add_api_key(&clash).await,
            Err(StoreError::Conflict(_))
        ),
        "key ids are unique"
    );
    let twin = Tenant {
        id: TenantId::new(),
        ..tenant
    };
    assert!(
        matches!(
            store
                .create_tenant(&twin, &fixtures::api_key(twin.id))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "names are unique"
    );
}

pub async fn link_settings_are_replaced(store: &dyn Store) {
    let tenant = fixtures::tenant(store, "Lender A").await;
    let mut settings = LinkSettings {
        legal_name: Some("Lender A SAS".into()),
        landing_enabled: false,
        ..LinkSettings::default()
    };
    settings.support.email = Some("help@lender.example".into());
    settings.integration.embedding_origins = vec!["https://lender.example".into()];
    settings.integration.return_urls = vec!["https://lender.example/done?x=1".into()];
    store
        .update_link_settings(tenant.id, &settings)
        .await
        .expect("update settings");
    assert_eq!(
        store.tenant(tenant.id).await.unwrap().unwrap().settings,
        settings
    );
    assert!(matches!(
        store.update_link_settings(TenantId::new(), &settings).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn external_id_is_unique_per_tenant(store: &dyn Store) {
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

pub async fn companies_page_by_id(store: &dyn Store) {
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

pub async fn tenant_platforms_are_upserted(store: &dyn Store) {
    let a = fixtures::tenant(store, "Lender A").await;
    let p = TenantPlatform {
        tenant_id: a.id,
        platform_key: fixtures::sandbox(),
        enabled: true,
        client_id: Some("client-1".into()),
        client_secret_ct: Some("ct:secret".into()),
        updated_at: t0(),
    };
    store.upsert_tenant_platform(&p).await.expect("insert");
    assert_eq!(
        store.tenant_platform(a.id, &p.platform_key).await.unwrap(),
        Some(p.clone())
    );
    let p2 = TenantPlatform {
        enabled: false,
        client_id: None,
        client_secret_ct: None,
        updated_at: at(10),
        ..p.clone()
    };
    store.upsert_tenant_platform(&p2).await.expect("update");
    let xero = TenantPlatform {
        platform_key: PlatformKey::parse("xero").unwrap(),
        ..p
    };
    store
        .upsert_tenant_platform(&xero)
        .await
        .expect("insert another");
    assert_eq!(
        store.tenant_platforms(a.id).await.unwrap(),
        vec![p2, xero],
        "ordered by platform key"
    );
}

pub async fn support_requests_are_listed_per_tenant(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let mut mine = Vec::new();
    for n in 0..3 {
        let r = fixtures::support_request(w.tenant.id, (n == 0).then_some(w.company.id), n);
        store
            .create_support_request(&r, None)
            .await
            .expect("create");
        mine.push(r);
        store
            .create_support_request(&fixtures::support_request(b.id, None, n), None)
            .await
            .expect("same reference, other tenant");
    }
    mine.sort_by_key(|r| r.id);
    assert_eq!(
        store
            .support_requests(w.tenant.id, page(None, 2))
            .await
            .unwrap(),
        mine[..2]
    );
    assert_eq!(
        store
            .support_requests(w.tenant.id, page(Some(mine[1].id), 2))
            .await
            .unwrap(),
        mine[2..]
    );
    assert_eq!(
        store
            .support_requests(b.id, page(None, 10))
            .await
            .unwrap()
            .len(),
        3
    );
}

pub async fn a_support_request_and_its_email_job_commit_together(store: &dyn Store) {
    use accord_domain::ids::JobId;
    use accord_domain::tenant::JobKind;
    let w = World::new(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let r = fixtures::support_request(w.tenant.id, Some(w.company.id), 1);
    let job = JobId::new();
    store
        .create_support_request(&r, Some(job))
        .await
        .expect("create with its e-mail job");
    assert_eq!(
        store.support_request(w.tenant.id, r.id).await.unwrap(),
        Some(r.clone())
    );
    assert_eq!(store.support_request(b.id, r.id).await.unwrap(), None);
    let stored = store.job(job).await.unwrap().expect("the job is queued");
    assert_eq!(
        (
            stored.tenant_id,
            stored.kind,
            stored.attempts,
            stored.run_at,
            stored.done_at
        ),
        (
            w.tenant.id,
            JobKind::SendSupportEmail,
            0,
            r.created_at,
            None
        )
    );
    assert_eq!(
        stored.payload,
        serde_json::json!({"support_request_id": r.id.to_string()})
    );
    // The same reference again breaks a uniqueness rule: neither the request nor its job lands.
    let again = accord_domain::tenant::SupportRequest {
        id: accord_domain::ids::SupportRequestId::new(),
        ..r.clone()
    };
    let job2 = JobId::new();
    assert!(matches!(
        store.create_support_request(&again, Some(job2)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.job(job2).await.unwrap(),
        None,
        "no job without its request"
    );
    assert_eq!(
        store.support_request(w.tenant.id, again.id).await.unwrap(),
        None
    );
}
