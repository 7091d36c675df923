//! The consent action's writes for a whole group-commit batch in a few statements per table
//! (connections, consents, OAuth flows, superseded consents, ledger events, outbox rows),
//! whatever the batch size: multi-row statements with bound columns (`values.rs`), so a batch
//! costs a few round trips to the connection's thread instead of a few per request — those
//! round trips, not SQLite, were the cost of a consent (see `writer.rs`).
//!
//! Each request's column values are made by the caller's own task before the request is queued
//! ([`Prepared`]): the writer, which every consent of the process waits for in turn, only binds
//! them, chains the ledger events and runs the statements.
//!
//! The stored values are exactly those of the one-request path (`connections::apply_consent`):
//! same id text, same microseconds, the same JSON documents.

use crate::codec::{micros, opt_micros, to_json};
use crate::values::Values;
use accord_domain::ledger::{ChainedEvent, EventTemplate};
use accord_domain::outbox::WebhookEvent;
use accord_store::{ConsentWrite, Result};
use sqlx::SqliteConnection;
use std::collections::HashSet;
use std::sync::LazyLock;

/// A consent write with the column values the batch statements bind, made by the caller's
/// task: ids as text, documents as JSON, its ledger event's template (`ledger::template`) and
/// its two possible outbox rows.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) write: ConsentWrite,
    event: EventTemplate,
    connection_id: String,
    tenant_id: String,
    company_id: String,
    consent_id: String,
    notice_version_id: String,
    /// The connection's current consent (`connections.consent_id`).
    connection_consent_id: Option<String>,
    connection_data_uses: String,
    consent_data_uses: String,
    evidence: String,
    /// The OAuth flow's browser session and connection ids.
    flow_ids: Option<(String, String, String)>,
    /// `connection.created`, written only if the batch creates the connection.
    created: crate::webhooks::OutboxRow,
    /// `consent.given`.
    given: crate::webhooks::OutboxRow,
}

impl Prepared {
    pub(crate) fn new(write: ConsentWrite) -> Result<Self> {
        let event = crate::ledger::template(write.consent.tenant_id, write.event.clone())?;
        let (c, k) = (&write.connection, &write.consent);
        let at = k.given_at;
        let created = WebhookEvent::connection("connection.created", c, at).into();
        let given = WebhookEvent::consent("consent.given", k, None, at).into();
        Ok(Self {
            event,
            connection_id: c.id.to_string(),
            tenant_id: c.tenant_id.to_string(),
            company_id: c.company_id.to_string(),
            consent_id: k.id.to_string(),
            notice_version_id: k.notice_version_id.to_string(),
            connection_consent_id: c.consent_id.map(|i| i.to_string()),
            connection_data_uses: to_json(&c.data_uses)?,
            consent_data_uses: to_json(&k.data_uses)?,
            evidence: to_json(&k.evidence)?,
            flow_ids: write.oauth_flow.as_ref().map(|f| {
                (
                    f.tenant_id.to_string(),
                    f.browser_session_id.to_string(),
                    f.connection_id.to_string(),
                )
            }),
            created,
            given,
            write,
        })
    }
}

/// Same upsert as `connections::apply_consent`; rows are applied in batch order.
static UPSERT_CONNECTIONS: LazyLock<Values> = LazyLock::new(|| {
    Values::new(
        "insert into connections (id, tenant_id, company_id, platform_key, status, data_uses, consent_id,
             granted_scope, last_error, created_at, updated_at, linked_at, disconnected_at) values",
        13,
        "on conflict do update set
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
});

static INSERT_CONSENTS: LazyLock<Values> = LazyLock::new(|| {
    Values::new(
        "insert into consents (id, tenant_id, company_id, connection_id, platform_key, category,
             notice_version_id, notice_version, locale, data_uses, notice_text, notice_sha256,
             evidence, given_at, withdrawn_at) values",
        15,
        "",
    )
});

static INSERT_FLOWS: LazyLock<Values> = LazyLock::new(|| {
    Values::new(
        "insert into oauth_flows (state_hash, tenant_id, browser_session_id, connection_id,
             platform_key, pkce_verifier_ct, redirect_uri, created_at, expires_at) values",
        9,
        "",
    )
});

