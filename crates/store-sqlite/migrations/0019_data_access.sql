-- Why: data access under consent.
--
-- Who was connected at the platform (the organisation, realm or account a grant covers), as
-- its identity endpoint names it when a connection is linked. Signing in again to the same
-- organisation replaces the company's earlier connection to that platform, found through
-- `connections_upstream`, which holds only the rows that reported an identity.
alter table connections add column upstream_id text;
alter table connections add column upstream_name text;
create index connections_upstream on connections (tenant_id, company_id, platform_key, upstream_id)
    where upstream_id is not null;

-- One refresh at a time per connection, whoever refreshes (the worker's job or the data
-- gateway finding a token expired): platforms that rotate refresh tokens revoke the whole grant
-- when a spent one is presented again. A refresh takes the lease until this time; storing the
-- refresh, a deauthorization or a disconnect ends it early.
alter table connections add column refresh_leased_until integer;

-- Each consent is told ahead of its expiry once. A row of its own rather than a column of
-- `consents`: a consent is never edited (the triggers of `consents` allow setting
-- `withdrawn_at` once and nothing else), and a warning is not part of what was agreed.
create table consent_expiry_warnings (
    consent_id text primary key references consents (id),
    tenant_id text not null,
    warned_at integer not null
) strict;

-- Every access through a connection, shown to the customer and the tenant. The key is the one
-- order it is read in (a connection's records, newest first, by time-ordered id), so a record
-- costs one b-tree for the rows and one for the purge by age, and nothing else: it is written
-- on the data path. The owner's connection must exist (composite key: another tenant's
-- connection id is not found).
create table access_log (
    tenant_id text not null,
    connection_id text not null,
    id text not null,
    company_id text not null,
    at integer not null,
    kind text not null check (kind in ('data', 'proxy', 'credential')),
    data_type text,
    direction text check (direction in ('read', 'write')),
    outcome text not null,
    platform_status integer,
    records integer,
    bytes integer,
    api_key_id text,
    primary key (tenant_id, connection_id, id),
    foreign key (tenant_id, connection_id) references connections (tenant_id, id)
) strict, without rowid;
-- Retention deletes the oldest records first, of every tenant.
create index access_log_at on access_log (at);
