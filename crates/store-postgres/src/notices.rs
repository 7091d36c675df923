//! [`NoticeStore`] on PostgreSQL: notices and their immutable versions. A new version takes the
//! next number of its tenant × category × locale in the same transaction that bumps the notice;
//! the bump is an `insert … on conflict do update`, which PostgreSQL serialises on the notice's
//! row, so numbers are 1, 2, 3… without gaps or duplicates even across instances. The schema's
//! triggers refuse any change to a version.
//!
//! Publishing a version that changes the notice materially also marks for re-consent, in the
//! same transaction, the linked connections whose consent in force quotes an older version:
//! a version is never in force without the re-consent it calls for, nor the other way round.

use crate::codec::RowExt;
use crate::connections::{connection_cols, connection_from};
use crate::error::db;
use crate::PgStore;
use accord_domain::catalog::Category;
use accord_domain::connection::Connection;
use accord_domain::ids::{NoticeId, NoticeVersionId, TenantId};
use accord_domain::locale::Locale;
use accord_domain::notice::{Notice, NoticeContent, NoticeVersion};
use accord_domain::notice_change::{classify, ChangeClass};
use accord_domain::outbox::WebhookEvent;
use accord_store::{NoticeStore, PublishedNotice, Result};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::PgConnection;
use time::OffsetDateTime;

macro_rules! notice_cols {
    () => {
        "id, tenant_id, category, locale, current_version, created_at, updated_at"
    };
}

/// A version with its notice's category and locale.
macro_rules! version_select {
    () => {
        "select v.id, v.notice_id, v.tenant_id, n.category, n.locale, v.version, v.content, v.created_at
         from notice_versions v join notices n on n.tenant_id = v.tenant_id and n.id = v.notice_id "
    };
}

