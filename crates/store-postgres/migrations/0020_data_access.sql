-- Data access under consent: who a connection reaches at its platform, a lease that lets one
-- instance at a time refresh a connection's tokens on demand, a mark that a consent about to
-- expire was announced, and the access log the customer reads on the manage page.
--
-- Why each part:
--   * `connections.upstream_id`, `upstream_name`: the organisation (Xero tenant, QuickBooks
--     realm…) the platform's identity endpoint named when the connection was last linked. A
--     company that signs in twice to the same organisation holds two grants to the same data;
--     the link of the newer one disconnects the older one (tokens destroyed, revoked at the
--     platform, its consent withdrawn) in its transaction. Found through `connections_company`:
--     a company has a handful of connections, so no index of its own.
--   * `connections.refresh_leased_until`: a data call that finds the access token expired
--     refreshes it at once rather than waiting for the job. Platforms rotate refresh tokens and
--     revoke the whole grant when a spent one comes back, so exactly one caller, across every
--     instance, may refresh a connection at a time: the lease is taken by one conditional update
--     of the row (PostgreSQL re-checks the condition on the row as the previous holder committed
--     it), and cleared by the stored refresh, a deauthorization or a disconnect.
--   * `consents.expiry_warned_at`: `consent.expiring` is sent once per consent; the mark is set
--     in the transaction that writes the outbox row. The consents' trigger refused every change
--     but the withdrawal; it now also lets this mark be set, once, on a consent in force.
--   * `access_log`: every data read, write, proxied call and credential issued through a
--     connection, served or refused, for the customer and the tenant. It holds no data and no
--     secret. Rows are written in batches (one multi-row insert for many concurrent callers), so
--     the data path waits for one commit shared with others, never for a commit of its own.
--
-- Indexes follow 0001's rule: the one index starting with tenant_id is the primary key's;
-- `access_log_connection` starts with the connection id (a unique UUID, as selective as
-- (tenant_id, connection_id)), newest first for the access-log page, and the query checks the
-- tenant on the rows it finds. `access_log_at` finds the rows old enough to purge.
--
-- The log's reference to its connection is checked once per statement, as 0017 does for the
-- consent write (a foreign key would run one query per row, in the data path): connections are
-- never deleted nor re-keyed, so the check needs no lock. A record never changes; old ones are
-- deleted (storage limitation), so only updates are refused.
--
-- Rolling upgrades: everything is additive. Instances of the previous release never read nor
-- write the new columns, and the consents' trigger still accepts their withdrawals.

alter table connections
    add column upstream_id text,
    add column upstream_name text,
    add column refresh_leased_until timestamptz,
    -- `not valid`: every existing row has neither, so there is nothing to scan for
    add constraint connections_upstream_whole
        check ((upstream_id is null) = (upstream_name is null)) not valid;

alter table consents add column expiry_warned_at timestamptz;

-- A consent is withdrawn once, and may be marked as warned of its expiry once while in force;
-- nothing else of it ever changes (it is the tenant's proof). The whole rows are compared as
-- jsonb minus these two columns, which also covers columns added later.
create or replace function consents_only_withdraw() returns trigger language plpgsql as $$
declare
    withdrawn boolean := new.withdrawn_at is distinct from old.withdrawn_at;
    warned boolean := new.expiry_warned_at is distinct from old.expiry_warned_at;
begin
    if (to_jsonb(new) - 'withdrawn_at' - 'expiry_warned_at')
            is distinct from (to_jsonb(old) - 'withdrawn_at' - 'expiry_warned_at')
        or not (withdrawn or warned)
        or (withdrawn and (old.withdrawn_at is not null or new.withdrawn_at is null))
        or (warned and (old.expiry_warned_at is not null or new.expiry_warned_at is null
                        or old.withdrawn_at is not null))
    then
        raise exception 'a consent can only be withdrawn, once'
            using errcode = 'integrity_constraint_violation';
    end if;
    return new;
end;
$$;

create table access_log (
    -- UUIDv7 from the application: `order by id` is the order the accesses happened in
    id uuid primary key,
    tenant_id uuid not null,
    company_id uuid not null,
    connection_id uuid not null,
    at timestamptz not null,
    kind text not null check (kind in ('data', 'proxy', 'credential')),
    data_type text,
    direction text check (direction in ('read', 'write')),
    -- `served`, `platform_error`, or the refusal's reason
    outcome text not null,
    platform_status integer,
    records bigint check (records >= 0),
    bytes bigint check (bytes >= 0),
    -- the public id of the API key that made the call, never its secret
    api_key_id text
);
create index access_log_connection on access_log (connection_id, id desc);
create index access_log_at on access_log (at);

create function accord_access_log_references() returns trigger language plpgsql as $$
begin
    if exists (select 1 from new_rows n where not exists (
        select 1 from connections p
        where p.tenant_id = n.tenant_id and p.id = n.connection_id
            and p.company_id = n.company_id)) then
        perform accord_missing_parent('access_log', 'access_log_tenant_id_connection_id_fkey');
    end if;
    return null;
end $$;
create trigger access_log_references after insert on access_log
    referencing new table as new_rows
    for each statement execute function accord_access_log_references();

create trigger access_log_refuse_change before update on access_log
    for each row execute function accord_refuse('access records never change');
