//! The consent action's writes for a whole group-commit batch in one statement, whatever the
//! batch size: one array per column, turned back into rows with `unnest`, and the writes chained
//! as data-modifying CTEs. Its text is constant, so it is prepared once per connection, and it
//! commits on its own: a batch of 200 consents is one round trip and one commit.
//!
//! The statement is made of named steps, each a CTE with the parameters it binds, in this
//! order: [`insert_connections`] (upserted), [`insert_consents`], [`insert_oauth_flows`],
//! [`SUPERSEDE`] (older consents in force on updated connections), [`chain_events`] (the
//! ledger events numbered, hashed in SQL from templates made here, `ledger::Template`, inserted,
//! and the heads advanced), [`insert_outbox`] (the webhook events), [`lock_chains`] and
//! [`check_companies`]. A [`Batch`] gathers the column arrays from the writes in one pass;
//! [`Batch::bind`] hands each step its arrays.
//!
//! The chains are taken last (migration 0019): `locked` counts the rows of every other write
//! first, so the statement writes them before it waits for a chain, and holds its tenants'
//! chains only to chain its events and commit. The next batch of the same tenant (the writer
//! keeps two in flight, `writer.rs`) writes its rows meanwhile. Once the chains are held, a
//! volatile check (fresh snapshot) refuses the statement if a company it writes for was deleted
//! meanwhile: a company deletion holds the chain while it disconnects the company's connections,
//! and could not have seen the ones this statement inserted.
//!
//! A connection id that exists for another owner or platform, or that was disconnected, is
//! neither inserted nor updated; that write's consent, OAuth state, supersession and event are
//! left out with it (they are filtered on the connections the upsert returned, and the chain
//! numbers only the events that land), and its caller is answered `NotFound` while the rest of
//! the batch commits. An error (a duplicate consent id, a foreign key to another tenant's row, a
//! deleted company) fails the whole statement; the writer then replays the batch request by
//! request (`writer.rs`), calling [`apply`] with one write inside its own savepoint: there is
//! one SQL text to keep right.
//!
//! The webhook events (`consent.given`, and `connection.created` for connections the statement
//! inserted) are one `webhook_outbox` row for the batch, written by the same statement, so they
//! commit with the consents; the fan-out turns it into `webhook_events` rows (`webhooks.rs`).
//!
//! References from consents to the connections inserted by the same statement hold: they are
//! checked once per table at the end of the statement, with all its rows in place (migration
//! 0017: one query per table and statement rather than one per row and reference). The heads
//! are locked with `for update`, which returns each head as its previous holder committed it,
//! even when this statement had to wait for that holder: the chain continues from there.

use crate::error::db;
use crate::ledger::Template;
use accord_domain::catalog::DataUse;
use accord_domain::connection::Connection;
use accord_domain::consent::{Consent, ConsentEvidence};
use accord_domain::flow::OAuthFlow;
use accord_domain::ledger::{ChainedEvent, LedgerEvent};
use accord_domain::outbox::WebhookEvent;
use accord_store::{ConsentWrite, Result};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::types::Json;
use sqlx::{PgExecutor, Postgres};
use std::collections::HashMap;
use std::sync::LazyLock;
use time::OffsetDateTime;
use uuid::Uuid;

/// What applying a batch did to each write, in the batch's order: its ledger event as chained
/// when written, `None` when refused (its connection id belongs to someone else; nothing of it
/// was written).
pub(crate) type Applied = Vec<Option<ChainedEvent>>;

/// A row of the statement's result: a landed write's consent id, and its event's position,
/// previous hash and hash.
type ChainedRow = (Uuid, i64, String, String);

/// The batch statement, with the parameters bound so far.
type Statement<'q> = QueryAs<'q, Postgres, ChainedRow, PgArguments>;

/// A consent write with its ledger event's template, made by the caller's own task before the
/// write is queued: the canonical JSON costs microseconds a consent, which would otherwise be
/// spent one after another by the writer, between two batches.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub write: ConsentWrite,
    template: Template,
    /// `connection.created` (written only if the statement inserts the connection) and
    /// `consent.given`.
    created: WebhookEvent,
    given: WebhookEvent,
}

