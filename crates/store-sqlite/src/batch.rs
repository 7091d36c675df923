//! The consent action's writes for a group-commit batch, run straight on the writer connection.
//!
//! The group-commit writer (`writer.rs`) takes the SQLite handle of the one writer connection
//! from sqlx for the length of a batch (`SqliteConnection::lock_handle`) and runs the whole
//! batch here, on its own thread, through rusqlite: `begin immediate`, a few single-row
//! statements per request (prepared once per batch), `commit`. Through sqlx each statement is a
//! round trip to the connection's worker thread and each returned row another hand-over; with
//! some forty of them per batch and the writer task queued behind every caller of the process
//! at each one, those waits, not SQLite, were most of a batch's time (about 26 ms for 170
//! consents at 256 concurrent callers, of which SQLite itself needed a third).
//!
//! Each request's column values are made by the caller's own task before the request is queued
//! ([`Prepared`]): the writer, which every consent of the process waits for in turn, only binds
//! them, chains the ledger events and steps the statements.
//!
//! The rows written are those every other path writes and reads: same id text, same
//! microseconds, the same JSON documents, the same canonical ledger text.

use crate::codec::{micros, opt_micros, to_json};
use crate::error::sqlite;
use crate::webhooks::OutboxRow;
use accord_domain::ids::TenantId;
use accord_domain::ledger::{ChainedEvent, EventTemplate};
use accord_domain::outbox::WebhookEvent;
use accord_store::{ConsentWrite, Result, StoreError};
use rusqlite::{params, Connection, OptionalExtension as _, Statement};
use std::collections::HashMap;

/// A consent write with the column values its statements bind, made by the caller's task: ids
/// as text, documents as JSON, its ledger event's template (`ledger::template`) and its two
/// possible outbox rows.
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
    /// `connection.created`, written only if the write creates the connection.
    created: OutboxRow,
    /// `consent.given`.
    given: OutboxRow,
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

/// The upsert every consent makes of its connection: inserted, or updated when its id exists
/// for the same tenant, company and platform and it was not disconnected. No conflict target:
/// the only unique keys of `connections` are `id` and `(tenant_id, id)`, and the `where` keeps
/// the update to the owner's own row, so an id of anyone else's returns nothing.
const UPSERT_CONNECTION: &str = "insert into connections (id, tenant_id, company_id, platform_key,
         status, data_uses, consent_id, granted_scope, last_error, created_at, updated_at,
         linked_at, disconnected_at)
     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
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
     returning id";

const INSERT_CONSENT: &str = "insert into consents (id, tenant_id, company_id, connection_id,
         platform_key, category, notice_version_id, notice_version, locale, data_uses,
         notice_text, notice_sha256, evidence, given_at, withdrawn_at)
     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

const INSERT_FLOW: &str = "insert into oauth_flows (state_hash, tenant_id, browser_session_id,
         connection_id, platform_key, pkce_verifier_ct, redirect_uri, created_at, expires_at)
     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Consents still in force on the connection are superseded by the new one.
const SUPERSEDE: &str = "update consents set withdrawn_at = ?1
     where tenant_id = ?2 and connection_id = ?3 and withdrawn_at is null and id < ?4";

const LEDGER_HEAD: &str =
    "select seq, hash from ledger_events where tenant_id = ?1 order by seq desc limit 1";

const INSERT_EVENT: &str = "insert into ledger_events (tenant_id, seq, kind, consent_id, event,
         hash, prev_hash, at)
     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

const INSERT_OUTBOX: &str =
    "insert into webhook_events (id, tenant_id, event_type, body, created_at)
     values (?1, ?2, ?3, ?4, ?5)";

/// The statements of a batch, each prepared once for it (and finalized with it).
pub(crate) struct Statements<'db> {
    connection_exists: Statement<'db>,
    upsert_connection: Statement<'db>,
    insert_consent: Statement<'db>,
    insert_flow: Statement<'db>,
    supersede: Statement<'db>,
    ledger_head: Statement<'db>,
    insert_event: Statement<'db>,
    insert_outbox: Statement<'db>,
    /// The last (position, hash) of each tenant's chain as this transaction has it: read from
    /// the table the first time a tenant appears, then carried from one request to the next.
    heads: HashMap<TenantId, Option<(i64, String)>>,
}

