//! [`FlowStore`] on PostgreSQL: the hosted flow's link sessions, browser sessions and OAuth
//! state. Each is found by the hash of its secret and consumed by one conditional statement
//! (`update … where used_at is null … returning`, `delete … returning`). Under PostgreSQL's row
//! locks a second, racing statement waits for the first, then re-checks its condition on the
//! new row and matches nothing: two instances cannot both use one, so a stolen or replayed
//! token opens nothing, and each artifact stays bound to the session it was made for.

use crate::codec::RowExt;
use crate::error::{corrupt, db};
use crate::PgStore;
use accord_domain::crypto::TokenHash;
use accord_domain::flow::{BrowserSession, LinkSession, ManageLink, OAuthFlow, SessionKind};
use accord_domain::ids::{BrowserSessionId, CompanyId, LinkSessionId, TenantId};
use accord_domain::locale::Locale;
use accord_store::{FlowStore, Result};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::PgConnection;
use time::OffsetDateTime;

macro_rules! link_cols {
    () => {
        "id, tenant_id, company_id, kind, token_hash, locale, categories, return_url, created_at, expires_at, used_at"
    };
}

macro_rules! browser_cols {
    () => {
        "id, tenant_id, company_id, kind, link_session_id, token_hash, created_at, expires_at"
    };
}

macro_rules! flow_cols {
    () => {
        "state_hash, tenant_id, browser_session_id, connection_id, platform_key, pkce_verifier_ct, redirect_uri, \
         created_at, expires_at"
    };
}

/// Only the sessions of a company that still exists open anything.
macro_rules! company_live {
    ($table:literal) => {
        concat!(
            "exists (select 1 from companies c where c.tenant_id = ",
            $table,
            ".tenant_id and c.id = ",
            $table,
            ".company_id and c.deleted_at is null)"
        )
    };
}

fn kind_from(row: &PgRow) -> Result<SessionKind> {
    match row.text("kind")?.as_str() {
        "link" => Ok(SessionKind::Link),
        "manage" => Ok(SessionKind::Manage),
        other => Err(corrupt("kind", format!("unknown session kind `{other}`"))),
    }
}

fn link_from(row: &PgRow) -> Result<LinkSession> {
    Ok(LinkSession {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        company_id: row.id("company_id")?,
        kind: kind_from(row)?,
        token_hash: TokenHash(row.text("token_hash")?),
        locale: row.opt_parsed("locale")?,
        categories: row.json("categories")?,
        return_url: row.opt_text("return_url")?,
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
        used_at: row.opt_time("used_at")?,
    })
}

