-- Why: the consent ledger (issue "proof of consent"). Every consent event of a tenant is
-- appended to a hash chain in the same transaction as the change it records. A row holds the
-- event's canonical JSON (RFC 8785) exactly as hashed, so anyone can recompute the chain.
-- The database itself refuses to change or remove a ledger row.
create table ledger_events (
    tenant_id text not null references tenants (id),
    -- 1-based position in the tenant's chain, no gaps (the primary key forbids forks)
    seq integer not null check (seq >= 1),
    kind text not null,
    consent_id text not null,
    -- the event's canonical JSON, including prev_hash
    event text not null check (json_valid(event)),
    hash text not null,
    prev_hash text not null,
    at integer not null,
    primary key (tenant_id, seq)
) strict, without rowid;
create index ledger_events_consent on ledger_events (tenant_id, consent_id, seq);

create trigger ledger_events_refuse_update before update on ledger_events
begin
    select raise(abort, 'ledger events are append-only');
end;

create trigger ledger_events_refuse_delete before delete on ledger_events
begin
    select raise(abort, 'ledger events are append-only');
end;