impl Prepared {
    pub(crate) fn new(write: ConsentWrite) -> Result<Self> {
        let template = Template::of(write.consent.tenant_id, write.event.clone())
            .map_err(|e| crate::error::backend(e.to_string()))?;
        let at = write.consent.given_at;
        let created = WebhookEvent::connection("connection.created", &write.connection, at);
        let given = WebhookEvent::consent("consent.given", &write.consent, None, at);
        Ok(Self {
            write,
            template,
            created,
            given,
        })
    }
}

/// Applies every write in one statement on `conn`: the pool (the statement is then its own
/// transaction), or a transaction or savepoint of the caller's. An `Err` means nothing of it
/// was written. The writes must be [`consistent`](crate::consents::consistent) and name
/// distinct connections (one statement cannot update a row twice); the writer checks both.
pub(crate) async fn apply<'c>(
    conn: impl PgExecutor<'c>,
    prepared: &[&Prepared],
) -> Result<Applied> {
    let rows = Batch::of(prepared)
        .bind(sqlx::query_as(STATEMENT.as_str()))
        .fetch_all(conn)
        .await
        .map_err(db)?;
    Ok(chained(prepared, rows))
}

/// Each write's event as chained, in the batch's order, from the statement's rows (one per
/// write that landed, keyed by its consent id).
fn chained(prepared: &[&Prepared], rows: Vec<ChainedRow>) -> Applied {
    let mut written: HashMap<Uuid, (i64, String, String)> = rows
        .into_iter()
        .map(|(consent, seq, prev, hash)| (consent, (seq, prev, hash)))
        .collect();
    prepared
        .iter()
        .map(|p| {
            let w = &p.write;
            written
                .remove(&w.event.consent_id.as_uuid())
                .map(|(seq, prev_hash, hash)| ChainedEvent {
                    event: LedgerEvent {
                        tenant_id: w.consent.tenant_id,
                        seq,
                        prev_hash,
                        body: w.event.clone(),
                    },
                    hash,
                })
        })
        .collect()
}

/// The whole batch as column arrays, one set per table written, gathered from the writes in
/// one pass, in the batch's order: what the steps bind.
#[derive(Default)]
struct Batch<'a> {
    connections: Connections<'a>,
    consents: Consents<'a>,
    flows: Flows<'a>,
    events: Events<'a>,
    outbox: Outbox<'a>,
    /// The tenants whose chains the batch extends, in id order, once each.
    tenants: Vec<Uuid>,
    /// The companies written for, once each: (tenant ids, company ids).
    companies: (Vec<Uuid>, Vec<Uuid>),
}

