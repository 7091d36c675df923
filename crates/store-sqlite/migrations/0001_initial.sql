-- Why: the first schema of Accord's embedded store, one table per entity of the `Store` trait.
-- Conventions every later migration keeps (and `src/codec.rs` reads):
--   * ids are text, hyphenated lowercase UUIDv7, so `order by id` is creation order;
--   * times are integer unix microseconds, UTC: sortable, compact, PostgreSQL's precision;
--   * documents are JSON text, checked with json_valid;
--   * tables are strict, so a value of the wrong type is refused rather than stored;
--   * owner-scoped lookups have an index starting with tenant_id, and a child references its
--     parent through (tenant_id, id): no row can point into another tenant's data.
-- Migrations are never edited once they land; change the schema with a new file.

create table tenants (
    id text primary key,
    -- `tenant_by_name` finds one tenant: names are unique.
    name text not null unique,
    settings text not null check (json_valid(settings)),
    created_at integer not null
) strict;

create table api_keys (
    id text primary key,
    tenant_id text not null references tenants (id),
    -- the public half of the key, used to find the row; only the secret's hash is stored
    key_id text not null unique,
    secret_hash text not null,
    created_at integer not null,
    revoked_at integer
) strict;
create index api_keys_tenant on api_keys (tenant_id);

