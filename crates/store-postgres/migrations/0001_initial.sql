-- Why: the first schema of Accord's PostgreSQL store, one table per entity of the `Store` trait,
-- holding exactly what the SQLite store holds (same rules, same names) so both pass one suite.
-- Conventions every later migration keeps (and `src/codec.rs` reads):
--   * ids are `uuid` (UUIDv7 from the application), so `order by id` is creation order;
--   * times are `timestamptz`, microsecond precision, written and read as UTC;
--   * documents are `jsonb`; enumerations are text with a check of the allowed values;
--   * every query names the tenant, and a child references its parent through (tenant_id, id):
--     no row can point into another tenant's data;
--   * the one index starting with tenant_id on a table is its unique (tenant_id, id) (or its
--     primary key); secondary indexes start with the parent's id instead (company_id, …), and
--     the query's tenant_id is checked on the rows they find. Why: PostgreSQL caches generic
--     plans, among them each foreign-key check's `where tenant_id = $1 and id = $2`. Planned
--     while a table is still empty, such a lookup costs the same on any index that starts with
--     tenant_id, and one on (tenant_id, company_id, id) would then be scanned over all of the
--     tenant's rows at every check, for as long as the connection lives (measured: 150 µs per
--     consent and growing, against 5 µs). Parent ids are unique UUIDs, so an index on
--     (company_id, …) is as selective as one on (tenant_id, company_id, …).
-- Migrations are never edited once they land; change the schema with a new file, and keep each
-- change backward compatible with the release before it (expand, then contract a release
-- later: docs/deployment.md), since several instances of two versions share one database
-- during a rolling upgrade.

create table tenants (
    id uuid primary key,
    -- `tenant_by_name` finds one tenant: names are unique.
    name text not null unique,
    settings jsonb not null check (jsonb_typeof(settings) = 'object'),
    created_at timestamptz not null
);

create table api_keys (
    id uuid primary key,
    tenant_id uuid not null references tenants (id),
    -- the public half of the key, used to find the row; only the secret's hash is stored
    key_id text not null unique,
    secret_hash text not null,
    created_at timestamptz not null,
    revoked_at timestamptz
);
create index api_keys_tenant on api_keys (tenant_id);

