-- Why: signed checkpoints of the consent ledger (issue "proof of consent": `ledger verify`
-- checks every signature). A checkpoint is a chain's head (position and hash) signed by the
-- instance's receipt key as a compact JWS; since each event's hash covers every earlier one, a
-- checkpoint seals its chain up to its position. Like the events, checkpoints are append-only.
create table ledger_checkpoints (
    tenant_id text not null references tenants (id),
    seq integer not null check (seq >= 1),
    hash text not null,
    sealed_at integer not null,
    jws text not null,
    primary key (tenant_id, seq)
) strict, without rowid;

create trigger ledger_checkpoints_refuse_update before update on ledger_checkpoints
begin
    select raise(abort, 'ledger checkpoints are append-only');
end;

create trigger ledger_checkpoints_refuse_delete before delete on ledger_checkpoints
begin
    select raise(abort, 'ledger checkpoints are append-only');
end;