impl<'a> Batch<'a> {
    fn of(prepared: &[&'a Prepared]) -> Self {
        let mut batch = Self::default();
        let mut companies = Vec::with_capacity(prepared.len());
        for p in prepared {
            let w = &p.write;
            batch.connections.push(&w.connection);
            batch.consents.push(&w.consent);
            if let Some(flow) = &w.oauth_flow {
                batch.flows.push(flow);
            }
            batch.events.push(p);
            batch.outbox.push(p);
            batch.tenants.push(w.consent.tenant_id.as_uuid());
            companies.push((
                w.consent.tenant_id.as_uuid(),
                w.consent.company_id.as_uuid(),
            ));
        }
        batch.tenants.sort_unstable();
        batch.tenants.dedup();
        companies.sort_unstable();
        companies.dedup();
        batch.companies = companies.into_iter().unzip();
        batch
    }

    /// Binds every step's arrays, in the order of their parameter numbers ($1 to $56): each
    /// step binds its own range of them.
    fn bind(self, statement: Statement<'a>) -> Statement<'a> {
        let statement = insert_connections(statement, self.connections);
        let statement = insert_consents(statement, self.consents);
        let statement = insert_oauth_flows(statement, self.flows);
        let statement = chain_events(statement, self.events);
        let statement = lock_chains(statement, self.tenants);
        let statement = insert_outbox(statement, self.outbox);
        check_companies(statement, self.companies)
    }
}

/// The statement: the steps' CTEs in order, then each landed write's event as chained (its
/// position, previous hash and hash). `recursive` is for the chain; a CTE may refer to one
/// defined after it (the chain to the locked heads and the check).
static STATEMENT: LazyLock<String> = LazyLock::new(|| {
    let steps = [
        INSERT_CONNECTIONS,
        INSERT_CONSENTS,
        INSERT_OAUTH_FLOWS,
        SUPERSEDE,
        CHAIN_EVENTS,
        INSERT_OUTBOX,
        LOCK_CHAINS,
        CHECK_COMPANIES,
    ];
    format!(
        "with recursive\n{}\nselect consent_id, seq, prev_hash, hash from chain",
        steps.join(",\n")
    )
});

/// Column arrays of the connection upsert.
#[derive(Default)]
struct Connections<'a> {
    id: Vec<Uuid>,
    tenant_id: Vec<Uuid>,
    company_id: Vec<Uuid>,
    platform_key: Vec<&'a str>,
    status: Vec<&'static str>,
    data_uses: Vec<Json<&'a [DataUse]>>,
    consent_id: Vec<Option<Uuid>>,
    granted_scope: Vec<Option<&'a str>>,
    last_error: Vec<Option<&'a str>>,
    created_at: Vec<OffsetDateTime>,
    updated_at: Vec<OffsetDateTime>,
    linked_at: Vec<Option<OffsetDateTime>>,
    disconnected_at: Vec<Option<OffsetDateTime>>,
}

impl<'a> Connections<'a> {
    fn push(&mut self, c: &'a Connection) {
        self.id.push(c.id.as_uuid());
        self.tenant_id.push(c.tenant_id.as_uuid());
        self.company_id.push(c.company_id.as_uuid());
        self.platform_key.push(c.platform_key.as_str());
        self.status.push(c.status.as_str());
        self.data_uses.push(Json(&c.data_uses));
        self.consent_id.push(c.consent_id.map(|i| i.as_uuid()));
        self.granted_scope.push(c.granted_scope.as_deref());
        self.last_error.push(c.last_error.as_deref());
        self.created_at.push(c.created_at);
        self.updated_at.push(c.updated_at);
        self.linked_at.push(c.linked_at);
        self.disconnected_at.push(c.disconnected_at);
    }
}

/// Step `upserted` ($1–$13): the connections, inserted or updated. Rows go into `connections`
/// in id order: every writer that locks several connections locks them in that order, so
/// concurrent batches wait for each other, never deadlock. A connection of another owner or
/// platform, or a disconnected one, is neither inserted nor updated, and so not returned.
const INSERT_CONNECTIONS: &str = "upserted as (
    insert into connections (id, tenant_id, company_id, platform_key, status, data_uses,
        consent_id, granted_scope, last_error, created_at, updated_at, linked_at, disconnected_at)
    select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::jsonb[],
        $7::uuid[], $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[],
        $12::timestamptz[], $13::timestamptz[])
    order by 1
    on conflict (id) do update set
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
        -- withdrawal takes effect at once and for good: a consent posted late (a page
        -- left open) never revives a disconnected connection; a new one is needed
        and connections.status <> 'disconnected'
    -- `updated`: the row existed and this statement updated it (PostgreSQL leaves the
    -- new version's xmax at 0 only for a row it inserted); only those connections can
    -- have consents to supersede
    returning id, xmax <> '0'::xid as updated
)";

fn insert_connections<'a>(statement: Statement<'a>, c: Connections<'a>) -> Statement<'a> {
    statement
        .bind(c.id)
        .bind(c.tenant_id)
        .bind(c.company_id)
        .bind(c.platform_key)
        .bind(c.status)
        .bind(c.data_uses)
        .bind(c.consent_id)
        .bind(c.granted_scope)
        .bind(c.last_error)
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.linked_at)
        .bind(c.disconnected_at)
}