create table companies (
    id uuid primary key,
    tenant_id uuid not null references tenants (id),
    name text not null,
    external_id text,
    created_at timestamptz not null,
    -- soft delete: consents keep pointing at the company (they are the tenant's proof)
    deleted_at timestamptz,
    -- the target of every child's (tenant_id, company_id) reference, and the index of
    -- `list_companies` (tenant_id = $1 and id > $2 order by id)
    unique (tenant_id, id)
);
-- One live company per tenant × external_id; deleting a company frees its external_id.
create unique index companies_external_id on companies (tenant_id, external_id)
    where external_id is not null and deleted_at is null;

create table tenant_platforms (
    tenant_id uuid not null references tenants (id),
    platform_key text not null,
    enabled boolean not null,
    client_id text,
    -- AEAD ciphertext (AAD = tenant + platform), never the secret itself
    client_secret_ct text,
    updated_at timestamptz not null,
    primary key (tenant_id, platform_key)
);

create table notices (
    id uuid primary key,
    tenant_id uuid not null references tenants (id),
    category text not null,
    locale text not null,
    -- bumped by `insert … on conflict do update`, which PostgreSQL serialises per row: two
    -- instances adding a version at once get consecutive numbers
    current_version integer not null check (current_version >= 1),
    created_at timestamptz not null,
    updated_at timestamptz not null,
    unique (tenant_id, category, locale),
    unique (tenant_id, id)
);

create table notice_versions (
    id uuid primary key,
    tenant_id uuid not null,
    notice_id uuid not null,
    version integer not null check (version >= 1),
    content jsonb not null check (jsonb_typeof(content) = 'object'),
    created_at timestamptz not null,
    unique (notice_id, version),
    unique (tenant_id, id),
    foreign key (tenant_id, notice_id) references notices (tenant_id, id)
);

-- Refuses the statement with the message given as the trigger's argument. Shared by the
-- triggers below that keep proof records unchanged.
create function accord_refuse() returns trigger language plpgsql as $$
begin
    raise exception '%', tg_argv[0] using errcode = 'integrity_constraint_violation';
end;
$$;

-- A notice version never changes (DESIGN.md vocabulary): consents and receipts quote it.
-- `truncate` skips row triggers, hence the statement-level one.
create trigger notice_versions_refuse_change before update or delete on notice_versions
    for each row execute function accord_refuse('notice versions are immutable');
create trigger notice_versions_refuse_truncate before truncate on notice_versions
    for each statement execute function accord_refuse('notice versions are immutable');

create table link_sessions (
    id uuid primary key,
    tenant_id uuid not null,
    company_id uuid not null,
    -- which surface it opens: the hosted flow or the manage page
    kind text not null check (kind in ('link', 'manage')),
    -- SHA-256 of the URL token; the token itself is never stored
    token_hash text not null unique,
    locale text,
    categories jsonb not null check (jsonb_typeof(categories) = 'array'),
    return_url text,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    -- set once by the `update … where used_at is null … returning` that consumes the session
    used_at timestamptz,
    unique (tenant_id, id),
    foreign key (tenant_id, company_id) references companies (tenant_id, id)
);
create index link_sessions_company on link_sessions (company_id);

create table browser_sessions (
    id uuid primary key,
    tenant_id uuid not null,
    company_id uuid not null,
    kind text not null check (kind in ('link', 'manage')),
    link_session_id uuid,
    token_hash text not null unique,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    unique (tenant_id, id),
    foreign key (tenant_id, company_id) references companies (tenant_id, id),
    foreign key (tenant_id, link_session_id) references link_sessions (tenant_id, id)
);
create index browser_sessions_company on browser_sessions (company_id);

create table connections (
    id uuid primary key,
    tenant_id uuid not null,
    company_id uuid not null,
    platform_key text not null,
    status text not null check (
        status in ('pending_auth', 'linked', 'deauthorized', 'disconnected', 'reconsent_required')
    ),
    data_uses jsonb not null check (jsonb_typeof(data_uses) = 'array'),
    -- Not a foreign key on purpose, as in the SQLite store: the consent row is written after the
    -- connection, and a deferred check would run at the group commit, where one bad request
    -- would fail the whole batch instead of only itself (see src/writer.rs).
    consent_id uuid,
    granted_scope text,
    last_error text,
    -- AEAD ciphertext of the platform token set (AAD = tenant + connection); null once destroyed
    tokens_ct text,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    linked_at timestamptz,
    disconnected_at timestamptz,
    unique (tenant_id, id),
    foreign key (tenant_id, company_id) references companies (tenant_id, id)
);
create index connections_company on connections (company_id, id);

create table oauth_flows (
    -- SHA-256 of the OAuth `state`; consuming a flow deletes its row (`delete … returning`)
    state_hash text primary key,
    tenant_id uuid not null,
    browser_session_id uuid not null,
    connection_id uuid not null,
    platform_key text not null,
    pkce_verifier_ct text not null,
    redirect_uri text not null,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    foreign key (tenant_id, browser_session_id) references browser_sessions (tenant_id, id),
    foreign key (tenant_id, connection_id) references connections (tenant_id, id)
);
-- No index on connection_id, unlike the SQLite schema: a flow is only ever found by its state
-- hash, connections are never deleted (so the foreign key never looks flows up by connection),
-- and each index is paid for on the consent's hot path (docs/benchmarks.md).

create table consents (
    id uuid primary key,
    tenant_id uuid not null,
    company_id uuid not null,
    connection_id uuid not null,
    platform_key text not null,
    category text not null,
    notice_version_id uuid not null,
    notice_version integer not null,
    locale text not null,
    data_uses jsonb not null check (jsonb_typeof(data_uses) = 'array'),
    notice_text text not null,
    notice_sha256 text not null,
    evidence jsonb not null check (jsonb_typeof(evidence) = 'object'),
    given_at timestamptz not null,
    withdrawn_at timestamptz,
    foreign key (tenant_id, company_id) references companies (tenant_id, id),
    foreign key (tenant_id, connection_id) references connections (tenant_id, id),
    foreign key (tenant_id, notice_version_id) references notice_versions (tenant_id, id)
);
create index consents_company on consents (company_id, id);
create index consents_connection on consents (connection_id);

-- A consent is withdrawn, never edited or deleted (DESIGN.md vocabulary; GDPR Art. 7(1): the
-- tenant must be able to demonstrate it). The only change allowed sets withdrawn_at once.
-- Comparing the whole rows as jsonb minus withdrawn_at also covers columns added later.
create function consents_only_withdraw() returns trigger language plpgsql as $$
begin
    if old.withdrawn_at is not null
        or new.withdrawn_at is null
        or (to_jsonb(new) - 'withdrawn_at') is distinct from (to_jsonb(old) - 'withdrawn_at')
    then
        raise exception 'a consent can only be withdrawn, once'
            using errcode = 'integrity_constraint_violation';
    end if;
    return new;
end;
$$;
create trigger consents_only_withdraw before update on consents
    for each row execute function consents_only_withdraw();
create trigger consents_refuse_delete before delete on consents
    for each row execute function accord_refuse('consents are never deleted');
create trigger consents_refuse_truncate before truncate on consents
    for each statement execute function accord_refuse('consents are never deleted');

create table support_requests (
    id uuid primary key,
    tenant_id uuid not null references tenants (id),
    company_id uuid,
    -- `SR-` and 8 characters, quoted by the customer in replies
    reference text not null,
    topic text not null,
    message text not null,
    reply_to text not null,
    diagnostics jsonb not null,
    created_at timestamptz not null,
    unique (tenant_id, reference),
    unique (tenant_id, id),
    foreign key (tenant_id, company_id) references companies (tenant_id, id)
);

create table jobs (
    id uuid primary key,
    tenant_id uuid not null references tenants (id),
    kind text not null,
    -- may hold an AEAD ciphertext (the token to revoke); set to json null once the job ends
    payload jsonb not null,
    attempts integer not null default 0,
    run_at timestamptz not null,
    -- the lease of the worker that claimed it; claimable again once it has passed. Claims use
    -- `for update skip locked`, so workers of several instances never wait on each other
    locked_until timestamptz,
    last_error text,
    done_at timestamptz,
    created_at timestamptz not null
);
create index jobs_due on jobs (run_at, id) where done_at is null;
create index jobs_tenant on jobs (tenant_id);