impl<'db> Statements<'db> {
    pub(crate) fn prepare(db: &'db Connection) -> Result<Self> {
        let prepare = |sql: &str| db.prepare(sql).map_err(sqlite);
        Ok(Self {
            connection_exists: prepare("select 1 from connections where id = ?1")?,
            upsert_connection: prepare(UPSERT_CONNECTION)?,
            insert_consent: prepare(INSERT_CONSENT)?,
            insert_flow: prepare(INSERT_FLOW)?,
            supersede: prepare(SUPERSEDE)?,
            ledger_head: prepare(LEDGER_HEAD)?,
            insert_event: prepare(INSERT_EVENT)?,
            insert_outbox: prepare(INSERT_OUTBOX)?,
            heads: HashMap::new(),
        })
    }

    fn head(&mut self, tenant: TenantId) -> Result<Option<(i64, String)>> {
        if let Some(head) = self.heads.get(&tenant) {
            return Ok(head.clone());
        }
        let head = self
            .ledger_head
            .query_row([tenant.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(sqlite)?;
        self.heads.insert(tenant, head.clone());
        Ok(head)
    }
}

/// Applies one consent write in the open transaction and returns its chained ledger event. On
/// `Err` the caller rolls back what this request wrote (its savepoint, or the whole attempt);
/// the chain heads move only once the request has been written whole.
pub(crate) fn apply(st: &mut Statements<'_>, p: &Prepared) -> Result<ChainedEvent> {
    if !crate::connections::consistent(&p.write) {
        return Err(crate::error::backend(
            "inconsistent consent write: consent, connection and OAuth flow disagree on their owner",
        ));
    }
    let (c, k) = (&p.write.connection, &p.write.consent);
    let existed = st
        .connection_exists
        .exists([&p.connection_id])
        .map_err(sqlite)?;
    let upserted: Option<String> = st
        .upsert_connection
        .query_row(
            params![
                p.connection_id,
                p.tenant_id,
                p.company_id,
                c.platform_key.as_str(),
                c.status.as_str(),
                p.connection_data_uses,
                p.connection_consent_id,
                c.granted_scope,
                c.last_error,
                micros(c.created_at),
                micros(c.updated_at),
                opt_micros(c.linked_at),
                opt_micros(c.disconnected_at),
            ],
            |r| r.get(0),
        )
        .optional()
        .map_err(sqlite)?;
    if upserted.is_none() {
        return Err(StoreError::NotFound);
    }
    st.insert_consent
        .execute(params![
            p.consent_id,
            p.tenant_id,
            p.company_id,
            p.connection_id,
            k.platform_key.as_str(),
            k.category.as_str(),
            p.notice_version_id,
            k.notice_version,
            k.locale.as_str(),
            p.consent_data_uses,
            k.notice_text,
            k.notice_sha256,
            p.evidence,
            micros(k.given_at),
            opt_micros(k.withdrawn_at),
        ])
        .map_err(sqlite)?;
    if let (Some(f), Some((tenant, browser, connection))) = (&p.write.oauth_flow, &p.flow_ids) {
        st.insert_flow
            .execute(params![
                f.state_hash.0,
                tenant,
                browser,
                connection,
                f.platform_key.as_str(),
                f.pkce_verifier_ct,
                f.redirect_uri,
                micros(f.created_at),
                micros(f.expires_at),
            ])
            .map_err(sqlite)?;
    }
    // Only a connection that existed before can have a consent in force.
    if existed {
        st.supersede
            .execute(params![
                micros(k.given_at),
                p.tenant_id,
                p.connection_id,
                p.consent_id
            ])
            .map_err(sqlite)?;
    }
    let prev = st.head(k.tenant_id)?;
    let (chained, text) = p
        .event
        .clone()
        .chain(prev.as_ref().map(|(seq, h)| (*seq, h.as_str())));
    let e = &chained.event;
    st.insert_event
        .execute(params![
            p.tenant_id,
            e.seq,
            e.body.kind.as_str(),
            p.consent_id,
            text,
            chained.hash,
            e.prev_hash,
            micros(e.body.at),
        ])
        .map_err(sqlite)?;
    let outbox = (!existed)
        .then_some(&p.created)
        .into_iter()
        .chain([&p.given]);
    for row in outbox {
        st.insert_outbox
            .execute(params![
                row.id,
                row.tenant_id,
                row.event_type,
                row.body,
                row.created_at
            ])
            .map_err(sqlite)?;
    }
    st.heads
        .insert(k.tenant_id, Some((e.seq, chained.hash.clone())));
    Ok(chained)
}
