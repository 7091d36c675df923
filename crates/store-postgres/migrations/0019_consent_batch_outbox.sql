-- The consent batch (src/batch.rs) takes its tenants' ledger chains last, and writes its
-- webhook events as one row.
--
-- Why: one tenant's consent batches take turns on its chain, and a batch held the chain from
-- its first row to its commit, so one backend (one core) did all of a tenant's consent writes
-- while the other core waited (docs/benchmarks.md, 2026-12-04 evening). The batch now writes
-- its rows first and takes the chain only to number, hash and insert its ledger events, so the
-- next batch of the same tenant writes its rows while this one chains and commits
-- (src/writer.rs keeps two batches of a lane in flight). And two outbox rows a consent
-- (`connection.created`, `consent.given`), each with three index entries, were a sixth of the
-- server's work a consent: a batch now writes them as one row of `webhook_outbox`, which the
-- fan-out (src/webhooks.rs) turns into `webhook_events` rows, in one transaction per batch of
-- rows, before it fans events out. The events are committed with the consents as before;
-- `webhook_events` listings include the ones not yet turned into rows.
--
-- Lock order, everywhere now (src/ledger.rs): companies, then connection rows (by id), then
-- consents, then the tenants' ledger chain heads (by tenant id). Disconnects, company deletions
-- and consent expiry lock their connections before the chain, as the batch does.
--
-- Rolling upgrades: instances of the previous version still write `webhook_events` rows and
-- take the chain first; both orders hold the chain until commit, so a chain never forks, but
-- the two orders can deadlock on one connection (PostgreSQL aborts one side, which the store
-- retries or answers as a failure). Replace all instances in one go, or drain consent traffic
-- from the old ones first. The previous version's fan-out ignores `webhook_outbox`, which the
-- new one drains.

create table webhook_outbox (
    -- UUIDv7 of the batch: the fan-out takes the oldest first
    id uuid primary key,
    -- one element per event, in the order they were made
    event_ids uuid[] not null,
    tenant_ids uuid[] not null,
    event_types text[] not null,
    bodies text[] not null,
    created_ats timestamptz[] not null,
    check (cardinality(event_ids) > 0
        and cardinality(tenant_ids) = cardinality(event_ids)
        and cardinality(event_types) = cardinality(event_ids)
        and cardinality(bodies) = cardinality(event_ids)
        and cardinality(created_ats) = cardinality(event_ids))
);

-- A batch's bodies are tens of kilobytes of similar JSON: LZ4 compresses them several times
-- over at a fraction of pglz's cost. Servers built without LZ4 keep their default.
do $$
begin
    alter table webhook_outbox alter column bodies set compression lz4;
exception when feature_not_supported or invalid_parameter_value then
    null;
end $$;

-- Called by the consent batch once it holds its chains (`heads` of the `wanted` heads locked):
-- refuses the statement when a chain has no head (none exists: a trigger gives every tenant
-- one; the batch would otherwise write consents without events), and when a company it writes
-- consents for is deleted or does not exist (SQLSTATE 23503, as the companies' foreign key did;
-- the store answers NotFound). VOLATILE on purpose: a volatile function's query sees what
-- committed before it ran, not the statement's older snapshot. A company deletion holds the
-- chain while it disconnects the company's connections; a batch that wrote a new connection
-- for that company before the deletion committed (so the deletion could not see it) is
-- refused here rather than leaving a live connection to a deleted company.
create function accord_consent_batch_checked(heads bigint, wanted integer, tenant_ids uuid[],
    company_ids uuid[]) returns boolean
language plpgsql volatile as $$
begin
    if heads <> wanted then
        raise exception 'a ledger chain of the batch has no head (% of % found)', heads, wanted;
    end if;
    if exists (select 1 from unnest(tenant_ids, company_ids) as w (tenant_id, company_id)
               where not exists (select 1 from companies c
                                 where c.tenant_id = w.tenant_id and c.id = w.company_id
                                     and c.deleted_at is null)) then
        perform accord_missing_parent('connections', 'connections_tenant_id_company_id_fkey');
    end if;
    return true;
end $$;