/// Column arrays of the consent insert.
#[derive(Default)]
struct Consents<'a> {
    id: Vec<Uuid>,
    tenant_id: Vec<Uuid>,
    company_id: Vec<Uuid>,
    connection_id: Vec<Uuid>,
    platform_key: Vec<&'a str>,
    category: Vec<&'static str>,
    notice_version_id: Vec<Uuid>,
    notice_version: Vec<i64>,
    locale: Vec<&'static str>,
    data_uses: Vec<Json<&'a [DataUse]>>,
    notice_text: Vec<&'a str>,
    notice_sha256: Vec<&'a str>,
    evidence: Vec<Json<&'a ConsentEvidence>>,
    given_at: Vec<OffsetDateTime>,
    withdrawn_at: Vec<Option<OffsetDateTime>>,
}

impl<'a> Consents<'a> {
    fn push(&mut self, k: &'a Consent) {
        self.id.push(k.id.as_uuid());
        self.tenant_id.push(k.tenant_id.as_uuid());
        self.company_id.push(k.company_id.as_uuid());
        self.connection_id.push(k.connection_id.as_uuid());
        self.platform_key.push(k.platform_key.as_str());
        self.category.push(k.category.as_str());
        self.notice_version_id.push(k.notice_version_id.as_uuid());
        self.notice_version.push(k.notice_version);
        self.locale.push(k.locale.as_str());
        self.data_uses.push(Json(&k.data_uses));
        self.notice_text.push(&k.notice_text);
        self.notice_sha256.push(&k.notice_sha256);
        self.evidence.push(Json(&k.evidence));
        self.given_at.push(k.given_at);
        self.withdrawn_at.push(k.withdrawn_at);
    }
}

/// Step `consented` ($14–$28): the consents of the writes whose connection landed.
/// `notice_version` travels as int8 (the domain's i64); the insert casts it to the column's
/// integer and refuses a value out of range rather than wrapping it.
const INSERT_CONSENTS: &str = "consented as (
    insert into consents (id, tenant_id, company_id, connection_id, platform_key, category,
        notice_version_id, notice_version, locale, data_uses, notice_text, notice_sha256,
        evidence, given_at, withdrawn_at)
    select r.* from unnest($14::uuid[], $15::uuid[], $16::uuid[], $17::uuid[], $18::text[],
        $19::text[], $20::uuid[], $21::int8[], $22::text[], $23::jsonb[], $24::text[], $25::text[],
        $26::jsonb[], $27::timestamptz[], $28::timestamptz[])
        as r (id, tenant_id, company_id, connection_id, platform_key, category, notice_version_id,
            notice_version, locale, data_uses, notice_text, notice_sha256, evidence, given_at,
            withdrawn_at)
    where r.connection_id in (select id from upserted)
    returning 1
)";

fn insert_consents<'a>(statement: Statement<'a>, k: Consents<'a>) -> Statement<'a> {
    statement
        .bind(k.id)
        .bind(k.tenant_id)
        .bind(k.company_id)
        .bind(k.connection_id)
        .bind(k.platform_key)
        .bind(k.category)
        .bind(k.notice_version_id)
        .bind(k.notice_version)
        .bind(k.locale)
        .bind(k.data_uses)
        .bind(k.notice_text)
        .bind(k.notice_sha256)
        .bind(k.evidence)
        .bind(k.given_at)
        .bind(k.withdrawn_at)
}

/// Column arrays of the OAuth flow insert (the writes that start one).
#[derive(Default)]
struct Flows<'a> {
    state_hash: Vec<&'a str>,
    tenant_id: Vec<Uuid>,
    browser_session_id: Vec<Uuid>,
    connection_id: Vec<Uuid>,
    platform_key: Vec<&'a str>,
    pkce_verifier_ct: Vec<&'a str>,
    redirect_uri: Vec<&'a str>,
    created_at: Vec<OffsetDateTime>,
    expires_at: Vec<OffsetDateTime>,
}