fn notice_from(row: &PgRow) -> Result<Notice> {
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

fn version_from(row: &PgRow) -> Result<NoticeVersion> {
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

/// The notice of `category` × `locale`, created on first use, with its number bumped: its id
/// and the number of the version being published. The row stays locked until the transaction
/// ends, so publications of one notice take turns.
async fn bump_notice(
    conn: &mut PgConnection,
    tenant: TenantId,
    category: Category,
    locale: Locale,
    at: OffsetDateTime,
) -> Result<(NoticeId, i64)> {
    let row = sqlx::query(
        "insert into notices (id, tenant_id, category, locale, current_version, created_at, updated_at)
         values ($1, $2, $3, $4, 1, $5, $5)
         on conflict (tenant_id, category, locale) do update set
             current_version = notices.current_version + 1,
             updated_at = excluded.updated_at
         returning id, current_version",
    )
    .bind(NoticeId::new().as_uuid())
    .bind(tenant.as_uuid())
    .bind(category.as_str())
    .bind(locale.as_str())
    .bind(at)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    Ok((row.id("id")?, row.int("current_version")?))
}

/// The version `number` of a notice, read inside the publishing transaction.
async fn version_numbered(
    conn: &mut PgConnection,
    tenant: TenantId,
    notice: NoticeId,
    number: i64,
) -> Result<Option<NoticeVersion>> {
    sqlx::query(concat!(
        version_select!(),
        "where v.tenant_id = $1 and v.notice_id = $2 and v.version = $3"
    ))
    .bind(tenant.as_uuid())
    .bind(notice.as_uuid())
    .bind(i32::try_from(number).map_err(|e| crate::error::corrupt("current_version", e))?)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .map(|r| version_from(&r))
    .transpose()
}

/// Inserts the version numbered by [`bump_notice`] and returns it as stored.
async fn insert_version(
    conn: &mut PgConnection,
    (notice_id, version): (NoticeId, i64),
    tenant: TenantId,
    (category, locale): (Category, Locale),
    content: &NoticeContent,
    at: OffsetDateTime,
) -> Result<NoticeVersion> {
    let id = NoticeVersionId::new();
    let row = sqlx::query(
        "insert into notice_versions (id, tenant_id, notice_id, version, content, created_at)
         values ($1, $2, $3, $4, $5, $6)
         returning created_at, content",
    )
    .bind(id.as_uuid())
    .bind(tenant.as_uuid())
    .bind(notice_id.as_uuid())
    .bind(i32::try_from(version).map_err(|e| crate::error::corrupt("current_version", e))?)
    .bind(Json(content))
    .bind(at)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    Ok(NoticeVersion {
        id,
        notice_id,
        tenant_id: tenant,
        category,
        locale,
        version,
        // As stored (microseconds, jsonb), so the caller sees what a later read returns.
        content: row.json("content")?,
        created_at: row.time("created_at")?,
    })
}

/// A material change: the linked connections whose consent in force quotes an older version of
/// the notice need the customer's agreement again, each with its `consent.reconsent_required`
/// outbox row. Inside the publishing transaction, after the bump (so "older" is below the
/// version just published).
async fn require_reconsent(
    conn: &mut PgConnection,
    tenant: TenantId,
    notice: NoticeId,
    at: OffsetDateTime,
) -> Result<Vec<Connection>> {
    let locked = lock_for_reconsent(conn, tenant, notice).await?;
    if locked.is_empty() {
        return Ok(Vec::new());
    }
    // Re-checked on the locked rows, as committed: a disconnect or a re-consent that went
    // first leaves its connection out.
    let mut connections = sqlx::query(concat!(
        "update connections set status = 'reconsent_required', updated_at = $1
         where tenant_id = $2 and id = any($4) and status = 'linked' and consent_id in (
             select k.id from consents k
             join notice_versions nv on nv.tenant_id = k.tenant_id and nv.id = k.notice_version_id
             join notices n on n.tenant_id = nv.tenant_id and n.id = nv.notice_id
             where k.tenant_id = $2 and n.id = $3 and k.withdrawn_at is null and nv.version < n.current_version)
         returning ",
        connection_cols!()
    ))
    .bind(at)
    .bind(tenant.as_uuid())
    .bind(notice.as_uuid())
    .bind(&locked)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    .iter()
    .map(connection_from)
    .collect::<Result<Vec<Connection>>>()?;
    // `returning` follows no particular order; report them in id order.
    connections.sort_by_key(|c| c.id);
    let outbox: Vec<WebhookEvent> = connections
        .iter()
        .map(|c| WebhookEvent::reconsent_required(c, "notice_changed", at))
        .collect();
    crate::webhooks::insert_events(conn, &outbox).await?;
    Ok(connections)
}

/// The linked connections a material change of `notice` marks for re-consent, locked
/// (`for update`) in id order before any is changed. Why: an `update` locks rows in whatever
/// order its plan finds them, and a consent batch or a disconnect touching two of the same
/// connections locks them in id order; holding one while waiting for the other, the two could
/// deadlock. Every multi-row writer locks connections in id order, so they queue instead.
async fn lock_for_reconsent(
    conn: &mut PgConnection,
    tenant: TenantId,
    notice: NoticeId,
) -> Result<Vec<uuid::Uuid>> {
    sqlx::query_scalar(
        "select c.id from connections c
         where c.tenant_id = $1 and c.status = 'linked' and c.consent_id in (
             select k.id from consents k
             join notice_versions nv on nv.tenant_id = k.tenant_id and nv.id = k.notice_version_id
             join notices n on n.tenant_id = nv.tenant_id and n.id = nv.notice_id
             where k.tenant_id = $1 and n.id = $2 and k.withdrawn_at is null and nv.version < n.current_version)
         order by c.id
         for update of c",
    )
    .bind(tenant.as_uuid())
    .bind(notice.as_uuid())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)
}

#[async_trait]
impl NoticeStore for PgStore {
    /// Bumps the notice, appends the version and, when the change from the previous version is
    /// material, marks for re-consent: one transaction, so a failure anywhere leaves neither.
    async fn publish_notice_version(
        &self,
        tenant: TenantId,
        category: Category,
        locale: Locale,
        content: &NoticeContent,
        at: OffsetDateTime,
    ) -> Result<PublishedNotice> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let (notice, number) = bump_notice(&mut tx, tenant, category, locale, at).await?;
        let previous = if number > 1 {
            version_numbered(&mut tx, tenant, notice, number - 1).await?
        } else {
            None
        };
        let version = insert_version(
            &mut tx,
            (notice, number),
            tenant,
            (category, locale),
            content,
            at,
        )
        .await?;
        let material = previous
            .as_ref()
            .is_some_and(|p| classify(&p.content, &version.content).class == ChangeClass::Material);
        let reconsent_required = if material {
            require_reconsent(&mut tx, tenant, notice, at).await?
        } else {
            Vec::new()
        };
        tx.commit().await.map_err(db)?;
        Ok(PublishedNotice {
            version,
            previous,
            reconsent_required,
        })
    }

    async fn notices(&self, tenant: TenantId) -> Result<Vec<Notice>> {
        sqlx::query(concat!(
            "select ",
            notice_cols!(),
            " from notices where tenant_id = $1 order by id"
        ))
        .bind(tenant.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(notice_from)
        .collect()
    }

    async fn notice(&self, tenant: TenantId, id: NoticeId) -> Result<Option<Notice>> {
        sqlx::query(concat!(
            "select ",
            notice_cols!(),
            " from notices where tenant_id = $1 and id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| notice_from(&r))
        .transpose()
    }

    async fn notice_versions(
        &self,
        tenant: TenantId,
        notice: NoticeId,
    ) -> Result<Vec<NoticeVersion>> {
        sqlx::query(concat!(
            version_select!(),
            "where v.tenant_id = $1 and v.notice_id = $2 order by v.version"
        ))
        .bind(tenant.as_uuid())
        .bind(notice.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(version_from)
        .collect()
    }

    async fn notice_version(
        &self,
        tenant: TenantId,
        id: NoticeVersionId,
    ) -> Result<Option<NoticeVersion>> {
        sqlx::query(concat!(
            version_select!(),
            "where v.tenant_id = $1 and v.id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| version_from(&r))
        .transpose()
    }

    async fn current_notice_version(
        &self,
        tenant: TenantId,
        category: Category,
        locale: Locale,
    ) -> Result<Option<NoticeVersion>> {
        sqlx::query(concat!(
            version_select!(),
            "where n.tenant_id = $1 and n.category = $2 and n.locale = $3 and v.version = n.current_version"
        ))
        .bind(tenant.as_uuid())
        .bind(category.as_str())
        .bind(locale.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| version_from(&r))
        .transpose()
    }
}
