//! Consent records ([`ConsentStore`]): given with their connection (the consent action, written
//! by the writer's group commit, `writer.rs`, through [`Statements::apply`]), superseded,
//! withdrawn with a disconnect, expired.
//!
//! Each consent write's column values are made by the caller's own task before it is queued
//! ([`Prepared`]): the writer thread, which every consent of the process waits for in turn, only
//! binds them, chains the ledger events and steps the statements.
//!
//! Expiry, and the warning ahead of it, are [`expiry`].

use crate::codec::{all, micros, one, opt_micros, to_json, RowExt};
use crate::error::{backend, sqlite};
use crate::webhooks::OutboxRow;
use crate::SqliteStore;
use accord_domain::connection::Connection as ConnectionRow;
use accord_domain::consent::Consent;
use accord_domain::flow::OAuthFlow;
use accord_domain::ids::{CompanyId, ConnectionId, ConsentId, TenantId};
use accord_domain::ledger::{ChainedEvent, CompactRange, EventBody, EventTemplate};
use accord_domain::outbox::WebhookEvent;
use accord_store::{ConsentStore, ConsentWrite, Result, StoreError};
use async_trait::async_trait;
use rusqlite::{params, CachedStatement, Connection, Row};
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// The columns [`consent_from`] reads.
macro_rules! consent_cols {
    () => {
        "id, tenant_id, company_id, connection_id, platform_key, category, notice_version_id, \
         notice_version, locale, data_uses, notice_text, notice_sha256, evidence, given_at, \
         withdrawn_at"
    };
}

// After the macro, which it uses.
mod expiry;

fn consent_from(row: &Row<'_>) -> Result<Consent> {
    Ok(Consent {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        company_id: row.id("company_id")?,
        connection_id: row.id("connection_id")?,
        platform_key: row.platform("platform_key")?,
        category: row.parsed("category")?,
        notice_version_id: row.id("notice_version_id")?,
        notice_version: row.int("notice_version")?,
        locale: row.parsed("locale")?,
        data_uses: row.json("data_uses")?,
        notice_text: row.text("notice_text")?,
        notice_sha256: row.text("notice_sha256")?,
        evidence: row.json("evidence")?,
        given_at: row.time("given_at")?,
        withdrawn_at: row.opt_time("withdrawn_at")?,
    })
}

/// The consent, the connection and the OAuth flow of a write name the same owner and connection.
fn consistent(p: &Prepared) -> bool {
    let (c, k) = (&p.connection, &p.consent);
    let flow_ok = p
        .oauth_flow
        .as_ref()
        .is_none_or(|f| f.tenant_id == c.tenant_id && f.connection_id == c.id);
    k.connection_id == c.id && k.tenant_id == c.tenant_id && k.company_id == c.company_id && flow_ok
}

/// A consent write with the column values its statements bind, made by the caller's task: ids
/// as text, documents as JSON, its ledger event's template and its two possible outbox rows.
#[derive(Debug)]
pub(crate) struct Prepared {
    connection: ConnectionRow,
    consent: Consent,
    oauth_flow: Option<OAuthFlow>,
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
    /// The OAuth flow's tenant, browser session and connection ids.
    flow_ids: Option<(String, String, String)>,
    /// `connection.created`, written only if the write creates the connection.
    created: OutboxRow,
    /// `consent.given`.
    given: OutboxRow,
}