impl<'a> Flows<'a> {
    fn push(&mut self, f: &'a OAuthFlow) {
        self.state_hash.push(&f.state_hash.0);
        self.tenant_id.push(f.tenant_id.as_uuid());
        self.browser_session_id.push(f.browser_session_id.as_uuid());
        self.connection_id.push(f.connection_id.as_uuid());
        self.platform_key.push(f.platform_key.as_str());
        self.pkce_verifier_ct.push(&f.pkce_verifier_ct);
        self.redirect_uri.push(&f.redirect_uri);
        self.created_at.push(f.created_at);
        self.expires_at.push(f.expires_at);
    }
}

/// Step `flows` ($29–$37): the OAuth state of the writes whose connection landed.
const INSERT_OAUTH_FLOWS: &str = "flows as (
    insert into oauth_flows (state_hash, tenant_id, browser_session_id, connection_id,
        platform_key, pkce_verifier_ct, redirect_uri, created_at, expires_at)
    select r.* from unnest($29::text[], $30::uuid[], $31::uuid[], $32::uuid[], $33::text[],
        $34::text[], $35::text[], $36::timestamptz[], $37::timestamptz[])
        as r (state_hash, tenant_id, browser_session_id, connection_id, platform_key,
            pkce_verifier_ct, redirect_uri, created_at, expires_at)
    where r.connection_id in (select id from upserted)
    returning 1
)";

fn insert_oauth_flows<'a>(statement: Statement<'a>, f: Flows<'a>) -> Statement<'a> {
    statement
        .bind(f.state_hash)
        .bind(f.tenant_id)
        .bind(f.browser_session_id)
        .bind(f.connection_id)
        .bind(f.platform_key)
        .bind(f.pkce_verifier_ct)
        .bind(f.redirect_uri)
        .bind(f.created_at)
        .bind(f.expires_at)
}

/// Step `superseded` (the consents' $14, $15, $17, $27; nothing of its own to bind): a new
/// consent on a connection supersedes the older ones still in force there (ids are
/// time-ordered, so older is `id <`). Each needs its own `superseded` event, which only Rust
/// can make, so `locked` refuses the statement when this step ended any (migration 0028): the
/// writer then replays the batch, each request ending those consents with their events first
/// (`consents::supersede_in`). A new connection has none, and the common batch (all new) then
/// reads no consent at all.
const SUPERSEDE: &str = "superseded as (
    update consents k set withdrawn_at = s.given_at
    from unnest($17::uuid[], $15::uuid[], $14::uuid[], $27::timestamptz[])
        as s (connection_id, tenant_id, id, given_at)
    where s.connection_id in (select id from upserted where updated)
        and k.connection_id = s.connection_id and k.tenant_id = s.tenant_id
        and k.withdrawn_at is null and k.id < s.id
    returning 1
)";

/// Column arrays of the ledger events, one template each (`ledger::Template`).
#[derive(Default)]
struct Events<'a> {
    tenant_id: Vec<Uuid>,
    before_prev: Vec<&'a str>,
    between: Vec<&'a str>,
    after: Vec<&'a str>,
    kind: Vec<&'static str>,
    consent_id: Vec<Uuid>,
    at: Vec<OffsetDateTime>,
    connection_id: Vec<Uuid>,
}

impl<'a> Events<'a> {
    fn push(&mut self, p: &'a Prepared) {
        let (w, t) = (&p.write, &p.template);
        self.tenant_id.push(w.consent.tenant_id.as_uuid());
        self.before_prev.push(t.before_prev.as_str());
        self.between.push(t.between.as_str());
        self.after.push(t.after.as_str());
        self.kind.push(w.event.kind.as_str());
        self.consent_id.push(w.event.consent_id.as_uuid());
        self.at.push(w.event.at);
        self.connection_id.push(w.connection.id.as_uuid());
    }
}

