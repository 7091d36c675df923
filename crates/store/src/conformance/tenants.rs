//! [`TenantStore`]: tenants, their API keys and the platforms each has configured; and the
//! [`Store`]'s own liveness check.

use super::fixtures::{self, at, t0};
use crate::{Store, StoreError, TenantStore};
use accord_domain::catalog::PlatformKey;
use accord_domain::ids::{ApiKeyId, TenantId};
use accord_domain::settings::LinkSettings;
use accord_domain::tenant::{ApiKeyRecord, Tenant, TenantPlatform};

pub async fn ping_answers(store: &dyn Store) {
    store.ping().await.expect("ping");
}

pub async fn tenants_and_api_keys(store: &(impl TenantStore + ?Sized)) {
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

pub async fn tenant_platforms_are_upserted(store: &(impl TenantStore + ?Sized)) {
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
