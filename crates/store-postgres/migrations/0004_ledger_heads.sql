-- Why: each tenant's chain head (its last position and hash) in a row of its own, so appending
-- to a chain is one row lock and one statement. The consent batch (src/batch.rs) locks the
-- heads it extends with `select … for update`, which returns the head as the previous holder
-- committed it, then chains its events inside the same statement (hashing them with sha256)
-- and commits on its own: one round trip a batch, the chain held only while the statement runs
-- and commits. Before this, appenders locked the tenant row and read the head from
-- ledger_events in a second statement (0002), which kept a chain locked across client round
-- trips.
create table ledger_heads (
    tenant_id uuid primary key references tenants (id),
    -- 0 and the genesis hash for an empty chain
    seq bigint not null check (seq >= 0),
    hash text not null
);

insert into ledger_heads (tenant_id, seq, hash)
select t.id, coalesce(h.seq, 0), coalesce(h.hash, repeat('0', 64))
from tenants t
left join lateral (
    select e.seq, e.hash from ledger_events e
    where e.tenant_id = t.id
    order by e.seq desc
    limit 1
) h on true;

-- Every tenant has a head from its creation on, whoever inserts it.
create function accord_ledger_head() returns trigger language plpgsql as $$
begin
    insert into ledger_heads (tenant_id, seq, hash) values (new.id, 0, repeat('0', 64));
    return new;
end;
$$;
create trigger tenants_ledger_head after insert on tenants
    for each row execute function accord_ledger_head();

-- Replaced by the row locks on ledger_heads.
drop function accord_lock_ledger_heads(uuid[]);
