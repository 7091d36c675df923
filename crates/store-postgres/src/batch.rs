//! The consent action's writes for a whole group-commit batch in one statement, whatever the
//! batch size: one array per column, turned back into rows with `unnest`, and the writes chained
//! as data-modifying CTEs — connections upserted, consents, OAuth flows, superseded consents, the
//! webhook events, then the tenants' ledger heads locked and the ledger events chained and
//! hashed in SQL from templates made here (`ledger::Template`). Its text is constant, so it is
//! prepared once per connection, and it commits on its own: a batch of 200 consents is one round
//! trip and one commit.
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
//! neither inserted nor updated;
//! that write's consent, OAuth state, supersession and event are left out with it (they are
//! filtered on the connections the upsert returned, and the chain numbers only the events that
//! land), and its caller is answered `NotFound` while the rest of the batch commits. An error (a
//! duplicate consent id, a foreign key to another tenant's row, a deleted company) fails the
//! whole statement; the writer then replays the batch request by request (`writer.rs`), calling
//! [`apply`] with one write inside its own savepoint: there is one SQL text to keep right.
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
use accord_domain::ledger::{ChainedEvent, LedgerEvent};
use accord_domain::outbox::WebhookEvent;
use accord_store::{ConsentWrite, Result};
use sqlx::types::Json;
use sqlx::PgExecutor;
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// What applying a batch did to each write, in the batch's order: its ledger event as chained
/// when written, `None` when refused (its connection id belongs to someone else; nothing of it
/// was written).
pub(crate) type Applied = Vec<Option<ChainedEvent>>;

/// Column arrays of the connection upsert.
#[derive(Default)]
struct Connections<'a> {
    id: Vec<Uuid>,
    tenant_id: Vec<Uuid>,
    company_id: Vec<Uuid>,
    platform_key: Vec<&'a str>,
    status: Vec<&'static str>,
    data_uses: Vec<Json<&'a [accord_domain::catalog::DataUse]>>,
    consent_id: Vec<Option<Uuid>>,
    granted_scope: Vec<Option<&'a str>>,
    last_error: Vec<Option<&'a str>>,
    created_at: Vec<OffsetDateTime>,
    updated_at: Vec<OffsetDateTime>,
    linked_at: Vec<Option<OffsetDateTime>>,
    disconnected_at: Vec<Option<OffsetDateTime>>,
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
    data_uses: Vec<Json<&'a [accord_domain::catalog::DataUse]>>,
    notice_text: Vec<&'a str>,
    notice_sha256: Vec<&'a str>,
    evidence: Vec<Json<&'a accord_domain::consent::ConsentEvidence>>,
    given_at: Vec<OffsetDateTime>,
    withdrawn_at: Vec<Option<OffsetDateTime>>,
}

/// Column arrays of the OAuth flow insert.
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

/// Column arrays of the outbox rows.
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