impl Prepared {
    /// Takes the write apart; its ledger event becomes the template.
    pub(crate) fn new(write: ConsentWrite) -> Result<Self> {
        let ConsentWrite {
            connection,
            consent,
            oauth_flow,
            event,
        } = write;
        let event = crate::ledger::template(consent.tenant_id, event)?;
        let (c, k) = (&connection, &consent);
        let at = k.given_at;
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
            flow_ids: oauth_flow.as_ref().map(|f| {
                (
                    f.tenant_id.to_string(),
                    f.browser_session_id.to_string(),
                    f.connection_id.to_string(),
                )
            }),
            created: WebhookEvent::connection("connection.created", c, at).into(),
            given: WebhookEvent::consent("consent.given", k, None, at).into(),
            connection,
            consent,
            oauth_flow,
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

const INSERT_CONSENT: &str = concat!(
    "insert into consents (",
    consent_cols!(),
    ") values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
);

const INSERT_FLOW: &str = "insert into oauth_flows (state_hash, tenant_id, browser_session_id,
         connection_id, platform_key, pkce_verifier_ct, redirect_uri, created_at, expires_at)
     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Consents still in force on the connection are superseded by the new one; each gets its
/// `superseded` event, chained before the new consent's.
const SUPERSEDE: &str = "update consents set withdrawn_at = ?1
     where tenant_id = ?2 and connection_id = ?3 and withdrawn_at is null and id < ?4
     returning id";

/// The statements of a batch, taken from the writer connection's cache for it.
pub(crate) struct Statements<'db> {
    connection_exists: CachedStatement<'db>,
    upsert_connection: CachedStatement<'db>,
    insert_consent: CachedStatement<'db>,
    insert_flow: CachedStatement<'db>,
    ledger_head: CachedStatement<'db>,
    insert_event: CachedStatement<'db>,
    insert_outbox: CachedStatement<'db>,
    insert_node: CachedStatement<'db>,
    /// The last (position, hash) of each tenant's chain as this transaction has it: read from
    /// the table the first time a tenant appears, then carried from one request to the next.
    heads: HashMap<TenantId, Option<(i64, String)>>,
    /// The right edge of each tenant's Merkle tree, at the size of its head in `heads`: read
    /// with the head (popcount(size) stored nodes), then carried the same way.
    trees: HashMap<TenantId, CompactRange>,
    db: &'db Connection,
}

impl<'db> Statements<'db> {
    pub(crate) fn prepare(db: &'db Connection) -> Result<Self> {
        let prepare = |sql: &str| db.prepare_cached(sql).map_err(sqlite);
        Ok(Self {
            connection_exists: prepare("select 1 from connections where id = ?1")?,
            upsert_connection: prepare(UPSERT_CONNECTION)?,
            insert_consent: prepare(INSERT_CONSENT)?,
            insert_flow: prepare(INSERT_FLOW)?,
            ledger_head: prepare(crate::ledger::LEDGER_HEAD)?,
            insert_event: prepare(crate::ledger::INSERT_EVENT)?,
            insert_outbox: prepare(crate::webhooks::INSERT_EVENT)?,
            insert_node: prepare(crate::ledger::INSERT_NODE)?,
            heads: HashMap::new(),
            trees: HashMap::new(),
            db,
        })
    }

    fn head(&mut self, tenant: TenantId, tenant_text: &str) -> Result<Option<(i64, String)>> {
        if let Some(head) = self.heads.get(&tenant) {
            return Ok(head.clone());
        }
        let mut rows = self.ledger_head.query([tenant_text]).map_err(sqlite)?;
        let head = match rows.next().map_err(sqlite)? {
            Some(r) => Some((r.get(0).map_err(sqlite)?, r.get(1).map_err(sqlite)?)),
            None => None,
        };
        let size: i64 = head.as_ref().map_or(0, |(seq, _)| *seq);
        let tree = crate::ledger::compact_range(self.db, tenant_text, size.unsigned_abs())?;
        self.heads.insert(tenant, head.clone());
        self.trees.insert(tenant, tree);
        Ok(head)
    }

