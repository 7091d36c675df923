//! Creating tenants: the tenant row, its first API key (shown once), and Accord's built-in
//! notices in every category and language, so a new tenant's flow works untouched.

use crate::i18n::Tr;
use crate::state::AppState;
use accord_domain::catalog::Category;
use accord_domain::crypto::ApiKey;
use accord_domain::ids::{ApiKeyId, TenantId};
use accord_domain::locale::Locale;
use accord_domain::settings::LinkSettings;
use accord_domain::tenant::{name_field, ApiKeyRecord, Tenant};
use accord_domain::validate::Invalid;
use accord_store::StoreError;
use secrecy::SecretString;

#[derive(Debug, thiserror::Error)]
pub enum CreateTenantError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a tenant with one API key (named [`ApiKeyRecord::DEFAULT_NAME`]); returns the key's
/// full value, which is not stored.
pub async fn create_tenant(
    state: &AppState,
    name: &str,
    settings: LinkSettings,
) -> Result<(Tenant, SecretString), CreateTenantError> {
    let name = name_field("name", name).map_err(|e| Invalid(vec![e]))?;
    settings.validate(
        state.config.allow_http_localhost,
        &state.i18n.builtin_labels(),
    )?;
    let now = state.clock.now();
    let tenant = Tenant {
        id: TenantId::new(),
        name,
        settings,
        created_at: now,
    };
    let (record, full) = new_api_key(tenant.id, ApiKeyRecord::DEFAULT_NAME, now);
    state.tenants().create_tenant(&tenant, &record).await?;
    seed_default_notices(state, &tenant).await?;
    Ok((tenant, full))
}

/// A further API key for an existing tenant, named [`ApiKeyRecord::DEFAULT_NAME`] (e.g.
/// `accord demo` run again: keys are shown once).
pub async fn add_api_key(state: &AppState, tenant: TenantId) -> Result<SecretString, StoreError> {
    add_named_api_key(state, tenant, ApiKeyRecord::DEFAULT_NAME)
        .await
        .map(|(_, full)| full)
}

/// A further API key with the name given (already checked with
/// [`accord_domain::tenant::api_key_name_field`]): the stored record and the key's full value,
/// to show once.
pub async fn add_named_api_key(
    state: &AppState,
    tenant: TenantId,
    name: &str,
) -> Result<(ApiKeyRecord, SecretString), StoreError> {
    let (record, full) = new_api_key(tenant, name, state.clock.now());
    state.tenants().add_api_key(&record).await?;
    Ok((record, full))
}

fn new_api_key(
    tenant: TenantId,
    name: &str,
    now: time::OffsetDateTime,
) -> (ApiKeyRecord, SecretString) {
    let key = ApiKey::generate();
    let record = ApiKeyRecord {
        id: ApiKeyId::new(),
        tenant_id: tenant,
        name: name.to_owned(),
        key_id: key.key_id.clone(),
        secret_hash: key.secret_hash.clone(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    (record, key.full)
}

/// Version 1 of every category × locale notice, from the built-in text. The privacy-policy link
/// is the tenant's own when set, else Accord's page explaining how Accord handles the data.
async fn seed_default_notices(state: &AppState, tenant: &Tenant) -> Result<(), StoreError> {
    let privacy = tenant
        .settings
        .privacy_policy_url
        .clone()
        .unwrap_or_else(|| state.config.url("/privacy"));
    let now = state.clock.now();
    for category in Category::ALL {
        for locale in Locale::ALL {
            if state
                .notices()
                .current_notice_version(tenant.id, category, locale)
                .await?
                .is_some()
            {
                continue;
            }
            let tr = Tr::new(state.i18n.clone(), locale);
            let content = super::notice::default_content(&tr, category, &privacy);
            let published = state
                .notices()
                .publish_notice_version(tenant.id, category, locale, &content, now)
                .await;
            state.snapshots.forget(tenant.id);
            published?;
        }
    }
    Ok(())
}
