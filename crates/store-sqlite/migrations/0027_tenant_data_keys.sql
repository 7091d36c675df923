-- Per-tenant data keys (envelope encryption) and deletable tenants.
-- Each tenant's secrets (platform tokens, client secrets, webhook and TOTP secrets) are sealed
-- with a random data key of the tenant (`v2.<key id>.…` ciphertexts); the data key is stored
-- here only wrapped by the instance key file (AAD = tenant + key id). Deleting a tenant deletes
-- its rows here first: its ciphertexts, wherever copies of them linger (free pages, WAL,
-- replicas), can no longer be opened (crypto-shredding). Created lazily at a tenant's first
-- secret, so databases from before this migration keep working.
create table tenant_data_keys (
    tenant_id text not null references tenants (id),
    key_id text not null,
    -- `v1.<instance key id>.…`: the key wrapped by the instance keyring
    wrapped text not null,
    created_at integer not null,
    -- set when a newer key replaced this one (it still opens older ciphertexts until they are
    -- re-encrypted)
    retired_at integer,
    primary key (tenant_id, key_id)
) strict, without rowid;
-- At most one key in use per tenant: two instances making a tenant's first key at once agree.
create unique index tenant_data_keys_current on tenant_data_keys (tenant_id)
    where retired_at is null;

-- A deleted tenant stays as a row (its consents and ledger events name it) but no lookup finds it.
alter table tenants add column deleted_at integer;
