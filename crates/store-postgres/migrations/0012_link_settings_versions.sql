-- Why: link settings are versioned with an audit of who changed what (every successful
-- `PUT /v1/link-settings` adds a row; a version never changes), and the tenant's logo is
-- stored beside them (uploaded on its own, served by Accord with the type detected from its
-- bytes). `tenants.settings` keeps the settings in force, so reading the flow's settings stays
-- one row.
create table link_settings_versions (
    tenant_id uuid not null references tenants (id),
    -- 1, 2, 3… per tenant, assigned inside the writing transaction (the tenant row is locked)
    number bigint not null check (number > 0),
    settings jsonb not null,
    -- the top-level field names that changed from the previous version
    changed_fields jsonb not null check (jsonb_typeof(changed_fields) = 'array'),
    -- the public id of the API key that made the change (never its secret)
    changed_by text not null,
    created_at timestamptz not null,
    primary key (tenant_id, number)
);

create table tenant_logos (
    tenant_id uuid primary key references tenants (id),
    content_type text not null check (content_type in ('image/png', 'image/jpeg', 'image/webp')),
    bytes bytea not null check (octet_length(bytes) between 1 and 262144),
    sha256 text not null,
    updated_at timestamptz not null
);