/// Step `pending`, `chain`, `chained`, `grown`, `noded`, `advanced` ($38–$45): the events of
/// the writes that landed, numbered per chain in batch order; each event's canonical JSON is
/// its template with the previous hash and its position put in, its hash that JSON's SHA-256,
/// the next one's previous hash. The chain starts from the locked heads, once every one is held
/// and checked; the events are inserted, their leaves and the subtrees they complete added to
/// the chain's Merkle tree from the right edge kept on the head row (`accord_merkle_extend`,
/// migration 0021), and each head moved to its chain's last event and its tree's new edge.
const CHAIN_EVENTS: &str = "pending as (
    select p.*, row_number() over (partition by p.tenant_id order by p.n) as ord
    from unnest($38::uuid[], $39::text[], $40::text[], $41::text[], $42::text[], $43::uuid[],
            $44::timestamptz[], $45::uuid[])
        with ordinality as p (tenant_id, before_prev, between, after, kind, consent_id, at,
            connection_id, n)
    where p.connection_id in (select id from upserted)
),
chain as (
    select p.tenant_id, p.ord, j.seq, l.hash as prev_hash, j.event,
        encode(sha256(convert_to(j.event, 'UTF8')), 'hex') as hash, p.kind, p.consent_id, p.at
    from pending p
    join locked l on l.tenant_id = p.tenant_id
    cross join checked
    cross join lateral (
        select l.seq + 1 as seq, p.before_prev || l.hash || p.between || (l.seq + 1)::text || p.after as event
    ) j
    where p.ord = 1 and checked.ok
    union all
    select p.tenant_id, p.ord, j.seq, c.hash, j.event,
        encode(sha256(convert_to(j.event, 'UTF8')), 'hex'), p.kind, p.consent_id, p.at
    from chain c
    join pending p on p.tenant_id = c.tenant_id and p.ord = c.ord + 1
    cross join lateral (
        select c.seq + 1 as seq, p.before_prev || c.hash || p.between || (c.seq + 1)::text || p.after as event
    ) j
),
chained as (
    insert into ledger_events (tenant_id, seq, kind, consent_id, event, hash, prev_hash, at)
    select tenant_id, seq, kind, consent_id, event, hash, prev_hash, at from chain
),
grown as (
    select c.tenant_id, m.*
    from (select tenant_id, array_agg(hash order by seq) as leaves from chain
          group by tenant_id) c
    join locked l on l.tenant_id = c.tenant_id
    cross join lateral accord_merkle_extend(l.frontier, l.seq, c.leaves) m
),
noded as (
    insert into ledger_nodes (tenant_id, level, idx, hash)
    select g.tenant_id, n.level, n.idx, n.hash
    from grown g
    cross join lateral unnest(g.levels, g.idxs, g.hashes) as n (level, idx, hash)
),
advanced as (
    update ledger_heads h set seq = last.seq, hash = last.hash, frontier = g.new_frontier
    from (select distinct on (tenant_id) tenant_id, seq, hash from chain
          order by tenant_id, seq desc) last
    join grown g on g.tenant_id = last.tenant_id
    where h.tenant_id = last.tenant_id
)";

fn chain_events<'a>(statement: Statement<'a>, e: Events<'a>) -> Statement<'a> {
    statement
        .bind(e.tenant_id)
        .bind(e.before_prev)
        .bind(e.between)
        .bind(e.after)
        .bind(e.kind)
        .bind(e.consent_id)
        .bind(e.at)
        .bind(e.connection_id)
}

/// Column arrays of the outbox rows: `connection.created` then `consent.given` for each write.
#[derive(Default)]
struct Outbox<'a> {
    id: Vec<Uuid>,
    tenant_id: Vec<Uuid>,
    event_type: Vec<&'static str>,
    body: Vec<&'a str>,
    created_at: Vec<OffsetDateTime>,
    connection_id: Vec<Uuid>,
    if_created: Vec<bool>,
}

impl<'a> Outbox<'a> {
    fn push(&mut self, p: &'a Prepared) {
        for (event, if_created) in [(&p.created, true), (&p.given, false)] {
            self.id.push(event.id.as_uuid());
            self.tenant_id.push(event.tenant_id.as_uuid());
            self.event_type.push(event.event_type);
            self.body.push(&event.body);
            self.created_at.push(event.created_at);
            self.connection_id.push(p.write.connection.id.as_uuid());
            self.if_created.push(if_created);
        }
    }
}

