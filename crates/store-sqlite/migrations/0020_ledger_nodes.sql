-- Why: each tenant's ledger becomes a Merkle tree (RFC 9162 §2.1) as well as a hash chain. A
-- chain and checkpoints kept in the same file cannot show an outsider that the newest events
-- were not cut off, or the chain rewritten and its checkpoints deleted; signed tree heads kept
-- outside the database can, with consistency proofs between any two of them and inclusion
-- proofs for any event, each O(log n) hashes.
--
-- One row per complete subtree: the leaves over leaves `[idx * 2^level, (idx + 1) * 2^level)`
-- (level 0: the leaf hash of the event at position idx + 1), written in the same transaction as
-- the events that complete it and never changed; the root of any size and every proof hash is a
-- fold of at most log2(n) of them. Chains that existed before this migration are built from
-- their events when the store opens (SQLite has no SHA-256 in SQL).
--
-- No foreign key to tenants: a node exists only beside the events of its tenant, which hold
-- that reference already, and a check per node would add index probes to every append.
create table ledger_nodes (
    tenant_id text not null,
    level integer not null check (level between 0 and 63),
    idx integer not null check (idx >= 0),
    hash blob not null check (length(hash) = 32),
    primary key (tenant_id, level, idx)
) strict, without rowid;

create trigger ledger_nodes_refuse_update before update on ledger_nodes
begin
    select raise(abort, 'ledger nodes are append-only');
end;

create trigger ledger_nodes_refuse_delete before delete on ledger_nodes
begin
    select raise(abort, 'ledger nodes are append-only');
end;
