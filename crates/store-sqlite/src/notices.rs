//! Notices and their immutable versions ([`NoticeStore`]). A new version takes the next number
//! of its tenant × category × locale in the same transaction that bumps the notice, so numbers
//! are 1, 2, 3… without gaps or duplicates, and a material change marks the connections whose
//! consent quotes an older version for re-consent in that same transaction; the schema's
//! triggers refuse any change to a version.

use crate::codec::{all, exec, micros, one, to_json, RowExt};
use crate::connections::{connection_cols, connection_from};
use crate::SqliteStore;
use accord_domain::catalog::Category;
use accord_domain::connection::Connection;
use accord_domain::ids::{NoticeId, NoticeVersionId, TenantId};
use accord_domain::locale::Locale;
use accord_domain::notice::{Notice, NoticeContent, NoticeVersion};
use accord_domain::notice_change::{classify, ChangeClass};
use accord_domain::outbox::WebhookEvent;
use accord_store::{NoticeStore, PublishedNotice, Result};
use async_trait::async_trait;
use rusqlite::{params, Row};
use time::OffsetDateTime;

macro_rules! notice_cols {
    () => {
        "id, tenant_id, category, locale, current_version, created_at, updated_at"
    };
}

/// A version with its notice's category and locale.
macro_rules! version_select {
    () => {
        "select v.id, v.notice_id, v.tenant_id, n.category, n.locale, v.version, v.content,
             v.created_at
         from notice_versions v join notices n on n.tenant_id = v.tenant_id and n.id = v.notice_id "
    };
}

const CURRENT_VERSION: &str = concat!(
    version_select!(),
    "where n.tenant_id = ?1 and n.category = ?2 and n.locale = ?3 and v.version = n.current_version"
);

