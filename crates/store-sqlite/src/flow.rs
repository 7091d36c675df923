//! Flow artifacts: link sessions, browser sessions and OAuth state. Each is found by the hash
//! of its secret and consumed by one conditional statement, so two racing requests cannot both
//! use it (DESIGN.md: "Flow artifacts are single-use and bound").

use crate::codec::{micros, opt_micros, to_json, RowExt};
use crate::conn::begin;
use crate::error::{corrupt, db};
use accord_domain::crypto::TokenHash;
use accord_domain::flow::{BrowserSession, LinkSession, OAuthFlow, SessionKind};
use accord_domain::ids::{BrowserSessionId, LinkSessionId, TenantId};
use accord_domain::locale::Locale;
use accord_store::Result;
use sqlx::sqlite::SqliteRow;
use sqlx::{SqliteConnection, SqlitePool};
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

fn link_from(row: &SqliteRow) -> Result<LinkSession> {
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

fn kind_from(row: &SqliteRow) -> Result<SessionKind> {
    match row.text("kind")?.as_str() {
        "link" => Ok(SessionKind::Link),
        "manage" => Ok(SessionKind::Manage),
        other => Err(corrupt("kind", format!("unknown session kind `{other}`"))),
    }
}

fn browser_from(row: &SqliteRow) -> Result<BrowserSession> {
    let kind = kind_from(row)?;
    Ok(BrowserSession {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        company_id: row.id("company_id")?,
        kind,
        link_session_id: row.opt_id("link_session_id")?,
        token_hash: TokenHash(row.text("token_hash")?),
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
    })
}

fn flow_from(row: &SqliteRow) -> Result<OAuthFlow> {
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

pub(crate) async fn create_link_session(write: &SqlitePool, s: &LinkSession) -> Result<()> {
    sqlx::query(concat!(
        "insert into link_sessions (",
        link_cols!(),
        ") values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(s.id.to_string())
    .bind(s.tenant_id.to_string())
    .bind(s.company_id.to_string())
    .bind(s.kind.as_str())
    .bind(&s.token_hash.0)
    .bind(s.locale.map(Locale::as_str))
    .bind(to_json(&s.categories)?)
    .bind(&s.return_url)
    .bind(micros(s.created_at))
    .bind(micros(s.expires_at))
    .bind(opt_micros(s.used_at))
    .execute(write)
    .await
    .map_err(db)?;
    Ok(())
}

async fn insert_browser(conn: &mut SqliteConnection, s: &BrowserSession) -> Result<()> {
    sqlx::query(concat!(
        "insert into browser_sessions (",
        browser_cols!(),
        ") values (?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(s.id.to_string())
    .bind(s.tenant_id.to_string())
    .bind(s.company_id.to_string())
    .bind(s.kind.as_str())
    .bind(s.link_session_id.map(|i| i.to_string()))
    .bind(&s.token_hash.0)
    .bind(micros(s.created_at))
    .bind(micros(s.expires_at))
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Marks the link session used and opens the browser session in one transaction. The browser
/// session's owner and link are taken from the link session itself: the caller cannot know
/// them before the token is consumed, and must not be able to bind it elsewhere. A manage link
/// opens only a manage session, a flow link only a flow session.
pub(crate) async fn consume_link_session(
    write: &SqlitePool,
    token_hash: &TokenHash,
    now: OffsetDateTime,
    browser: &BrowserSession,
) -> Result<Option<LinkSession>> {
    let mut tx = begin(write).await?;
    let row = sqlx::query(concat!(
        "update link_sessions set used_at = ?1
         where token_hash = ?2 and kind = ?3 and used_at is null and expires_at > ?1 and ",
        company_live!("link_sessions"),
        " returning ",
        link_cols!()
    ))
    .bind(micros(now))
    .bind(&token_hash.0)
    .bind(browser.kind.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
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

pub(crate) async fn link_session(
    read: &SqlitePool,
    tenant: TenantId,
    id: LinkSessionId,
) -> Result<Option<LinkSession>> {
    sqlx::query(concat!(
        "select ",
        link_cols!(),
        " from link_sessions where tenant_id = ? and id = ?"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| link_from(&r))
    .transpose()
}

pub(crate) async fn create_browser_session(write: &SqlitePool, s: &BrowserSession) -> Result<()> {
    let mut conn = write.acquire().await.map_err(db)?;
    insert_browser(&mut conn, s).await
}

pub(crate) async fn browser_session(
    read: &SqlitePool,
    token_hash: &TokenHash,
    kind: SessionKind,
    now: OffsetDateTime,
) -> Result<Option<BrowserSession>> {
    sqlx::query(concat!(
        "select ",
        browser_cols!(),
        " from browser_sessions where token_hash = ? and kind = ? and expires_at > ? and ",
        company_live!("browser_sessions")
    ))
    .bind(&token_hash.0)
    .bind(kind.as_str())
    .bind(micros(now))
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| browser_from(&r))
    .transpose()
}

pub(crate) async fn insert_oauth_flow(conn: &mut SqliteConnection, f: &OAuthFlow) -> Result<()> {
    sqlx::query(concat!(
        "insert into oauth_flows (",
        flow_cols!(),
        ") values (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&f.state_hash.0)
    .bind(f.tenant_id.to_string())
    .bind(f.browser_session_id.to_string())
    .bind(f.connection_id.to_string())
    .bind(f.platform_key.as_str())
    .bind(&f.pkce_verifier_ct)
    .bind(&f.redirect_uri)
    .bind(micros(f.created_at))
    .bind(micros(f.expires_at))
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn create_oauth_flow(write: &SqlitePool, f: &OAuthFlow) -> Result<()> {
    let mut conn = write.acquire().await.map_err(db)?;
    insert_oauth_flow(&mut conn, f).await
}

/// Deletes and returns the flow in one statement; a wrong browser session or an expired flow
/// matches nothing and leaves the row as it was (an attacker's attempt does not burn it).
pub(crate) async fn consume_oauth_flow(
    write: &SqlitePool,
    state_hash: &TokenHash,
    session: BrowserSessionId,
    now: OffsetDateTime,
) -> Result<Option<OAuthFlow>> {
    sqlx::query(concat!(
        "delete from oauth_flows where state_hash = ? and browser_session_id = ? and expires_at > ? returning ",
        flow_cols!()
    ))
    .bind(&state_hash.0)
    .bind(session.to_string())
    .bind(micros(now))
    .fetch_optional(write)
    .await
    .map_err(db)?
    .map(|r| flow_from(&r))
    .transpose()
}