create table companies (
    id text primary key,
    tenant_id text not null references tenants (id),
    name text not null,
    external_id text,
    created_at integer not null,
    -- soft delete: consents keep pointing at the company (they are the tenant's proof)
    deleted_at integer,
    unique (tenant_id, id)
) strict;
-- One live company per tenant × external_id; deleting a company frees its external_id.
create unique index companies_external_id on companies (tenant_id, external_id)
    where external_id is not null and deleted_at is null;

create table tenant_platforms (
    tenant_id text not null references tenants (id),
    platform_key text not null,
    enabled integer not null check (enabled in (0, 1)),
    client_id text,
    -- AEAD ciphertext (AAD = tenant + platform), never the secret itself
    client_secret_ct text,
    updated_at integer not null,
    primary key (tenant_id, platform_key)
) strict, without rowid;

create table notices (
    id text primary key,
    tenant_id text not null references tenants (id),
    category text not null,
    locale text not null,
    current_version integer not null check (current_version >= 1),
    created_at integer not null,
    updated_at integer not null,
    unique (tenant_id, category, locale),
    unique (tenant_id, id)
) strict;

create table notice_versions (
    id text primary key,
    tenant_id text not null,
    notice_id text not null,
    version integer not null check (version >= 1),
    content text not null check (json_valid(content)),
    created_at integer not null,
    unique (notice_id, version),
    unique (tenant_id, id),
    foreign key (tenant_id, notice_id) references notices (tenant_id, id)
) strict;

-- A notice version never changes (DESIGN.md vocabulary): consents and receipts quote it.
create trigger notice_versions_refuse_update before update on notice_versions
begin
    select raise(abort, 'notice versions are immutable');
end;
create trigger notice_versions_refuse_delete before delete on notice_versions
begin
    select raise(abort, 'notice versions are immutable');
end;

create table link_sessions (
    id text primary key,
    tenant_id text not null,
    company_id text not null,
    -- which surface it opens: the hosted flow or the manage page
    kind text not null check (kind in ('link', 'manage')),
    -- SHA-256 of the URL token; the token itself is never stored
    token_hash text not null unique,
    locale text,
    categories text not null check (json_valid(categories)),
    return_url text,
    created_at integer not null,
    expires_at integer not null,
    used_at integer,
    unique (tenant_id, id),
    foreign key (tenant_id, company_id) references companies (tenant_id, id)
) strict;
create index link_sessions_company on link_sessions (tenant_id, company_id);

create table browser_sessions (
    id text primary key,
    tenant_id text not null,
    company_id text not null,
    kind text not null check (kind in ('link', 'manage')),
    link_session_id text,
    token_hash text not null unique,
    created_at integer not null,
    expires_at integer not null,
    unique (tenant_id, id),
    foreign key (tenant_id, company_id) references companies (tenant_id, id),
    foreign key (tenant_id, link_session_id) references link_sessions (tenant_id, id)
) strict;
create index browser_sessions_company on browser_sessions (tenant_id, company_id);

create table connections (
    id text primary key,
    tenant_id text not null,
    company_id text not null,
    platform_key text not null,
    status text not null check (
        status in ('pending_auth', 'linked', 'deauthorized', 'disconnected', 'reconsent_required')
    ),
    data_uses text not null check (json_valid(data_uses)),
    -- Not a foreign key on purpose: the consent row is written after the connection in the same
    -- transaction, and a deferred check would run at the group commit, where one bad request
    -- would fail the whole batch instead of only itself (see src/writer.rs).
    consent_id text,
    granted_scope text,
    last_error text,
    -- AEAD ciphertext of the platform token set (AAD = tenant + connection); null once destroyed
    tokens_ct text,
    created_at integer not null,
    updated_at integer not null,
    linked_at integer,
    disconnected_at integer,
    unique (tenant_id, id),
    foreign key (tenant_id, company_id) references companies (tenant_id, id)
) strict;
create index connections_company on connections (tenant_id, company_id, id);

create table oauth_flows (
    -- SHA-256 of the OAuth `state`; consuming a flow deletes its row
    state_hash text primary key,
    tenant_id text not null,
    browser_session_id text not null,
    connection_id text not null,
    platform_key text not null,
    pkce_verifier_ct text not null,
    redirect_uri text not null,
    created_at integer not null,
    expires_at integer not null,
    foreign key (tenant_id, browser_session_id) references browser_sessions (tenant_id, id),
    foreign key (tenant_id, connection_id) references connections (tenant_id, id)
) strict, without rowid;
create index oauth_flows_connection on oauth_flows (tenant_id, connection_id);

create table consents (
    id text primary key,
    tenant_id text not null,
    company_id text not null,
    connection_id text not null,
    platform_key text not null,
    category text not null,
    notice_version_id text not null,
    notice_version integer not null,
    locale text not null,
    data_uses text not null check (json_valid(data_uses)),
    notice_text text not null,
    notice_sha256 text not null,
    evidence text not null check (json_valid(evidence)),
    given_at integer not null,
    withdrawn_at integer,
    foreign key (tenant_id, company_id) references companies (tenant_id, id),
    foreign key (tenant_id, connection_id) references connections (tenant_id, id),
    foreign key (tenant_id, notice_version_id) references notice_versions (tenant_id, id)
) strict;
create index consents_company on consents (tenant_id, company_id, id);
create index consents_connection on consents (tenant_id, connection_id);

-- A consent is withdrawn, never edited or deleted (DESIGN.md vocabulary; GDPR Art. 7(1): the
-- tenant must be able to demonstrate it). The only change allowed sets withdrawn_at once.
create trigger consents_refuse_delete before delete on consents
begin
    select raise(abort, 'consents are never deleted');
end;
create trigger consents_only_withdraw before update on consents
when old.withdrawn_at is not null
    or new.withdrawn_at is null
    or new.id is not old.id
    or new.tenant_id is not old.tenant_id
    or new.company_id is not old.company_id
    or new.connection_id is not old.connection_id
    or new.platform_key is not old.platform_key
    or new.category is not old.category
    or new.notice_version_id is not old.notice_version_id
    or new.notice_version is not old.notice_version
    or new.locale is not old.locale
    or new.data_uses is not old.data_uses
    or new.notice_text is not old.notice_text
    or new.notice_sha256 is not old.notice_sha256
    or new.evidence is not old.evidence
    or new.given_at is not old.given_at
begin
    select raise(abort, 'a consent can only be withdrawn, once');
end;

create table support_requests (
    id text primary key,
    tenant_id text not null references tenants (id),
    company_id text,
    -- `SR-` and 8 characters, quoted by the customer in replies
    reference text not null,
    topic text not null,
    message text not null,
    reply_to text not null,
    diagnostics text not null check (json_valid(diagnostics)),
    created_at integer not null,
    unique (tenant_id, reference),
    unique (tenant_id, id),
    foreign key (tenant_id, company_id) references companies (tenant_id, id)
) strict;

create table jobs (
    id text primary key,
    tenant_id text not null references tenants (id),
    kind text not null,
    -- may hold an AEAD ciphertext (the token to revoke); set to json null once the job ends
    payload text not null check (json_valid(payload)),
    attempts integer not null default 0,
    run_at integer not null,
    -- the lease of the worker that claimed it; claimable again once it has passed
    locked_until integer,
    last_error text,
    done_at integer,
    created_at integer not null
) strict;
create index jobs_due on jobs (run_at) where done_at is null;
create index jobs_tenant on jobs (tenant_id);
