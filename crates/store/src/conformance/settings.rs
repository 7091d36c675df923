//! [`SettingsStore`]: a tenant's link settings (replaced, and versioned with who changed what),
//! its logo, and the connected-companies count behind the `{connectedCompanies}` placeholder.

use super::fixtures::{self, at, World};
use crate::{SettingsStore, Store, StoreError, TenantStore};
use accord_domain::brand::{sha256_hex, Logo, LogoFormat};
use accord_domain::ids::TenantId;
use accord_domain::settings::{LinkSettings, Localized, Theme, LOGO_FIELD};

pub async fn link_settings_are_replaced(store: &(impl TenantStore + SettingsStore + ?Sized)) {
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

pub async fn link_settings_are_versioned_with_their_author(
    store: &(impl TenantStore + SettingsStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let mut s1 = LinkSettings {
        legal_name: Some("Lender A SAS".into()),
        ..LinkSettings::default()
    };
    let v1 = store
        .save_link_settings(a.id, &s1, "ak_first", at(10))
        .await
        .expect("save 1");
    assert_eq!(v1.number, 1);
    assert_eq!(v1.changed_fields, ["legal_name"]);
    assert_eq!(store.tenant(a.id).await.unwrap().unwrap().settings, s1);

    s1.brand.theme = Theme::Dark;
    s1.trust_message = Localized {
        en: Some("Securely connect".into()),
        fr: None,
    };
    let v2 = store
        .save_link_settings(a.id, &s1, "ak_second", at(20))
        .await
        .expect("save 2");
    assert_eq!(v2.number, 2);
    assert_eq!(v2.changed_fields, ["brand", "trust_message"]);
    // Saving the same document again is a version with nothing changed.
    let v3 = store
        .save_link_settings(a.id, &s1, "ak_second", at(30))
        .await
        .expect("save 3");
    assert_eq!((v3.number, v3.changed_fields.len()), (3, 0));
    // Another tenant numbers from 1.
    let b1 = store
        .save_link_settings(b.id, &LinkSettings::default(), "ak_b", at(40))
        .await
        .expect("save b");
    assert_eq!(b1.number, 1);

    let all = store.link_settings_versions(a.id, None, 10).await.unwrap();
    assert_eq!(all.iter().map(|v| v.number).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(all[1], v2, "a version reads back as written");
    assert_eq!(all[2].changed_by, "ak_first");
    assert_eq!(all[2].created_at, at(10));
    assert_eq!(
        serde_json::from_value::<LinkSettings>(all[1].settings.clone()).unwrap(),
        s1
    );
    let page = store
        .link_settings_versions(a.id, Some(3), 1)
        .await
        .unwrap();
    assert_eq!(page.iter().map(|v| v.number).collect::<Vec<_>>(), [2]);
    assert!(store
        .link_settings_versions(a.id, Some(1), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .link_settings_versions(b.id, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    assert!(matches!(
        store
            .save_link_settings(TenantId::new(), &s1, "ak_x", at(50))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(store
        .link_settings_versions(TenantId::new(), None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// Concurrent saves each get their own number: none is lost, none shared.
pub async fn concurrent_settings_saves_are_numbered_apart(
    store: &(impl TenantStore + SettingsStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let saves = (0..8).map(|i| {
        let s = LinkSettings {
            legal_name: Some(format!("Lender A {i}")),
            ..LinkSettings::default()
        };
        async move { store.save_link_settings(a.id, &s, "ak_race", at(i)).await }
    });
    let mut numbers: Vec<i64> = futures::future::join_all(saves)
        .await
        .into_iter()
        .map(|r| r.expect("save").number)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=8).collect::<Vec<_>>());
}

pub async fn logos_are_stored_replaced_and_deleted(
    store: &(impl TenantStore + SettingsStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    let logo = Logo {
        tenant_id: a.id,
        format: LogoFormat::Png,
        sha256: sha256_hex(&png),
        bytes: png,
        updated_at: at(1),
    };
    assert_eq!(store.logo(a.id).await.unwrap(), None);
    // Each change is a version of the settings: the document in force, `["logo"]`, who, when.
    let settings = LinkSettings {
        powered_by_badge: false,
        ..LinkSettings::default()
    };
    let saved = store
        .save_link_settings(a.id, &settings, "ak_settings", at(0))
        .await
        .unwrap();
    let put = store.put_logo(&logo, "ak_logo").await.expect("put");
    assert_eq!(put.number, saved.number + 1);
    assert_eq!(put.changed_fields, [LOGO_FIELD]);
    assert_eq!(put.changed_by, "ak_logo");
    assert_eq!(put.created_at, at(1));
    assert_eq!(put.settings, serde_json::to_value(&settings).unwrap());
    assert_eq!(store.logo(a.id).await.unwrap(), Some(logo.clone()));
    assert_eq!(
        store.logo_sha256(a.id).await.unwrap(),
        Some(logo.sha256.clone())
    );
    assert_eq!(store.logo_sha256(b.id).await.unwrap(), None);
    assert_eq!(store.logo(b.id).await.unwrap(), None, "per tenant");
    let jpeg = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0".to_vec();
    let second = Logo {
        format: LogoFormat::Jpeg,
        sha256: sha256_hex(&jpeg),
        bytes: jpeg,
        updated_at: at(2),
        ..logo.clone()
    };
    let replaced = store.put_logo(&second, "ak_logo").await.expect("replace");
    assert_eq!(replaced.number, put.number + 1);
    assert_eq!(store.logo(a.id).await.unwrap(), Some(second));
    assert_eq!(store.delete_logo(b.id, "ak_b", at(3)).await.unwrap(), None);
    assert!(
        store
            .link_settings_versions(b.id, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "no logo removed, no version"
    );
    let deleted = store
        .delete_logo(a.id, "ak_other", at(4))
        .await
        .unwrap()
        .expect("a version");
    assert_eq!(
        (
            deleted.number,
            deleted.changed_fields.as_slice(),
            deleted.changed_by.as_str()
        ),
        (
            replaced.number + 1,
            [LOGO_FIELD.to_owned()].as_slice(),
            "ak_other"
        )
    );
    assert_eq!(store.logo(a.id).await.unwrap(), None);
    assert_eq!(store.logo_sha256(a.id).await.unwrap(), None);
    assert_eq!(
        store.delete_logo(a.id, "ak_other", at(5)).await.unwrap(),
        None
    );
    let versions = store.link_settings_versions(a.id, None, 10).await.unwrap();
    assert_eq!(versions.len(), 4, "settings, put, replace, delete");
    assert_eq!(versions[0], deleted);
    assert_eq!(
        store.tenant(a.id).await.unwrap().unwrap().settings,
        settings,
        "a logo change leaves the settings in force as they were"
    );
    assert!(matches!(
        store
            .put_logo(
                &Logo {
                    tenant_id: TenantId::new(),
                    ..logo
                },
                "ak_x"
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn connected_companies_are_counted(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = World::new(store, "Lender B").await;
    assert_eq!(store.connected_company_count(w.tenant.id).await.unwrap(), 0);
    fixtures::linked(store, &w.company, &w.nv).await;
    // A second connection of the same company counts once.
    fixtures::linked(store, &w.company, &w.nv).await;
    let second = fixtures::company(store, w.tenant.id, None).await;
    fixtures::linked(store, &second, &w.nv).await;
    // A company whose consent is given but not yet linked does not count.
    let pending = fixtures::company(store, w.tenant.id, None).await;
    store
        .record_consent(&fixtures::consent_write(&pending, &w.nv, at(5)))
        .await
        .unwrap();
    fixtures::linked(store, &other.company, &other.nv).await;
    assert_eq!(store.connected_company_count(w.tenant.id).await.unwrap(), 2);
    assert_eq!(
        store
            .connected_company_count(other.tenant.id)
            .await
            .unwrap(),
        1
    );
}
