//! The hosted flow's single-use artifacts ([`FlowStore`]): link sessions, browser sessions and
//! OAuth state. Each is found by the hash of its secret and consumed by one conditional
//! statement on the single writer, so two racing requests cannot both use it, and each is
//! bound to what it was issued for.

use crate::codec::{exec, micros, one, opt_micros, to_json, RowExt};
use crate::error::corrupt;
use crate::SqliteStore;
use accord_domain::crypto::TokenHash;
use accord_domain::flow::{BrowserSession, LinkSession, ManageLink, OAuthFlow, SessionKind};
use accord_domain::ids::{BrowserSessionId, CompanyId, LinkSessionId, TenantId};
use accord_domain::locale::Locale;
use accord_store::{FlowStore, Result};
use async_trait::async_trait;
use rusqlite::{params, Connection, Row};
use time::OffsetDateTime;

macro_rules! link_cols {
    () => {
        "id, tenant_id, company_id, kind, token_hash, locale, categories, return_url, created_at, \
         expires_at, used_at"
    };
}

macro_rules! browser_cols {
    () => {
        "id, tenant_id, company_id, kind, link_session_id, token_hash, created_at, expires_at"
    };
}

macro_rules! flow_cols {
    () => {
        "state_hash, tenant_id, browser_session_id, connection_id, platform_key, \
         pkce_verifier_ct, redirect_uri, created_at, expires_at"
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

fn link_from(row: &Row<'_>) -> Result<LinkSession> {
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

fn manage_link_from(row: &Row<'_>) -> Result<ManageLink> {
    Ok(ManageLink {
        tenant_id: row.id("tenant_id")?,
        company_id: row.id("company_id")?,
        token_hash: TokenHash(row.text("token_hash")?),
        created_at: row.time("created_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}

const MANAGE_LINK_COLS: &str = "token_hash, tenant_id, company_id, created_at, revoked_at";

fn kind_from(row: &Row<'_>) -> Result<SessionKind> {
    match row.text("kind")?.as_str() {
        "link" => Ok(SessionKind::Link),
        "manage" => Ok(SessionKind::Manage),
        other => Err(corrupt("kind", format!("unknown session kind `{other}`"))),
    }
}

fn browser_from(row: &Row<'_>) -> Result<BrowserSession> {
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

fn flow_from(row: &Row<'_>) -> Result<OAuthFlow> {
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

fn insert_browser(db: &Connection, s: &BrowserSession) -> Result<()> {
    exec(
        db,
        concat!(
            "insert into browser_sessions (",
            browser_cols!(),
            ") values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        ),
        params![
            s.id.to_string(),
            s.tenant_id.to_string(),
            s.company_id.to_string(),
            s.kind.as_str(),
            s.link_session_id.map(|i| i.to_string()),
            s.token_hash.0,
            micros(s.created_at),
            micros(s.expires_at),
        ],
    )?;
    Ok(())
}

/// Stores a personal manage link, in the caller's transaction.
pub(crate) fn insert_manage_link(db: &rusqlite::Connection, l: &ManageLink) -> Result<()> {
    exec(
        db,
        "insert into manage_links (token_hash, tenant_id, company_id, created_at, revoked_at)
         values (?1, ?2, ?3, ?4, ?5)",
        params![
            l.token_hash.0,
            l.tenant_id.to_string(),
            l.company_id.to_string(),
            micros(l.created_at),
            opt_micros(l.revoked_at),
        ],
    )?;
    Ok(())
}

#[async_trait]
impl FlowStore for SqliteStore {
    async fn create_manage_link(&self, link: &ManageLink) -> Result<()> {
        let l = link.clone();
        self.write
            .transaction(move |db| insert_manage_link(db, &l))
            .await
    }

    async fn manage_link(&self, token_hash: &TokenHash) -> Result<Option<ManageLink>> {
        let token_hash = token_hash.0.clone();
        self.read
            .run_point(move |db| {
                one(
                    db,
                    &format!(
                        "select {MANAGE_LINK_COLS} from manage_links
                         where token_hash = ?1 and revoked_at is null and {}",
                        company_live!("manage_links")
                    ),
                    [token_hash],
                    manage_link_from,
                )
            })
            .await
    }

    async fn use_manage_link(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<ManageLink>> {
        let token_hash = token_hash.0.clone();
        self.write
            .transaction(move |tx| {
                one(
                    tx,
                    &format!(
                        "update manage_links set revoked_at = ?1
                         where token_hash = ?2 and revoked_at is null and {}
                         returning token_hash, tenant_id, company_id, created_at,
                             null as revoked_at",
                        company_live!("manage_links")
                    ),
                    params![micros(now), token_hash],
                    manage_link_from,
                )
            })
            .await
    }

    async fn revoke_manage_links(
        &self,
        tenant: TenantId,
        company: CompanyId,
        now: OffsetDateTime,
    ) -> Result<u64> {
        self.write
            .transaction(move |tx| {
                let n = exec(
                    tx,
                    "update manage_links set revoked_at = ?1
                     where tenant_id = ?2 and company_id = ?3 and revoked_at is null",
                    params![micros(now), tenant.to_string(), company.to_string()],
                )?;
                Ok(n as u64)
            })
            .await
    }

    async fn create_link_session(&self, session: &LinkSession) -> Result<()> {
        let s = session.clone();
        let categories = to_json(&s.categories)?;
        self.write
            .transaction(move |db| {
                exec(
                    db,
                    concat!(
                        "insert into link_sessions (",
                        link_cols!(),
                        ") values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                    ),
                    params![
                        s.id.to_string(),
                        s.tenant_id.to_string(),
                        s.company_id.to_string(),
                        s.kind.as_str(),
                        s.token_hash.0,
                        s.locale.map(Locale::as_str),
                        categories,
                        s.return_url,
                        micros(s.created_at),
                        micros(s.expires_at),
                        opt_micros(s.used_at),
                    ],
                )?;
                Ok(())
            })
            .await
    }

    /// Marks the link session used and opens the browser session in one transaction. The
    /// browser session's owner and link are taken from the link session itself: the caller
    /// cannot know them before the token is consumed, and must not be able to bind it
    /// elsewhere. A manage link opens only a manage session, a flow link only a flow session.
    async fn consume_link_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
        browser: &BrowserSession,
    ) -> Result<Option<LinkSession>> {
        let (token_hash, browser) = (token_hash.0.clone(), browser.clone());
        self.write
            .transaction(move |tx| {
                let link = one(
                    tx,
                    concat!(
                        "update link_sessions set used_at = ?1
                         where token_hash = ?2 and kind = ?3 and used_at is null
                             and expires_at > ?1 and ",
                        company_live!("link_sessions"),
                        " returning ",
                        link_cols!()
                    ),
                    params![micros(now), token_hash, browser.kind.as_str()],
                    link_from,
                )?;
                let Some(link) = link else { return Ok(None) };
                let bound = BrowserSession {
                    tenant_id: link.tenant_id,
                    company_id: link.company_id,
                    link_session_id: Some(link.id),
                    ..browser
                };
                insert_browser(tx, &bound)?;
                Ok(Some(link))
            })
            .await
    }

    async fn link_session(
        &self,
        tenant: TenantId,
        id: LinkSessionId,
    ) -> Result<Option<LinkSession>> {
        self.read
            .run_point(move |db| {
                one(
                    db,
                    concat!(
                        "select ",
                        link_cols!(),
                        " from link_sessions where tenant_id = ?1 and id = ?2"
                    ),
                    [tenant.to_string(), id.to_string()],
                    link_from,
                )
            })
            .await
    }

    async fn link_session_by_token(&self, token_hash: &TokenHash) -> Result<Option<LinkSession>> {
        let token_hash = token_hash.0.clone();
        self.read
            .run_point(move |db| {
                one(
                    db,
                    concat!(
                        "select ",
                        link_cols!(),
                        " from link_sessions where token_hash = ?1"
                    ),
                    [token_hash],
                    link_from,
                )
            })
            .await
    }

    async fn create_browser_session(&self, session: &BrowserSession) -> Result<()> {
        let s = session.clone();
        self.write
            .transaction(move |db| insert_browser(db, &s))
            .await
    }

    async fn browser_session(
        &self,
        token_hash: &TokenHash,
        kind: SessionKind,
        now: OffsetDateTime,
    ) -> Result<Option<BrowserSession>> {
        let token_hash = token_hash.0.clone();
        self.read
            .run_point(move |db| {
                one(
                    db,
                    concat!(
                        "select ",
                        browser_cols!(),
                        " from browser_sessions
                         where token_hash = ?1 and kind = ?2 and expires_at > ?3 and ",
                        company_live!("browser_sessions")
                    ),
                    params![token_hash, kind.as_str(), micros(now)],
                    browser_from,
                )
            })
            .await
    }

    async fn end_browser_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let token_hash = token_hash.0.clone();
        self.write
            .transaction(move |tx| {
                let link: Option<Option<String>> = one(
                    tx,
                    "update browser_sessions set expires_at = ?1
                     where token_hash = ?2 and expires_at > ?1
                     returning link_session_id",
                    params![micros(now), token_hash],
                    |row| row.opt_text("link_session_id"),
                )?;
                let Some(link) = link else { return Ok(false) };
                if let Some(link) = link {
                    exec(
                        tx,
                        "update link_sessions set used_at = null
                         where id = ?1 and expires_at > ?2",
                        params![link, micros(now)],
                    )?;
                }
                Ok(true)
            })
            .await
    }

    async fn create_oauth_flow(&self, flow: &OAuthFlow) -> Result<()> {
        let f = flow.clone();
        self.write
            .transaction(move |db| {
                exec(
                    db,
                    concat!(
                        "insert into oauth_flows (",
                        flow_cols!(),
                        ") values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                    ),
                    params![
                        f.state_hash.0,
                        f.tenant_id.to_string(),
                        f.browser_session_id.to_string(),
                        f.connection_id.to_string(),
                        f.platform_key.as_str(),
                        f.pkce_verifier_ct,
                        f.redirect_uri,
                        micros(f.created_at),
                        micros(f.expires_at),
                    ],
                )?;
                Ok(())
            })
            .await
    }

    /// Deletes and returns the flow in one statement; a wrong browser session or an expired
    /// flow matches nothing and leaves the row as it was (an attacker's attempt does not burn
    /// it).
    async fn consume_oauth_flow(
        &self,
        state_hash: &TokenHash,
        session: BrowserSessionId,
        now: OffsetDateTime,
    ) -> Result<Option<OAuthFlow>> {
        let state_hash = state_hash.0.clone();
        self.write
            .transaction(move |db| {
                one(
                    db,
                    concat!(
                        "delete from oauth_flows
                         where state_hash = ?1 and browser_session_id = ?2 and expires_at > ?3
                         returning ",
                        flow_cols!()
                    ),
                    params![state_hash, session.to_string(), micros(now)],
                    flow_from,
                )
            })
            .await
    }
}
