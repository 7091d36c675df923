-- Why: signed webhooks (issue 5). Three parts:
--   * webhook_endpoints: a tenant's URLs, each with its secret as an AEAD ciphertext (it must be
--     recoverable to sign) and, after a rotation, the previous one until its overlap ends;
--   * webhook_events: the transactional outbox. A row is inserted in the same transaction as the
--     change it describes; `fanned_out_at` is set once a worker made its deliveries (claimed with
--     `for update skip locked`, so each event is fanned out by one instance). The body is text,
--     not jsonb, because signatures cover its exact bytes;
--   * webhook_deliveries (event × endpoint, claimed with `for update skip locked` under a lease
--     for one attempt at a time) and webhook_attempts (every attempt, kept).
create table webhook_endpoints (
    id uuid primary key,
    tenant_id uuid not null references tenants (id),
    url text not null,
    description text,
    -- event types sent; empty means every type
    event_types text[] not null,
    enabled boolean not null,
    disabled_reason text,
    secret_ct text not null,
    previous_secret_ct text,
    previous_secret_until timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz,
    unique (tenant_id, id)
);
create index webhook_endpoints_tenant on webhook_endpoints (tenant_id, id) where deleted_at is null;

create table webhook_events (
    id uuid primary key,
    tenant_id uuid not null references tenants (id),
    event_type text not null,
    body text not null,
    created_at timestamptz not null,
    fanned_out_at timestamptz,
    unique (tenant_id, id)
);
create index webhook_events_unfanned on webhook_events (id) where fanned_out_at is null;

create table webhook_deliveries (
    id uuid primary key,
    tenant_id uuid not null,
    endpoint_id uuid not null,
    event_id uuid not null,
    event_type text not null,
    status text not null check (status in ('pending', 'succeeded', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz,
    -- the claim holding it for one attempt, and until when
    claim uuid,
    locked_until timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    foreign key (tenant_id, endpoint_id) references webhook_endpoints (tenant_id, id),
    foreign key (tenant_id, event_id) references webhook_events (tenant_id, id),
    unique (tenant_id, id)
);
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_endpoint on webhook_deliveries (tenant_id, endpoint_id, id);

create table webhook_attempts (
    tenant_id uuid not null,
    delivery_id uuid not null,
    n integer not null check (n >= 1),
    at timestamptz not null,
    duration_ms bigint not null,
    response_status integer,
    error text,
    primary key (delivery_id, n),
    foreign key (tenant_id, delivery_id) references webhook_deliveries (tenant_id, id)
);