/// Applies every write of the batch in the caller's transaction and returns each one's chained
/// ledger event, in batch order. `Ok(None)` when some write must fail on its own (a connection
/// id of another owner, owners that disagree); any error or `None` means the caller rolls back
/// and replays the batch request by request.
pub(crate) async fn apply_all(
    conn: &mut SqliteConnection,
    batch: &[&Prepared],
) -> Result<Option<Vec<ChainedEvent>>> {
    if !batch
        .iter()
        .all(|p| crate::connections::consistent(&p.write))
    {
        return Ok(None);
    }
    // Connections that exist before this batch: a connection is created by the first write of
    // the batch that names it if it did not exist (`connection.created`); a later write naming
    // it finds it.
    let existing =
        crate::connections::existing(&mut *conn, batch.iter().map(|p| p.connection_id.as_str()))
            .await?;
    let mut seen = HashSet::with_capacity(batch.len());
    let created: Vec<bool> = batch
        .iter()
        .map(|p| seen.insert(p.connection_id.as_str()) && !existing.contains(&p.connection_id))
        .collect();

    let upserted = UPSERT_CONNECTIONS
        .run(&mut *conn, batch, |q, p| {
            let c = &p.write.connection;
            q.bind(p.connection_id.as_str())
                .bind(p.tenant_id.as_str())
                .bind(p.company_id.as_str())
                .bind(c.platform_key.as_str())
                .bind(c.status.as_str())
                .bind(p.connection_data_uses.as_str())
                .bind(p.connection_consent_id.as_deref())
                .bind(c.granted_scope.as_deref())
                .bind(c.last_error.as_deref())
                .bind(micros(c.created_at))
                .bind(micros(c.updated_at))
                .bind(opt_micros(c.linked_at))
                .bind(opt_micros(c.disconnected_at))
        })
        .await?;
    if upserted.len() != batch.len() {
        return Ok(None);
    }
    INSERT_CONSENTS
        .run(&mut *conn, batch, |q, p| {
            let k = &p.write.consent;
            q.bind(p.consent_id.as_str())
                .bind(p.tenant_id.as_str())
                .bind(p.company_id.as_str())
                .bind(p.connection_id.as_str())
                .bind(k.platform_key.as_str())
                .bind(k.category.as_str())
                .bind(p.notice_version_id.as_str())
                .bind(k.notice_version)
                .bind(k.locale.as_str())
                .bind(p.consent_data_uses.as_str())
                .bind(k.notice_text.as_str())
                .bind(k.notice_sha256.as_str())
                .bind(p.evidence.as_str())
                .bind(micros(k.given_at))
                .bind(opt_micros(k.withdrawn_at))
        })
        .await?;
    let flows: Vec<&Prepared> = batch
        .iter()
        .copied()
        .filter(|p| p.write.oauth_flow.is_some())
        .collect();
    INSERT_FLOWS
        .run(&mut *conn, &flows, |q, p| {
            let (Some(f), Some((tenant, browser, connection))) = (&p.write.oauth_flow, &p.flow_ids)
            else {
                unreachable!("only writes with an OAuth flow are bound here")
            };
            q.bind(f.state_hash.0.as_str())
                .bind(tenant.as_str())
                .bind(browser.as_str())
                .bind(connection.as_str())
                .bind(f.platform_key.as_str())
                .bind(f.pkce_verifier_ct.as_str())
                .bind(f.redirect_uri.as_str())
                .bind(micros(f.created_at))
                .bind(micros(f.expires_at))
        })
        .await?;
    // Consents still in force on these connections are superseded by the new ones. Only a
    // connection that existed before its write can have any: the common batch, all new
    // connections, has none to look for.
    for (p, _) in batch.iter().zip(&created).filter(|(_, &created)| !created) {
        crate::connections::supersede(&mut *conn, &p.write).await?;
    }
    let events =
        crate::ledger::append_batch(&mut *conn, batch.iter().map(|p| p.event.clone()).collect())
            .await?;
    let outbox: Vec<&crate::webhooks::OutboxRow> = batch
        .iter()
        .zip(&created)
        .flat_map(|(p, &created)| {
            created
                .then_some(&p.created)
                .into_iter()
                .chain(std::iter::once(&p.given))
        })
        .collect();
    crate::webhooks::insert_rows(conn, &outbox).await?;
    Ok(Some(events))
}