/// Step `outboxed` ($47–$54): the webhook events of the writes that landed, `consent.given`
/// for each and `connection.created` for the connections this statement inserted, as one row
/// for the batch, $54 its id (migration 0019; the fan-out turns it into `webhook_events`
/// rows). A join, not `in (select … where …o…)`: that filter refers to the outer row, so
/// PostgreSQL re-scanned the upserted rows for every event; joined, they are hashed once.
const INSERT_OUTBOX: &str = "outboxed as (
    insert into webhook_outbox (id, event_ids, tenant_ids, event_types, bodies, created_ats)
    select $54, array_agg(o.id order by o.n), array_agg(o.tenant_id order by o.n),
        array_agg(o.event_type order by o.n), array_agg(o.body order by o.n),
        array_agg(o.created_at order by o.n)
    from unnest($47::uuid[], $48::uuid[], $49::text[], $50::text[], $51::timestamptz[],
            $52::uuid[], $53::bool[])
        with ordinality as o (id, tenant_id, event_type, body, created_at, connection_id,
            if_created, n)
    join upserted u on u.id = o.connection_id
    where not (o.if_created and u.updated)
    having count(*) > 0
    returning 1
)";

fn insert_outbox<'a>(statement: Statement<'a>, o: Outbox<'a>) -> Statement<'a> {
    statement
        .bind(o.id)
        .bind(o.tenant_id)
        .bind(o.event_type)
        .bind(o.body)
        .bind(o.created_at)
        .bind(o.connection_id)
        .bind(o.if_created)
        .bind(Uuid::now_v7())
}

/// Step `locked` ($46, the batch's tenants): the chains this batch extends, in id order (the
/// lock order of `ledger.rs`), taken last: the counts make every row of the steps above
/// written first (and refuse a batch that superseded a consent: see `superseded`), so the chains are held only to number, hash and insert the events, and
/// commit. The next batch of the same tenant writes its rows meanwhile (`writer.rs`).
const LOCK_CHAINS: &str = "locked as (
    select tenant_id, seq, hash, frontier from ledger_heads
    where tenant_id = any($46::uuid[])
        and (select count(*) from consented) + (select count(*) from flows)
            + (select count(*) from outboxed) >= 0
        and accord_consent_batch_supersedes_nothing((select count(*) from superseded))
    order by tenant_id
    for update
)";

fn lock_chains(statement: Statement<'_>, tenants: Vec<Uuid>) -> Statement<'_> {
    statement.bind(tenants)
}

/// Step `checked` ($55–$56, the companies written for, with $46): once every chain is held
/// (the count reads all of `locked`), each chain has a head, and no company written for was
/// deleted meanwhile (a fresh snapshot: migration 0019). The chain starts only if it holds.
const CHECK_COMPANIES: &str = "checked as (
    select accord_consent_batch_checked(n.heads, cardinality($46::uuid[]),
        $55::uuid[], $56::uuid[]) as ok
    from (select count(*) as heads from locked) n
)";

fn check_companies(
    statement: Statement<'_>,
    (tenants, companies): (Vec<Uuid>, Vec<Uuid>),
) -> Statement<'_> {
    statement.bind(tenants).bind(companies)
}

#[cfg(test)]
mod tests {
    use super::{Batch, STATEMENT};
    use sqlx::Arguments as _;
    use sqlx::Execute as _;
    use std::collections::BTreeSet;

    /// How many parameters the statement has.
    const PARAMETERS: usize = 56;

    /// The statement names exactly the parameters 1 to `PARAMETERS`, and the steps bind as
    /// many: a step's SQL and its binding cannot drift apart unnoticed.
    #[test]
    fn the_steps_bind_every_parameter_of_the_statement() {
        let text = STATEMENT.as_str();
        let named: BTreeSet<usize> = text
            .split('$')
            .skip(1)
            .filter_map(|s| {
                let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect();
        assert_eq!(named, (1..=PARAMETERS).collect::<BTreeSet<_>>());
        let mut statement = Batch::of(&[]).bind(sqlx::query_as(text));
        let arguments = statement
            .take_arguments()
            .expect("arguments encode")
            .expect("arguments bound");
        assert_eq!(arguments.len(), PARAMETERS);
    }
}
