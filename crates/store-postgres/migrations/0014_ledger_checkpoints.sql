-- Why: signed checkpoints of the consent ledger (issue 3: `ledger verify` checks every
-- signature). A checkpoint is a chain's head (position and hash) signed by the instance's
-- receipt key as a compact JWS; since each event's hash covers every earlier one, a checkpoint
-- seals its chain up to its position. Several instances may seal the same head: the primary key
-- keeps one. Like the events, checkpoints are append-only.
create table ledger_checkpoints (
    tenant_id uuid not null references tenants (id),
    seq bigint not null check (seq >= 1),
    hash text not null,
    sealed_at timestamptz not null,
    jws text not null,
    primary key (tenant_id, seq)
);

create trigger ledger_checkpoints_refuse_change before update or delete on ledger_checkpoints
    for each row execute function accord_refuse('ledger checkpoints are append-only');
create trigger ledger_checkpoints_refuse_truncate before truncate on ledger_checkpoints
    for each statement execute function accord_refuse('ledger checkpoints are append-only');
