-- The tenant console: its people, their set-password links and sessions, the audit trail; and
-- API keys gain a name and the time of their last use.

-- Keys made before keys had names are called "default".
alter table api_keys add column name text not null default 'default';
-- Written at most once a minute per key by the API.
alter table api_keys add column last_used_at timestamptz;

-- One account per e-mail address on the instance (lower-cased by Accord before it gets here).
-- The password is an argon2id PHC string; the TOTP secret is sealed with the key ring.
create table console_users (
    id uuid primary key,
    tenant_id uuid not null references tenants (id),
    email text not null,
    name text not null,
    role text not null check (role in ('owner', 'admin', 'viewer')),
    password_hash text,
    totp_secret text,
    failed_sign_ins integer not null default 0,
    locked_until timestamptz,
    created_at timestamptz not null,
    disabled_at timestamptz,
    constraint console_users_email_key unique (email)
);
create index console_users_tenant on console_users (tenant_id, id);

-- Single-use links that set a password, by the SHA-256 of their secret.
create table console_set_password_tokens (
    token_hash text primary key,
    user_id uuid not null references console_users (id),
    tenant_id uuid not null references tenants (id),
    purpose text not null check (purpose in ('invite', 'reset')),
    created_at timestamptz not null,
    expires_at timestamptz not null,
    used_at timestamptz
);
create index console_set_password_tokens_user on console_set_password_tokens (user_id);

-- Signed-in console browsers, by the SHA-256 of their cookie's secret.
create table console_sessions (
    id_hash text primary key,
    user_id uuid not null references console_users (id),
    tenant_id uuid not null references tenants (id),
    created_at timestamptz not null,
    last_seen_at timestamptz not null,
    expires_at timestamptz not null,
    ended_at timestamptz,
    user_agent text not null
);
create index console_sessions_user on console_sessions (user_id, created_at) where ended_at is null;

-- Who did what in a tenant's console or through its API; read newest first, by page.
create table audit_log (
    id uuid primary key,
    tenant_id uuid not null references tenants (id),
    actor text not null,
    action text not null,
    target text,
    detail jsonb not null,
    at timestamptz not null
);
create index audit_log_tenant on audit_log (tenant_id, id);