    /// Applies one consent write in the open transaction and returns its chained ledger event.
    /// On `Err` the caller rolls back what this request wrote (its savepoint, or the whole
    /// attempt); the chain heads move only once the request has been written whole.
    pub(crate) fn apply(&mut self, p: &Prepared) -> Result<ChainedEvent> {
        if !consistent(p) {
            return Err(backend(
                "inconsistent consent write: consent, connection and OAuth flow disagree on their owner",
            ));
        }
        let existed = self
            .connection_exists
            .exists([&p.connection_id])
            .map_err(sqlite)?;
        self.upsert_connection(p)?;
        self.insert_consent(p)?;
        self.insert_flow(p)?;
        // Only a connection that existed before can have a consent in force.
        let superseded = if existed {
            self.supersede(p)?
        } else {
            Vec::new()
        };
        let (chained, tree) = self.insert_events(p, superseded)?;
        let outbox = (!existed)
            .then_some(&p.created)
            .into_iter()
            .chain([&p.given]);
        for row in outbox {
            self.insert_outbox
                .execute(params![
                    row.id,
                    row.tenant_id,
                    row.event_type,
                    row.body,
                    row.created_at
                ])
                .map_err(sqlite)?;
        }
        let e = &chained.event;
        self.heads
            .insert(e.tenant_id, Some((e.seq, chained.hash.clone())));
        self.trees.insert(e.tenant_id, tree);
        Ok(chained)
    }

    /// The connection inserted or updated; `NotFound` when it is someone else's or was
    /// disconnected.
    fn upsert_connection(&mut self, p: &Prepared) -> Result<()> {
        let c = &p.connection;
        let mut rows = self
            .upsert_connection
            .query(params![
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
            ])
            .map_err(sqlite)?;
        match rows.next().map_err(sqlite)? {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }

    fn insert_consent(&mut self, p: &Prepared) -> Result<()> {
        let k = &p.consent;
        self.insert_consent
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
        Ok(())
    }

    fn insert_flow(&mut self, p: &Prepared) -> Result<()> {
        let (Some(f), Some((tenant, browser, connection))) = (&p.oauth_flow, &p.flow_ids) else {
            return Ok(());
        };
        self.insert_flow
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
        Ok(())
    }

    /// Ends the consents in force on the write's connection and returns their `superseded`
    /// events' templates, in consent id order. Made here, in the writer, because only the
    /// transaction knows which consents were in force; a new connection (the common write)
    /// never comes here.
    fn supersede(&mut self, p: &Prepared) -> Result<Vec<EventTemplate>> {
        let k = &p.consent;
        let ids = all(
            self.db,
            SUPERSEDE,
            params![
                micros(k.given_at),
                p.tenant_id,
                p.connection_id,
                p.consent_id
            ],
            |r| r.id("id"),
        )?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        with_purpose(self.db, k.tenant_id, ids)?
            .iter()
            .map(|(old, purpose)| {
                let body = EventBody::superseded(old, purpose, &p.event.body);
                crate::ledger::template(k.tenant_id, body)
            })
            .collect()
    }

    /// The write's ledger events chained after its tenant's head as this transaction has it:
    /// the `superseded` events first, then the consent's own, which is returned, with the tree's
    /// new right edge once their leaves and nodes are added to the tenant's Merkle tree (the
    /// caller keeps both once the whole request is written).
    fn insert_events(
        &mut self,
        p: &Prepared,
        superseded: Vec<EventTemplate>,
    ) -> Result<(ChainedEvent, CompactRange)> {
        let k = &p.consent;
        let mut prev = self.head(k.tenant_id, &p.tenant_id)?;
        let mut tree = self.trees.get(&k.tenant_id).cloned().unwrap_or_default();
        let mut last = None;
        for template in superseded.into_iter().chain([p.event.clone()]) {
            let (chained, text) = template.chain(prev.as_ref().map(|(seq, h)| (*seq, h.as_str())));
            let e = &chained.event;
            self.insert_event
                .execute(params![
                    p.tenant_id,
                    e.seq,
                    e.body.kind.as_str(),
                    e.body.consent_id.to_string(),
                    text,
                    chained.hash,
                    e.prev_hash,
                    micros(e.body.at),
                ])
                .map_err(sqlite)?;
            crate::ledger::grow(
                &mut self.insert_node,
                &p.tenant_id,
                &mut tree,
                [chained.hash.as_str()],
            )?;
            prev = Some((e.seq, chained.hash.clone()));
            last = Some(chained);
        }
        let chained = last.expect("the consent's own event is always chained");
        Ok((chained, tree))
    }
}

/// A consent with the purpose of its notice version, as its `withdrawn` or `expired` event
/// quotes it.
const CONSENT_WITH_PURPOSE: &str = concat!(
    "select ",
    consent_cols!(),
    ", (select nv.content ->> '$.purpose' from notice_versions nv
         where nv.tenant_id = consents.tenant_id and nv.id = consents.notice_version_id)
         as purpose
     from consents where tenant_id = ?1 and id = ?2"
);

