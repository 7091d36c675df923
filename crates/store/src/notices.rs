//! Notices and their immutable versions.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

/// What [`NoticeStore::publish_notice_version`] did.
#[derive(Debug, Clone)]
pub struct PublishedNotice {
    pub version: NoticeVersion,
    /// The version it follows, `None` for a notice's first version.
    pub previous: Option<NoticeVersion>,
    /// The connections marked `reconsent_required` by a material change, in the same commit.
    pub reconsent_required: Vec<Connection>,
}

/// Notices and their immutable versions.
#[async_trait]
pub trait NoticeStore: Send + Sync {
    /// Publishes the next version of the tenant × category × locale notice (creating the notice
    /// on first use; the number is the previous one + 1, assigned atomically) and, when the
    /// change from the previous version is material ([`accord_domain::notice_change::classify`]),
    /// marks for re-consent the linked connections whose consent in force was given to an older
    /// version, each with its `consent.reconsent_required` outbox row. One transaction: a version
    /// is never published without the re-consent it calls for, nor the other way round.
    async fn publish_notice_version(
        &self,
        tenant: TenantId,
        category: Category,
        locale: Locale,
        content: &NoticeContent,
        at: OffsetDateTime,
    ) -> Result<PublishedNotice>;
    async fn notices(&self, tenant: TenantId) -> Result<Vec<Notice>>;
    async fn notice(&self, tenant: TenantId, id: NoticeId) -> Result<Option<Notice>>;
    async fn notice_versions(
        &self,
        tenant: TenantId,
        notice: NoticeId,
    ) -> Result<Vec<NoticeVersion>>;
    async fn notice_version(
        &self,
        tenant: TenantId,
        id: NoticeVersionId,
    ) -> Result<Option<NoticeVersion>>;
    async fn current_notice_version(
        &self,
        tenant: TenantId,
        category: Category,
        locale: Locale,
    ) -> Result<Option<NoticeVersion>>;
}
