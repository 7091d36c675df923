//! The consent action's writes for a whole group-commit batch in three statements (connections,
//! consents, OAuth flows), whatever the batch size. Each statement reads its rows from one JSON
//! array parameter through `json_each`, so its text is constant (one prepared statement) and a
//! batch costs three round trips to the connection's thread instead of three per request: those
//! round trips, not SQLite, were the cost of a consent (see `writer.rs`).
//!
//! The stored values are exactly those of the one-request path (`connections::apply_consent`):
//! same id text, same microseconds, the same JSON documents (carried as strings).

use crate::codec::{micros, opt_micros, to_json};
use crate::error::db;
use accord_domain::ids::{
    BrowserSessionId, CompanyId, ConnectionId, ConsentId, NoticeVersionId, TenantId,
};
use accord_domain::ledger::EventTemplate;
use accord_store::{ConsentWrite, Result};
use serde::Serialize;
use sqlx::SqliteConnection;

#[derive(Serialize)]
struct ConnectionRow<'a> {
    id: ConnectionId,
    tenant_id: TenantId,
    company_id: CompanyId,
    platform_key: &'a str,
    status: &'static str,
    data_uses: String,
    consent_id: Option<ConsentId>,
    granted_scope: Option<&'a str>,
    last_error: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
    linked_at: Option<i64>,
    disconnected_at: Option<i64>,
}

#[derive(Serialize)]
struct ConsentRow<'a> {
    id: ConsentId,
    tenant_id: TenantId,
    company_id: CompanyId,
    connection_id: ConnectionId,
    platform_key: &'a str,
    category: &'static str,
    notice_version_id: NoticeVersionId,
    notice_version: i64,
    locale: &'static str,
    data_uses: String,
    notice_text: &'a str,
    notice_sha256: &'a str,
    evidence: String,
    given_at: i64,
    withdrawn_at: Option<i64>,
}

#[derive(Serialize)]
struct FlowRow<'a> {
    state_hash: &'a str,
    tenant_id: TenantId,
    browser_session_id: BrowserSessionId,
    connection_id: ConnectionId,
    platform_key: &'a str,
    pkce_verifier_ct: &'a str,
    redirect_uri: &'a str,
    created_at: i64,
    expires_at: i64,
}

