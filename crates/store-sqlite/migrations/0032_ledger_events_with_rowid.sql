-- Why: a ledger row holds the event's canonical JSON, about 1.3 KiB for a consent with a short
-- notice and more with a longer one. The table was `without rowid`, i.e. an index b-tree, where a
-- cell keeps at most about a quarter of a page on its b-tree page: every event kept ~1 KiB there
-- and spilled the rest to an overflow page of its own (a whole 4 KiB page written, fsynced,
-- checkpointed and read again by `ledger verify` for ~1 KiB held), and the interior pages carried
-- the first ~1 KiB of their rows too. Measured on a demo database of 10,091 events: 1,262 leaf
-- pages, 182 interior pages and 10,091 overflow pages, three quarters of each overflow page
-- empty. As a rowid table the rows sit whole, three or more to a page, appended in the order
-- they are written; the primary key (tenant, position) becomes a unique index of its two
-- columns beside them, and still forbids forks. Every statement reads and writes the table as
-- before. The rows are copied in chain order (each tenant's chain contiguous), so the copy of
-- a large ledger takes time once, at this upgrade.
create table ledger_events_with_rowid (
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
) strict;

insert into ledger_events_with_rowid (tenant_id, seq, kind, consent_id, event, hash, prev_hash, at)
    select tenant_id, seq, kind, consent_id, event, hash, prev_hash, at
    from ledger_events
    order by tenant_id, seq;

-- Dropping the table drops its index and its two triggers; the triggers never fire on a drop.
drop table ledger_events;
alter table ledger_events_with_rowid rename to ledger_events;

create index ledger_events_consent on ledger_events (tenant_id, consent_id, seq);

create trigger ledger_events_refuse_update before update on ledger_events
begin
    select raise(abort, 'ledger events are append-only');
end;

create trigger ledger_events_refuse_delete before delete on ledger_events
begin
    select raise(abort, 'ledger events are append-only');
end;
