//! [`TenantStore`]: tenants, their API keys and the platforms each has configured; and the
//! [`Store`]'s own liveness check.

use super::fixtures::{self, at, t0};
use crate::{SecretKind, Store, StoreError, TenantStore};
use accord_domain::catalog::PlatformKey;
use accord_domain::crypto::WrappedDataKey;
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

fn data_key(tenant: TenantId, key_id: &str, seconds: i64) -> WrappedDataKey {
    WrappedDataKey {
        tenant_id: tenant,
        key_id: key_id.into(),
        wrapped: format!("v1.k1.wrapped-{key_id}"),
        created_at: at(seconds),
    }
}

/// A tenant's first data key is made once (a second caller's key is refused), rewrapped only
/// from the wrapped form the caller read, and deleted with the tenant, whose instance-sealed
/// secrets go with it while its data-key ciphertexts stay; another tenant keeps everything.
pub async fn tenant_data_keys_and_deletion(store: &dyn Store) {
    let tenant = fixtures::tenant(store, "Deleted").await;
    let other = fixtures::tenant(store, "Kept").await;
    assert!(store.tenant_data_keys(tenant.id).await.unwrap().is_empty());
    let first = data_key(tenant.id, "da", 1);
    assert!(store.add_tenant_data_key(&first).await.unwrap());
    assert!(
        !store
            .add_tenant_data_key(&data_key(tenant.id, "db", 2))
            .await
            .unwrap(),
        "one key in use per tenant"
    );
    assert!(!store
        .add_tenant_data_key(&data_key(TenantId::new(), "dc", 2))
        .await
        .unwrap());
    assert!(store
        .add_tenant_data_key(&data_key(other.id, "dk", 3))
        .await
        .unwrap());
    assert_eq!(
        store.tenant_data_keys(tenant.id).await.unwrap(),
        std::slice::from_ref(&first)
    );
    assert!(!store
        .rewrap_tenant_data_key(tenant.id, "da", "v1.k1.stale", "v1.k2.new")
        .await
        .unwrap());
    assert!(store
        .rewrap_tenant_data_key(tenant.id, "da", &first.wrapped, "v1.k2.new")
        .await
        .unwrap());
    assert_eq!(
        store.tenant_data_keys(tenant.id).await.unwrap()[0].wrapped,
        "v1.k2.new"
    );

    let company = fixtures::company(store, tenant.id, None).await;
    let nv = fixtures::notice_version(store, tenant.id).await;
    let w = fixtures::linked(store, &company, &nv).await;
    for (key, ct) in [("sandbox", "v2.da.kept"), ("other", "v1.k1.lost")] {
        store
            .upsert_tenant_platform(&TenantPlatform {
                tenant_id: tenant.id,
                platform_key: PlatformKey::parse(key).unwrap(),
                enabled: true,
                client_id: Some("id".into()),
                client_secret_ct: Some(ct.into()),
                updated_at: t0(),
            })
            .await
            .unwrap();
    }
    let key = store.api_keys(tenant.id).await.unwrap().remove(0);

    assert!(store.delete_tenant(tenant.id, at(100)).await.unwrap());
    assert!(
        !store.delete_tenant(tenant.id, at(101)).await.unwrap(),
        "once"
    );
    assert!(!store.delete_tenant(TenantId::new(), at(101)).await.unwrap());
    assert_eq!(store.tenant(tenant.id).await.unwrap(), None);
    assert_eq!(store.tenant_by_name("Deleted").await.unwrap(), None);
    assert!(!store
        .tenants()
        .await
        .unwrap()
        .iter()
        .any(|t| t.id == tenant.id));
    assert!(store.tenant_data_keys(tenant.id).await.unwrap().is_empty());
    assert!(
        !store.add_tenant_data_key(&first).await.unwrap(),
        "a deleted tenant gets no new key"
    );
    assert_eq!(
        store
            .api_key(&key.key_id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(at(100))
    );
    let platforms = store.tenant_platforms(tenant.id).await.unwrap();
    let secrets: Vec<_> = platforms
        .iter()
        .map(|p| p.client_secret_ct.as_deref())
        .collect();
    assert_eq!(secrets, [None, Some("v2.da.kept")]);
    assert!(platforms.iter().all(|p| !p.enabled));
    assert_eq!(
        store
            .connection_tokens(tenant.id, w.connection.id)
            .await
            .unwrap(),
        None,
        "tokens sealed with the instance key are destroyed"
    );

    assert_eq!(store.tenant(other.id).await.unwrap(), Some(other.clone()));
    assert_eq!(store.tenant_data_keys(other.id).await.unwrap().len(), 1);
}

/// `accord keys rotate`'s walk: stored secrets of one kind and prefix, page by page in tenant
/// then row order, each replaced only while it still holds the ciphertext that was read.
pub async fn stored_secrets_are_paged_and_replaced_if_unchanged(store: &dyn Store) {
    let tenant = fixtures::tenant(store, "Secrets").await;
    let company = fixtures::company(store, tenant.id, None).await;
    let nv = fixtures::notice_version(store, tenant.id).await;
    let w = fixtures::linked(store, &company, &nv).await;
    for (key, ct) in [("beta", "v1.k.b"), ("alpha", "v1.k.a"), ("gamma", "v2.d.g")] {
        store
            .upsert_tenant_platform(&TenantPlatform {
                tenant_id: tenant.id,
                platform_key: PlatformKey::parse(key).unwrap(),
                enabled: true,
                client_id: None,
                client_secret_ct: Some(ct.into()),
                updated_at: t0(),
            })
            .await
            .unwrap();
    }
    let kind = SecretKind::ClientSecret;
    let first = store.secrets_page(kind, "v1.", None, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].row.as_str(), first[0].object.as_str()),
        ("alpha", "alpha")
    );
    assert_eq!(first[0].ciphertext, "v1.k.a");
    let after = Some((tenant.id, first[0].row.clone()));
    let second = store.secrets_page(kind, "v1.", after, 10).await.unwrap();
    assert_eq!(second.len(), 1, "v2 ciphertexts are not listed under v1.");
    assert_eq!(second[0].row, "beta");
    let after = Some((tenant.id, second[0].row.clone()));
    assert!(store
        .secrets_page(kind, "v1.", after, 10)
        .await
        .unwrap()
        .is_empty());

    assert!(store.replace_secret(&first[0], "v2.d.a").await.unwrap());
    assert!(
        !store.replace_secret(&first[0], "v2.d.other").await.unwrap(),
        "replaced only from the ciphertext read"
    );
    let alpha = PlatformKey::parse("alpha").unwrap();
    let stored = store
        .tenant_platform(tenant.id, &alpha)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client_secret_ct.as_deref(), Some("v2.d.a"));

    let tokens = store
        .secrets_page(SecretKind::ConnectionTokens, "ct:", None, 10)
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].row, w.connection.id.to_string());
    assert_eq!(tokens[0].object, tokens[0].row);
    assert!(store.replace_secret(&tokens[0], "v2.d.t").await.unwrap());
    assert_eq!(
        store
            .connection_tokens(tenant.id, w.connection.id)
            .await
            .unwrap()
            .as_deref(),
        Some("v2.d.t")
    );
    for kind in SecretKind::ALL {
        assert!(
            store.secrets_page(kind, "v1.", None, 10).await.is_ok(),
            "{} are listed",
            kind.name()
        );
    }
    assert!(store.delete_tenant(tenant.id, at(10)).await.unwrap());
    assert!(
        store
            .secrets_page(SecretKind::ConnectionTokens, "v2.", None, 10)
            .await
            .unwrap()
            .is_empty(),
        "a deleted tenant's secrets are not listed"
    );
}
