-- Why: the consent ledger (issue 3, "proof of consent"). Every consent event of a tenant is
-- appended to the tenant's hash chain in the same transaction as the change it records. A row
-- holds the event's canonical JSON (RFC 8785) as text, byte for byte as it was hashed, so anyone
-- can recompute the chain; the database refuses to change or remove a row.
-- Several instances append to one chain at once: an appender first locks the tenant's row
-- (`for no key update`, which foreign-key checks do not wait for) through
-- accord_lock_ledger_heads below, then reads the chain's head, so appends to one tenant's chain
-- take turns and the primary key (tenant_id, seq) refuses any fork that would slip through.
create table ledger_events (
    tenant_id uuid not null references tenants (id),
    -- 1-based position in the tenant's chain, no gaps
    seq bigint not null check (seq >= 1),
    kind text not null,
    consent_id uuid not null,
    -- the event's canonical JSON, including prev_hash; text, not jsonb, to keep its exact bytes
    event text not null check (json_typeof(event::json) = 'object'),
    hash text not null,
    prev_hash text not null,
    at timestamptz not null,
    primary key (tenant_id, seq)
);
-- `consent_events`: a consent's events, queried with its tenant (see 0001 on why secondary
-- indexes do not start with tenant_id).
create index ledger_events_consent on ledger_events (consent_id, seq);

create trigger ledger_events_refuse_change before update or delete on ledger_events
    for each row execute function accord_refuse('ledger events are append-only');
create trigger ledger_events_refuse_truncate before truncate on ledger_events
    for each statement execute function accord_refuse('ledger events are append-only');

-- Locks the chains of `tenant_ids` (in id order, so two appenders never deadlock) and returns
-- each chain's head, or null seq and hash for an empty chain. One call, one round trip: in a
-- volatile function each statement takes a new snapshot, so the heads are read after the locks
-- are held and include what the previous holder committed.
create function accord_lock_ledger_heads(tenant_ids uuid[])
returns table (tenant_id uuid, seq bigint, hash text)
language plpgsql volatile as $$
begin
    perform 1 from tenants t where t.id = any(tenant_ids) order by t.id for no key update;
    return query
        select t.id, h.seq, h.hash
        from unnest(tenant_ids) as t (id)
        left join lateral (
            select e.seq, e.hash from ledger_events e
            where e.tenant_id = t.id
            order by e.seq desc
            limit 1
        ) h on true;
end;
$$;