fn manage_link_from(row: &PgRow) -> Result<ManageLink> {
    Ok(ManageLink {
        tenant_id: row.id("tenant_id")?,
        company_id: row.id("company_id")?,
        token_hash: TokenHash(row.text("token_hash")?),
        created_at: row.time("created_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}

/// The company of a manage link is not deleted.
const MANAGE_LINK_COMPANY_LIVE: &str = "exists (select 1 from companies c
    where c.tenant_id = manage_links.tenant_id and c.id = manage_links.company_id
        and c.deleted_at is null)";

fn browser_from(row: &PgRow) -> Result<BrowserSession> {
    Ok(BrowserSession {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        company_id: row.id("company_id")?,
        kind: kind_from(row)?,
        link_session_id: row.opt_id("link_session_id")?,
        token_hash: TokenHash(row.text("token_hash")?),
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
    })
}

fn flow_from(row: &PgRow) -> Result<OAuthFlow> {
    Ok(OAuthFlow {
        state_hash: TokenHash(row.text("state_hash")?),
        tenant_id: row.id("tenant_id")?,
        browser_session_id: row.id("browser_session_id")?,
        connection_id: row.id("connection_id")?,
        platform_key: row.platform("platform_key")?,
        pkce_verifier_ct: row.text("pkce_verifier_ct")?,
        redirect_uri: row.text("redirect_uri")?,
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
    })
}

async fn insert_browser(conn: &mut PgConnection, s: &BrowserSession) -> Result<()> {
    sqlx::query(concat!(
        "insert into browser_sessions (",
        browser_cols!(),
        ") values ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(s.id.as_uuid())
    .bind(s.tenant_id.as_uuid())
    .bind(s.company_id.as_uuid())
    .bind(s.kind.as_str())
    .bind(s.link_session_id.map(|i| i.as_uuid()))
    .bind(&s.token_hash.0)
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Stores a personal manage link on `conn` (the caller's transaction, or a connection of its own).
pub(crate) async fn insert_manage_link(conn: &mut PgConnection, l: &ManageLink) -> Result<()> {
    sqlx::query(
        "insert into manage_links (token_hash, tenant_id, company_id, created_at, revoked_at)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(&l.token_hash.0)
    .bind(l.tenant_id.as_uuid())
    .bind(l.company_id.as_uuid())
    .bind(l.created_at)
    .bind(l.revoked_at)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl FlowStore for PgStore {
    async fn create_manage_link(&self, l: &ManageLink) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        insert_manage_link(&mut conn, l).await
    }

    async fn manage_link(&self, token_hash: &TokenHash) -> Result<Option<ManageLink>> {
        sqlx::query(&format!(
            "select token_hash, tenant_id, company_id, created_at, revoked_at from manage_links
             where token_hash = $1 and revoked_at is null and {MANAGE_LINK_COMPANY_LIVE}"
        ))
        .bind(&token_hash.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| manage_link_from(&r))
        .transpose()
    }

    async fn use_manage_link(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<ManageLink>> {
        // One conditional update: a racing second use re-checks `revoked_at` and matches nothing.
        sqlx::query(&format!(
            "update manage_links set revoked_at = $2
             where token_hash = $1 and revoked_at is null and {MANAGE_LINK_COMPANY_LIVE}
             returning token_hash, tenant_id, company_id, created_at,
                 null::timestamptz as revoked_at"
        ))
        .bind(&token_hash.0)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| manage_link_from(&r))
        .transpose()
    }

    async fn revoke_manage_links(
        &self,
        tenant: TenantId,
        company: CompanyId,
        now: OffsetDateTime,
    ) -> Result<u64> {
        let done = sqlx::query(
            "update manage_links set revoked_at = $3
             where tenant_id = $1 and company_id = $2 and revoked_at is null",
        )
        .bind(tenant.as_uuid())
        .bind(company.as_uuid())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn create_link_session(&self, s: &LinkSession) -> Result<()> {
        sqlx::query(concat!(
            "insert into link_sessions (",
            link_cols!(),
            ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(s.id.as_uuid())
        .bind(s.tenant_id.as_uuid())
        .bind(s.company_id.as_uuid())
        .bind(s.kind.as_str())
        .bind(&s.token_hash.0)
        .bind(s.locale.map(Locale::as_str))
        .bind(Json(&s.categories))
        .bind(&s.return_url)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.used_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Marks the link session used and opens the browser session in one transaction. The browser
    /// session's owner and link are taken from the link session itself: the caller cannot know
    /// them before the token is consumed, and must not be able to bind it elsewhere. A manage link
    /// opens only a manage session, a flow link only a flow session.
    async fn consume_link_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
        browser: &BrowserSession,
    ) -> Result<Option<LinkSession>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let row = sqlx::query(concat!(
            "update link_sessions set used_at = $1
             where token_hash = $2 and kind = $3 and used_at is null and expires_at > $1 and ",
            company_live!("link_sessions"),
            " returning ",
            link_cols!()
        ))
        .bind(now)
        .bind(&token_hash.0)
        .bind(browser.kind.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        // Nothing matched: the transaction rolls back when dropped, having written nothing.
        let Some(row) = row else { return Ok(None) };
        let link = link_from(&row)?;
        let bound = BrowserSession {
            tenant_id: link.tenant_id,
            company_id: link.company_id,
            link_session_id: Some(link.id),
            ..browser.clone()
        };
        insert_browser(&mut tx, &bound).await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(link))
    }

    async fn link_session(
        &self,
        tenant: TenantId,
        id: LinkSessionId,
    ) -> Result<Option<LinkSession>> {
        sqlx::query(concat!(
            "select ",
            link_cols!(),
            " from link_sessions where tenant_id = $1 and id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| link_from(&r))
        .transpose()
    }

    async fn link_session_by_token(&self, token_hash: &TokenHash) -> Result<Option<LinkSession>> {
        sqlx::query(concat!(
            "select ",
            link_cols!(),
            " from link_sessions where token_hash = $1"
        ))
        .bind(&token_hash.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| link_from(&r))
        .transpose()
    }

    async fn create_browser_session(&self, s: &BrowserSession) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        insert_browser(&mut conn, s).await
    }

    async fn browser_session(
        &self,
        token_hash: &TokenHash,
        kind: SessionKind,
        now: OffsetDateTime,
    ) -> Result<Option<BrowserSession>> {
        sqlx::query(concat!(
            "select ",
            browser_cols!(),
            " from browser_sessions where token_hash = $1 and kind = $2 and expires_at > $3 and ",
            company_live!("browser_sessions")
        ))
        .bind(&token_hash.0)
        .bind(kind.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| browser_from(&r))
        .transpose()
    }

    async fn end_browser_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool> {
        // One statement: the session ends, and its unexpired link session is free again.
        let ended: Option<(i64,)> = sqlx::query_as(
            "with ended as (
                 update browser_sessions set expires_at = $2
                 where token_hash = $1 and expires_at > $2
                 returning tenant_id, link_session_id
             ), freed as (
                 update link_sessions l set used_at = null
                 from ended e
                 where l.tenant_id = e.tenant_id and l.id = e.link_session_id
                     and l.expires_at > $2
             )
             select count(*) from ended",
        )
        .bind(&token_hash.0)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(ended.is_some_and(|(n,)| n > 0))
    }

    async fn create_oauth_flow(&self, f: &OAuthFlow) -> Result<()> {
        sqlx::query(concat!(
            "insert into oauth_flows (",
            flow_cols!(),
            ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&f.state_hash.0)
        .bind(f.tenant_id.as_uuid())
        .bind(f.browser_session_id.as_uuid())
        .bind(f.connection_id.as_uuid())
        .bind(f.platform_key.as_str())
        .bind(&f.pkce_verifier_ct)
        .bind(&f.redirect_uri)
        .bind(f.created_at)
        .bind(f.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Deletes and returns the flow in one statement; a wrong browser session or an expired flow
    /// matches nothing and leaves the row as it was (an attacker's attempt does not burn it).
    async fn consume_oauth_flow(
        &self,
        state_hash: &TokenHash,
        session: BrowserSessionId,
        now: OffsetDateTime,
    ) -> Result<Option<OAuthFlow>> {
        sqlx::query(concat!(
            "delete from oauth_flows where state_hash = $1 and browser_session_id = $2 and expires_at > $3 returning ",
            flow_cols!()
        ))
        .bind(&state_hash.0)
        .bind(session.as_uuid())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| flow_from(&r))
        .transpose()
    }
}