fn notice_from(row: &Row<'_>) -> Result<Notice> {
    Ok(Notice {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        category: row.parsed("category")?,
        locale: row.parsed("locale")?,
        current_version: row.int("current_version")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

fn version_from(row: &Row<'_>) -> Result<NoticeVersion> {
    Ok(NoticeVersion {
        id: row.id("id")?,
        notice_id: row.id("notice_id")?,
        tenant_id: row.id("tenant_id")?,
        category: row.parsed("category")?,
        locale: row.parsed("locale")?,
        version: row.int("version")?,
        content: row.json("content")?,
        created_at: row.time("created_at")?,
    })
}

/// Appends the next version of the notice (created on first use), in the caller's transaction.
fn add_version(
    tx: &rusqlite::Connection,
    tenant: TenantId,
    category: Category,
    locale: Locale,
    content: NoticeContent,
    at: OffsetDateTime,
) -> Result<NoticeVersion> {
    let (notice_id, version): (NoticeId, i64) = one(
        tx,
        "insert into notices (id, tenant_id, category, locale, current_version, created_at,
             updated_at)
         values (?1, ?2, ?3, ?4, 1, ?5, ?5)
         on conflict (tenant_id, category, locale) do update set
             current_version = current_version + 1,
             updated_at = excluded.updated_at
         returning id, current_version",
        params![
            NoticeId::new().to_string(),
            tenant.to_string(),
            category.as_str(),
            locale.as_str(),
            micros(at)
        ],
        |r| Ok((r.id("id")?, r.int("current_version")?)),
    )?
    .ok_or_else(|| crate::error::backend("the notice upsert returned no row"))?;
    let id = NoticeVersionId::new();
    exec(
        tx,
        "insert into notice_versions (id, tenant_id, notice_id, version, content, created_at)
         values (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id.to_string(),
            tenant.to_string(),
            notice_id.to_string(),
            version,
            to_json(&content)?,
            micros(at)
        ],
    )?;
    Ok(NoticeVersion {
        id,
        notice_id,
        tenant_id: tenant,
        category,
        locale,
        version,
        content,
        created_at: crate::codec::time_of("created_at", micros(at))?,
    })
}

/// A material notice change, in the caller's transaction: linked connections whose consent in
/// force quotes an older version of the notice need the customer's agreement again, each with
/// its `consent.reconsent_required` outbox row.
fn require_reconsent(
    tx: &rusqlite::Connection,
    tenant: TenantId,
    notice: NoticeId,
    at: OffsetDateTime,
) -> Result<Vec<Connection>> {
    let connections = all(
        tx,
        concat!(
            "update connections set status = 'reconsent_required', updated_at = ?1
             where tenant_id = ?2 and status = 'linked' and consent_id in (
                 select k.id from consents k
                 join notice_versions nv on nv.tenant_id = k.tenant_id
                     and nv.id = k.notice_version_id
                 join notices n on n.tenant_id = nv.tenant_id and n.id = nv.notice_id
                 where k.tenant_id = ?2 and n.id = ?3 and k.withdrawn_at is null
                     and nv.version < n.current_version)
             returning ",
            connection_cols!()
        ),
        params![micros(at), tenant.to_string(), notice.to_string()],
        connection_from,
    )?;
    let outbox = connections
        .iter()
        .map(|c| WebhookEvent::reconsent_required(c, "notice_changed", at))
        .collect();
    crate::webhooks::insert_events(tx, outbox)?;
    Ok(connections)
}

#[async_trait]
impl NoticeStore for SqliteStore {
    async fn publish_notice_version(
        &self,
        tenant: TenantId,
        category: Category,
        locale: Locale,
        content: &NoticeContent,
        at: OffsetDateTime,
    ) -> Result<PublishedNotice> {
        let content = content.clone();
        self.write
            .transaction(move |tx| {
                let previous = one(
                    tx,
                    CURRENT_VERSION,
                    params![tenant.to_string(), category.as_str(), locale.as_str()],
                    version_from,
                )?;
                let material = previous
                    .as_ref()
                    .is_some_and(|p| classify(&p.content, &content).class == ChangeClass::Material);
                let version = add_version(tx, tenant, category, locale, content, at)?;
                let reconsent_required = if material {
                    require_reconsent(tx, tenant, version.notice_id, at)?
                } else {
                    Vec::new()
                };
                Ok(PublishedNotice {
                    version,
                    previous,
                    reconsent_required,
                })
            })
            .await
    }

    async fn notices(&self, tenant: TenantId) -> Result<Vec<Notice>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        notice_cols!(),
                        " from notices where tenant_id = ?1 order by id"
                    ),
                    [tenant.to_string()],
                    notice_from,
                )
            })
            .await
    }

    async fn notice(&self, tenant: TenantId, id: NoticeId) -> Result<Option<Notice>> {
        self.read
            .run(move |db| {
                one(
                    db,
                    concat!(
                        "select ",
                        notice_cols!(),
                        " from notices where tenant_id = ?1 and id = ?2"
                    ),
                    [tenant.to_string(), id.to_string()],
                    notice_from,
                )
            })
            .await
    }

    async fn notice_versions(
        &self,
        tenant: TenantId,
        notice: NoticeId,
    ) -> Result<Vec<NoticeVersion>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        version_select!(),
                        "where v.tenant_id = ?1 and v.notice_id = ?2 order by v.version"
                    ),
                    [tenant.to_string(), notice.to_string()],
                    version_from,
                )
            })
            .await
    }

    async fn notice_version(
        &self,
        tenant: TenantId,
        id: NoticeVersionId,
    ) -> Result<Option<NoticeVersion>> {
        self.read
            .run_point(move |db| {
                one(
                    db,
                    concat!(version_select!(), "where v.tenant_id = ?1 and v.id = ?2"),
                    [tenant.to_string(), id.to_string()],
                    version_from,
                )
            })
            .await
    }

    async fn current_notice_version(
        &self,
        tenant: TenantId,
        category: Category,
        locale: Locale,
    ) -> Result<Option<NoticeVersion>> {
        self.read
            .run_point(move |db| {
                one(
                    db,
                    CURRENT_VERSION,
                    params![tenant.to_string(), category.as_str(), locale.as_str()],
                    version_from,
                )
            })
            .await
    }
}
