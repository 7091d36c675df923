-- Why: the sealer signs a tenant's Merkle tree as well as its chain head. A checkpoint now keeps
-- the tree's root at its position (base64, as the JWS signs it) and the C2SP `tlog-checkpoint`
-- signed note of the same tree, the one `/ledger/{tenant}/checkpoint` serves and the
-- `ledger.checkpoint` webhook delivers. Checkpoints signed before this carry neither (null).
alter table ledger_checkpoints add column root text;
alter table ledger_checkpoints add column note text;
