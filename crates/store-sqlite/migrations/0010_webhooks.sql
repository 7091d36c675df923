-- Why: signed webhooks (issue 5). Three parts:
--   * webhook_endpoints: a tenant's URLs, each with its secret as an AEAD ciphertext (it must be
--     recoverable to sign) and, after a rotation, the previous one until its overlap ends;
--   * webhook_events: the transactional outbox. A row is inserted in the same transaction as the
--     change it describes; `fanned_out_at` is set once the worker made its deliveries. The body is
--     kept as text because signatures cover its exact bytes;
--   * webhook_deliveries (event × endpoint, claimed under a lease for one attempt at a time) and
--     webhook_attempts (every attempt, kept).
create table webhook_endpoints (
    id text primary key,
    tenant_id text not null references tenants (id),
    url text not null,
    description text,
    -- JSON array of event types; empty means every type
    event_types text not null check (json_valid(event_types) and json_type(event_types) = 'array'),
    enabled integer not null check (enabled in (0, 1)),
    disabled_reason text,
    secret_ct text not null,
    previous_secret_ct text,
    previous_secret_until integer,
    created_at integer not null,
    updated_at integer not null,
    deleted_at integer,
    unique (tenant_id, id)
) strict;
create index webhook_endpoints_tenant on webhook_endpoints (tenant_id, id) where deleted_at is null;

create table webhook_events (
    id text primary key,
    tenant_id text not null references tenants (id),
    event_type text not null,
    body text not null check (json_valid(body)),
    created_at integer not null,
    fanned_out_at integer,
    unique (tenant_id, id)
) strict;
create index webhook_events_unfanned on webhook_events (id) where fanned_out_at is null;
create index webhook_events_tenant on webhook_events (tenant_id, id);

create table webhook_deliveries (
    id text primary key,
    tenant_id text not null,
    endpoint_id text not null,
    event_id text not null,
    event_type text not null,
    status text not null check (status in ('pending', 'succeeded', 'failed')),
    attempts integer not null default 0,
    next_attempt_at integer,
    -- the claim holding it for one attempt, and until when
    claim text,
    locked_until integer,
    created_at integer not null,
    updated_at integer not null,
    foreign key (tenant_id, endpoint_id) references webhook_endpoints (tenant_id, id),
    foreign key (tenant_id, event_id) references webhook_events (tenant_id, id),
    unique (tenant_id, id)
) strict;
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_endpoint on webhook_deliveries (tenant_id, endpoint_id, id);

create table webhook_attempts (
    tenant_id text not null,
    delivery_id text not null,
    n integer not null check (n >= 1),
    at integer not null,
    duration_ms integer not null,
    response_status integer,
    error text,
    primary key (delivery_id, n),
    foreign key (tenant_id, delivery_id) references webhook_deliveries (tenant_id, id)
) strict;