/// The consents just ended (by id), each with its notice version's purpose, in id order.
fn with_purpose(
    db: &Connection,
    tenant: TenantId,
    mut ids: Vec<ConsentId>,
) -> Result<Vec<(Consent, String)>> {
    ids.sort_unstable();
    let tenant = tenant.to_string();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let ended = one(db, CONSENT_WITH_PURPOSE, [&tenant, &id.to_string()], |r| {
            let purpose: Option<String> = r.value("purpose")?;
            Ok((consent_from(r)?, purpose.unwrap_or_default()))
        })?
        .ok_or(StoreError::NotFound)?;
        out.push(ended);
    }
    Ok(out)
}

/// Ends every consent in force on a connection (a disconnect), in the caller's transaction.
pub(crate) fn end_on_connection(
    tx: &Connection,
    tenant: TenantId,
    connection: ConnectionId,
    at: OffsetDateTime,
) -> Result<Vec<(Consent, String)>> {
    let ids = all(
        tx,
        "update consents set withdrawn_at = ?1
         where tenant_id = ?2 and withdrawn_at is null and connection_id = ?3 returning id",
        params![micros(at), tenant.to_string(), connection.to_string()],
        |r| r.id("id"),
    )?;
    with_purpose(tx, tenant, ids)
}

#[async_trait]
impl ConsentStore for SqliteStore {
    async fn record_consent(&self, write: &ConsentWrite) -> Result<ChainedEvent> {
        let event = self.write.record(write.clone()).await?;
        accord_metrics::consent_written();
        Ok(event)
    }

    async fn consent(&self, tenant: TenantId, id: ConsentId) -> Result<Option<Consent>> {
        self.read
            .run(move |db| {
                one(
                    db,
                    concat!(
                        "select ",
                        consent_cols!(),
                        " from consents where tenant_id = ?1 and id = ?2"
                    ),
                    [tenant.to_string(), id.to_string()],
                    consent_from,
                )
            })
            .await
    }

    async fn tenant_consents(
        &self,
        tenant: TenantId,
        after: Option<ConsentId>,
        limit: u32,
    ) -> Result<Vec<Consent>> {
        // Ids are text: the empty string sorts before every id.
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        // `+tenant_id` keeps the planner off the (tenant, connection) index: with it, every page
        // sorted all of the tenant's consents to return the next few (quadratic over `ledger
        // verify`); walking the primary key from the cursor reads each page in order.
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        consent_cols!(),
                        " from consents where +tenant_id = ?1 and id > ?2 order by id limit ?3"
                    ),
                    params![tenant.to_string(), after, limit],
                    consent_from,
                )
            })
            .await
    }

    async fn company_consents(&self, tenant: TenantId, company: CompanyId) -> Result<Vec<Consent>> {
        // Through the company's connections (`connections_company`, `consents_connection`):
        // consents have no per-company index, which every consent write would pay for.
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        consent_cols!(),
                        " from consents where tenant_id = ?1 and connection_id in
                             (select id from connections where tenant_id = ?1 and company_id = ?2)
                         order by id"
                    ),
                    [tenant.to_string(), company.to_string()],
                    consent_from,
                )
            })
            .await
    }

    async fn expire_consents(
        &self,
        tenant: TenantId,
        given_before: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<Vec<ChainedEvent>> {
        self.write
            .transaction(move |tx| expiry::expire(tx, tenant, given_before, at))
            .await
    }

    async fn warn_expiring_consents(
        &self,
        tenant: TenantId,
        given_before: OffsetDateTime,
        valid_for: Duration,
        at: OffsetDateTime,
    ) -> Result<Vec<Consent>> {
        self.write
            .transaction(move |tx| expiry::warn(tx, tenant, given_before, valid_for, at))
            .await
    }
}