/// Applies every write in one statement on `conn`: the pool (the statement is then its own
/// transaction), or a transaction or savepoint of the caller's. An `Err` means nothing of it
/// was written. The writes must be [`consistent`](crate::consents::consistent) and name
/// distinct connections (one statement cannot update a row twice); the writer checks both.
pub(crate) async fn apply<'c>(
    conn: impl PgExecutor<'c>,
    prepared: &[&Prepared],
) -> Result<Applied> {
    let writes: Vec<&ConsentWrite> = prepared.iter().map(|p| &p.write).collect();
    let mut tenants: Vec<Uuid> = writes
        .iter()
        .map(|w| w.consent.tenant_id.as_uuid())
        .collect();
    tenants.sort_unstable();
    tenants.dedup();
    // The companies written for, once each: (tenant ids, company ids).
    let mut pairs: Vec<(Uuid, Uuid)> = writes
        .iter()
        .map(|w| {
            (
                w.consent.tenant_id.as_uuid(),
                w.consent.company_id.as_uuid(),
            )
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let companies: (Vec<Uuid>, Vec<Uuid>) = pairs.into_iter().unzip();
    let mut e = Events::default();
    for p in prepared {
        let (w, t) = (&p.write, &p.template);
        e.tenant_id.push(w.consent.tenant_id.as_uuid());
        e.before_prev.push(t.before_prev.as_str());
        e.between.push(t.between.as_str());
        e.after.push(t.after.as_str());
        e.kind.push(w.event.kind.as_str());
        e.consent_id.push(w.event.consent_id.as_uuid());
        e.at.push(w.event.at);
        e.connection_id.push(w.connection.id.as_uuid());
    }
    let mut outbox = Outbox::default();
    for p in prepared {
        for (event, if_created) in [(&p.created, true), (&p.given, false)] {
            outbox.id.push(event.id.as_uuid());
            outbox.tenant_id.push(event.tenant_id.as_uuid());
            outbox.event_type.push(event.event_type);
            outbox.body.push(&event.body);
            outbox.created_at.push(event.created_at);
            outbox.connection_id.push(p.write.connection.id.as_uuid());
            outbox.if_created.push(if_created);
        }
    }
    let mut c = Connections::default();
    let mut k = Consents::default();
    let mut f = Flows::default();
    for w in &writes {
        let (cn, ks) = (&w.connection, &w.consent);
        c.id.push(cn.id.as_uuid());
        c.tenant_id.push(cn.tenant_id.as_uuid());
        c.company_id.push(cn.company_id.as_uuid());
        c.platform_key.push(cn.platform_key.as_str());
        c.status.push(cn.status.as_str());
        c.data_uses.push(Json(&cn.data_uses));
        c.consent_id.push(cn.consent_id.map(|i| i.as_uuid()));
        c.granted_scope.push(cn.granted_scope.as_deref());
        c.last_error.push(cn.last_error.as_deref());
        c.created_at.push(cn.created_at);
        c.updated_at.push(cn.updated_at);
        c.linked_at.push(cn.linked_at);
        c.disconnected_at.push(cn.disconnected_at);

        k.id.push(ks.id.as_uuid());
        k.tenant_id.push(ks.tenant_id.as_uuid());
        k.company_id.push(ks.company_id.as_uuid());
        k.connection_id.push(ks.connection_id.as_uuid());
        k.platform_key.push(ks.platform_key.as_str());
        k.category.push(ks.category.as_str());
        k.notice_version_id.push(ks.notice_version_id.as_uuid());
        k.notice_version.push(ks.notice_version);
        k.locale.push(ks.locale.as_str());
        k.data_uses.push(Json(&ks.data_uses));
        k.notice_text.push(&ks.notice_text);
        k.notice_sha256.push(&ks.notice_sha256);
        k.evidence.push(Json(&ks.evidence));
        k.given_at.push(ks.given_at);
        k.withdrawn_at.push(ks.withdrawn_at);

        if let Some(fl) = &w.oauth_flow {
            f.state_hash.push(&fl.state_hash.0);
            f.tenant_id.push(fl.tenant_id.as_uuid());
            f.browser_session_id.push(fl.browser_session_id.as_uuid());
            f.connection_id.push(fl.connection_id.as_uuid());
            f.platform_key.push(fl.platform_key.as_str());
            f.pkce_verifier_ct.push(&fl.pkce_verifier_ct);
            f.redirect_uri.push(&fl.redirect_uri);
            f.created_at.push(fl.created_at);
            f.expires_at.push(fl.expires_at);
        }
    }

    // Rows go into `connections` in id order: every writer that locks several connections
    // locks them in that order, so concurrent batches wait for each other, never deadlock.
    // `notice_version` travels as int8 (the domain's i64); the insert casts it to the column's
    // integer and refuses a value out of range rather than wrapping it.
    let written: Vec<(Uuid, i64, String, String)> = sqlx::query_as(
        "with recursive
         upserted as (
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
         ),
         consented as (
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
         ),
         flows as (
             insert into oauth_flows (state_hash, tenant_id, browser_session_id, connection_id,
                 platform_key, pkce_verifier_ct, redirect_uri, created_at, expires_at)
             select r.* from unnest($29::text[], $30::uuid[], $31::uuid[], $32::uuid[], $33::text[],
                 $34::text[], $35::text[], $36::timestamptz[], $37::timestamptz[])
                 as r (state_hash, tenant_id, browser_session_id, connection_id, platform_key,
                     pkce_verifier_ct, redirect_uri, created_at, expires_at)
             where r.connection_id in (select id from upserted)
             returning 1
         ),
         -- A new consent on a connection supersedes the older ones still in force there (ids
         -- are time-ordered, so older is `id <`); the new event records the change. A new
         -- connection has none, and the common batch (all new) then reads no consent at all.
         superseded as (
             update consents k set withdrawn_at = s.given_at
             from unnest($17::uuid[], $15::uuid[], $14::uuid[], $27::timestamptz[])
                 as s (connection_id, tenant_id, id, given_at)
             where s.connection_id in (select id from upserted where updated)
                 and k.connection_id = s.connection_id and k.tenant_id = s.tenant_id
                 and k.withdrawn_at is null and k.id < s.id
             returning 1
         ),
         -- The events of the writes that landed, numbered per chain in batch order.
         pending as (
             select p.*, row_number() over (partition by p.tenant_id order by p.n) as ord
             from unnest($38::uuid[], $39::text[], $40::text[], $41::text[], $42::text[], $43::uuid[],
                     $44::timestamptz[], $45::uuid[])
                 with ordinality as p (tenant_id, before_prev, between, after, kind, consent_id, at,
                     connection_id, n)
             where p.connection_id in (select id from upserted)
         ),
         -- Each event's canonical JSON is its template with the previous hash and its position
         -- put in; its hash is that JSON's SHA-256, the next one's previous hash.
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
         advanced as (
             update ledger_heads h set seq = last.seq, hash = last.hash
             from (select distinct on (tenant_id) tenant_id, seq, hash from chain
                   order by tenant_id, seq desc) last
             where h.tenant_id = last.tenant_id
         ),
         -- The webhook events of the writes that landed, `consent.given` for each and
         -- `connection.created` for the connections this statement inserted, as one row for the
         -- batch (migration 0019; the fan-out turns it into `webhook_events` rows). A join, not
         -- `in (select … where …o…)`: that filter refers to the outer row, so PostgreSQL
         -- re-scanned the upserted rows for every event; joined, they are hashed once.
         outboxed as (
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
         ),
         -- The chains this batch extends, in id order (the lock order of ledger.rs), taken
         -- last: the counts make every row above written first, so the chains are held only
         -- to number, hash and insert the events, and commit. The next batch of the same
         -- tenant writes its rows meanwhile (writer.rs).
         locked as (
             select tenant_id, seq, hash from ledger_heads
             where tenant_id = any($46::uuid[])
                 and (select count(*) from consented) + (select count(*) from flows)
                     + (select count(*) from superseded) + (select count(*) from outboxed) >= 0
             order by tenant_id
             for update
         ),
         -- Once every chain is held (the count reads all of `locked`): each chain has a head,
         -- and no company written for was deleted meanwhile (a fresh snapshot: migration 0019).
         checked as (
             select accord_consent_batch_checked(n.heads, cardinality($46::uuid[]),
                 $55::uuid[], $56::uuid[]) as ok
             from (select count(*) as heads from locked) n
         )
         -- Each landed write's event as chained: its position, previous hash and hash.
         select consent_id, seq, prev_hash, hash from chain",
    )
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
    .bind(f.state_hash)
    .bind(f.tenant_id)
    .bind(f.browser_session_id)
    .bind(f.connection_id)
    .bind(f.platform_key)
    .bind(f.pkce_verifier_ct)
    .bind(f.redirect_uri)
    .bind(f.created_at)
    .bind(f.expires_at)
    .bind(e.tenant_id)
    .bind(e.before_prev)
    .bind(e.between)
    .bind(e.after)
    .bind(e.kind)
    .bind(e.consent_id)
    .bind(e.at)
    .bind(e.connection_id)
    .bind(tenants)
    .bind(outbox.id)
    .bind(outbox.tenant_id)
    .bind(outbox.event_type)
    .bind(outbox.body)
    .bind(outbox.created_at)
    .bind(outbox.connection_id)
    .bind(outbox.if_created)
    .bind(Uuid::now_v7())
    .bind(companies.0)
    .bind(companies.1)
    .fetch_all(conn)
    .await
    .map_err(db)?;
    let mut written: HashMap<Uuid, (i64, String, String)> = written
        .into_iter()
        .map(|(consent, seq, prev, hash)| (consent, (seq, prev, hash)))
        .collect();
    Ok(writes
        .iter()
        .map(|w| {
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
        .collect())
}
