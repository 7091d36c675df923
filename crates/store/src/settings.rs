//! A tenant's link settings, their versions and its logo.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

/// A tenant's link settings, their versions and its logo.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn update_link_settings(&self, tenant: TenantId, settings: &LinkSettings) -> Result<()>;
    /// Replaces the link settings and records them as the tenant's next version (the previous
    /// number + 1, from 1), with the top-level fields that changed from the settings in force
    /// and who changed them, in one transaction. `NotFound` for an unknown tenant.
    async fn save_link_settings(
        &self,
        tenant: TenantId,
        settings: &LinkSettings,
        changed_by: &str,
        at: OffsetDateTime,
    ) -> Result<SettingsVersion>;
    /// The tenant's settings versions, newest first; with `before`, only numbers below it.
    async fn link_settings_versions(
        &self,
        tenant: TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SettingsVersion>>;
    /// Stores (or replaces) the tenant's logo and, in the same transaction, records the change
    /// as the tenant's next settings version: the settings in force, `changed_fields`
    /// `["logo"]` ([`accord_domain::settings::LOGO_FIELD`]), `changed_by` and the logo's
    /// `updated_at`. `NotFound` for an unknown tenant.
    async fn put_logo(&self, logo: &Logo, changed_by: &str) -> Result<SettingsVersion>;
    async fn logo(&self, tenant: TenantId) -> Result<Option<Logo>>;
    /// The SHA-256 of the tenant's logo, if it has one (what a page needs for its URL,
    /// without the bytes).
    async fn logo_sha256(&self, tenant: TenantId) -> Result<Option<String>>;
    /// Removes the logo and records the change as a version like [`SettingsStore::put_logo`], in one
    /// transaction. `Ok(None)` (and no version) when there was none.
    async fn delete_logo(
        &self,
        tenant: TenantId,
        changed_by: &str,
        at: OffsetDateTime,
    ) -> Result<Option<SettingsVersion>>;
    /// How many of the tenant's companies have at least one linked connection (the live
    /// `{connectedCompanies}` placeholder of trust statistics).
    async fn connected_company_count(&self, tenant: TenantId) -> Result<i64>;
}
