-- Why: each tenant's ledger becomes a Merkle tree (RFC 9162 §2.1) as well as a hash chain. A
-- chain and checkpoints kept in the same database cannot show an outsider that the newest events
-- were not cut off, or the chain rewritten and its checkpoints deleted; signed tree heads kept
-- outside the database can, with consistency proofs between any two of them and inclusion
-- proofs for any event, each O(log n) hashes.
--
-- One row per complete subtree: the one over leaves `[idx * 2^level, (idx + 1) * 2^level)`
-- (level 0: the leaf hash of the event at position idx + 1, SHA-256(0x00 || its chain hash)),
-- written in the same transaction as the events that complete it and never changed; the root
-- of any size and every proof hash is a fold of at most log2(n) of them. No foreign key to
-- tenants: a node exists only beside its tenant's events, which hold that reference already.
create table ledger_nodes (
    tenant_id uuid not null,
    level smallint not null check (level between 0 and 63),
    idx bigint not null check (idx >= 0),
    hash bytea not null check (length(hash) = 32),
    primary key (tenant_id, level, idx)
);

create trigger ledger_nodes_refuse_change before update or delete on ledger_nodes
    for each row execute function accord_refuse('ledger nodes are append-only');
create trigger ledger_nodes_refuse_truncate before truncate on ledger_nodes
    for each statement execute function accord_refuse('ledger nodes are append-only');

-- The right edge of each chain's tree (its "peaks": the roots of the complete subtrees that
-- make up `seq` leaves, largest first, 32 bytes each), beside the head it belongs to: the
-- appender that holds the head's row lock extends the tree from it without reading any node,
-- inside the consent batch's one statement as well (src/batch.rs).
alter table ledger_heads add column frontier bytea not null default '\x';

-- Appends leaves to a tree whose right edge is `frontier` at `size` leaves: the leaves are
-- ledger events' chain hashes (hex), in order. Returns every node the leaves complete (each
-- leaf, then the subtrees it closes), as arrays for one insert, and the new right edge. Pure:
-- the caller holds the chain. RFC 9162 §2.1.1: leaf SHA-256(0x00 || data), node
-- SHA-256(0x01 || left || right).
create function accord_merkle_extend(frontier bytea, size bigint, leaves text[],
    out levels smallint[], out idxs bigint[], out hashes bytea[], out new_frontier bytea)
language plpgsql immutable strict as $$
declare
    peaks bytea[] := array[]::bytea[];
    n bigint := size;
    h bytea;
    lvl int;
    leaf text;
begin
    for i in 0 .. length(frontier) / 32 - 1 loop
        peaks := peaks || substring(frontier from i * 32 + 1 for 32);
    end loop;
    levels := array[]::smallint[];
    idxs := array[]::bigint[];
    hashes := array[]::bytea[];
    foreach leaf in array leaves loop
        h := sha256('\x00'::bytea || decode(leaf, 'hex'));
        levels := levels || 0::smallint;
        idxs := idxs || n;
        hashes := hashes || h;
        lvl := 0;
        -- each trailing one bit of the old size is a peak of the new subtree's level
        while (n >> lvl) & 1 = 1 loop
            h := sha256('\x01'::bytea || peaks[cardinality(peaks)] || h);
            peaks := peaks[1:cardinality(peaks) - 1];
            lvl := lvl + 1;
            levels := levels || lvl::smallint;
            idxs := idxs || (n >> lvl);
            hashes := hashes || h;
        end loop;
        peaks := peaks || h;
        n := n + 1;
    end loop;
    new_frontier := '\x'::bytea;
    for i in 1 .. cardinality(peaks) loop
        new_frontier := new_frontier || peaks[i];
    end loop;
end;
$$;

-- The trees of the chains that exist already, built from their events, a thousand at a time.
do $$
declare
    t record;
    done bigint;
    grown record;
begin
    for t in select tenant_id, seq from ledger_heads where seq > 0 order by tenant_id for update loop
        done := 0;
        update ledger_heads set frontier = '\x' where tenant_id = t.tenant_id;
        while done < t.seq loop
            select m.* into grown
            from ledger_heads h,
                lateral accord_merkle_extend(h.frontier, done, (
                    select array_agg(e.hash order by e.seq) from ledger_events e
                    where e.tenant_id = t.tenant_id and e.seq > done and e.seq <= done + 1000
                )) m
            where h.tenant_id = t.tenant_id;
            insert into ledger_nodes (tenant_id, level, idx, hash)
            select t.tenant_id, n.level, n.idx, n.hash
            from unnest(grown.levels, grown.idxs, grown.hashes) as n (level, idx, hash);
            update ledger_heads set frontier = grown.new_frontier where tenant_id = t.tenant_id;
            done := least(done + 1000, t.seq);
        end loop;
    end loop;
end;
$$;