/// Applies every write of the batch in the caller's transaction. `Ok(false)` when some write
/// must fail on its own (a connection id of another owner, owners that disagree); any error or
/// `false` means the caller rolls back and replays the batch request by request.
pub(crate) async fn apply_all(
    conn: &mut SqliteConnection,
    writes: &[&ConsentWrite],
    events: Vec<EventTemplate>,
) -> Result<bool> {
    if !writes.iter().all(|w| crate::connections::consistent(w)) {
        return Ok(false);
    }
    let mut connections = Vec::with_capacity(writes.len());
    let mut consents = Vec::with_capacity(writes.len());
    let mut flows = Vec::new();
    for w in writes {
        let (c, k) = (&w.connection, &w.consent);
        connections.push(ConnectionRow {
            id: c.id,
            tenant_id: c.tenant_id,
            company_id: c.company_id,
            platform_key: c.platform_key.as_str(),
            status: c.status.as_str(),
            data_uses: to_json(&c.data_uses)?,
            consent_id: c.consent_id,
            granted_scope: c.granted_scope.as_deref(),
            last_error: c.last_error.as_deref(),
            created_at: micros(c.created_at),
            updated_at: micros(c.updated_at),
            linked_at: opt_micros(c.linked_at),
            disconnected_at: opt_micros(c.disconnected_at),
        });
        consents.push(ConsentRow {
            id: k.id,
            tenant_id: k.tenant_id,
            company_id: k.company_id,
            connection_id: k.connection_id,
            platform_key: k.platform_key.as_str(),
            category: k.category.as_str(),
            notice_version_id: k.notice_version_id,
            notice_version: k.notice_version,
            locale: k.locale.as_str(),
            data_uses: to_json(&k.data_uses)?,
            notice_text: &k.notice_text,
            notice_sha256: &k.notice_sha256,
            evidence: to_json(&k.evidence)?,
            given_at: micros(k.given_at),
            withdrawn_at: opt_micros(k.withdrawn_at),
        });
        if let Some(f) = &w.oauth_flow {
            flows.push(FlowRow {
                state_hash: &f.state_hash.0,
                tenant_id: f.tenant_id,
                browser_session_id: f.browser_session_id,
                connection_id: f.connection_id,
                platform_key: f.platform_key.as_str(),
                pkce_verifier_ct: &f.pkce_verifier_ct,
                redirect_uri: &f.redirect_uri,
                created_at: micros(f.created_at),
                expires_at: micros(f.expires_at),
            });
        }
    }

    // Connections that exist before this batch: the others are created by it
    // (`connection.created`).
    let ids: Vec<ConnectionId> = writes.iter().map(|w| w.connection.id).collect();
    let existing: Vec<String> = sqlx::query_scalar(
        "select value from json_each(?) where value in (select id from connections)",
    )
    .bind(to_json(&ids)?)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    // Same upsert as `connections::apply_consent`; rows are applied in batch order.
    let upserted: Vec<String> = sqlx::query_scalar(
        "insert into connections (id, tenant_id, company_id, platform_key, status, data_uses, consent_id,
             granted_scope, last_error, created_at, updated_at, linked_at, disconnected_at)
         select j.value ->> '$.id', j.value ->> '$.tenant_id', j.value ->> '$.company_id',
             j.value ->> '$.platform_key', j.value ->> '$.status', j.value ->> '$.data_uses',
             j.value ->> '$.consent_id', j.value ->> '$.granted_scope', j.value ->> '$.last_error',
             j.value ->> '$.created_at', j.value ->> '$.updated_at', j.value ->> '$.linked_at',
             j.value ->> '$.disconnected_at'
         from json_each(?) j where true
         on conflict do update set
             status = excluded.status,
             data_uses = excluded.data_uses,
             consent_id = excluded.consent_id,
             granted_scope = excluded.granted_scope,
             last_error = excluded.last_error,
             updated_at = excluded.updated_at,
             linked_at = excluded.linked_at,
             disconnected_at = excluded.disconnected_at
         where connections.tenant_id = excluded.tenant_id
             and connections.company_id = excluded.company_id
             and connections.platform_key = excluded.platform_key
             and connections.status <> 'disconnected'
         returning id",
    )
    .bind(to_json(&connections)?)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    if upserted.len() != writes.len() {
        return Ok(false);
    }
    sqlx::query(
        "insert into consents (id, tenant_id, company_id, connection_id, platform_key, category, notice_version_id,
             notice_version, locale, data_uses, notice_text, notice_sha256, evidence, given_at, withdrawn_at)
         select j.value ->> '$.id', j.value ->> '$.tenant_id', j.value ->> '$.company_id',
             j.value ->> '$.connection_id', j.value ->> '$.platform_key', j.value ->> '$.category',
             j.value ->> '$.notice_version_id', j.value ->> '$.notice_version', j.value ->> '$.locale',
             j.value ->> '$.data_uses', j.value ->> '$.notice_text', j.value ->> '$.notice_sha256',
             j.value ->> '$.evidence', j.value ->> '$.given_at', j.value ->> '$.withdrawn_at'
         from json_each(?) j",
    )
    .bind(to_json(&consents)?)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if !flows.is_empty() {
        sqlx::query(
            "insert into oauth_flows (state_hash, tenant_id, browser_session_id, connection_id, platform_key,
                 pkce_verifier_ct, redirect_uri, created_at, expires_at)
             select j.value ->> '$.state_hash', j.value ->> '$.tenant_id', j.value ->> '$.browser_session_id',
                 j.value ->> '$.connection_id', j.value ->> '$.platform_key', j.value ->> '$.pkce_verifier_ct',
                 j.value ->> '$.redirect_uri', j.value ->> '$.created_at', j.value ->> '$.expires_at'
             from json_each(?) j",
        )
        .bind(to_json(&flows)?)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    // Consents still in force on these connections are superseded by the new ones.
    let supersede: Vec<serde_json::Value> = writes
        .iter()
        .map(|w| {
            serde_json::json!({
                "tenant_id": w.consent.tenant_id, "connection_id": w.consent.connection_id,
                "id": w.consent.id, "at": micros(w.consent.given_at),
            })
        })
        .collect();
    sqlx::query(
        "update consents set withdrawn_at = s.value ->> '$.at'
         from json_each(?) s
         where consents.tenant_id = s.value ->> '$.tenant_id'
             and consents.connection_id = s.value ->> '$.connection_id'
             and consents.withdrawn_at is null
             and consents.id < s.value ->> '$.id'",
    )
    .bind(to_json(&supersede)?)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    crate::ledger::append_batch(&mut *conn, events).await?;
    let mut outbox = Vec::with_capacity(writes.len() * 2);
    for w in writes {
        let created = !existing.contains(&w.connection.id.to_string());
        outbox.extend(crate::connections::consent_webhooks(w, created));
    }
    crate::webhooks::insert_events(conn, &outbox).await?;
    Ok(true)
}
