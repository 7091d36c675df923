-- Why: link settings are versioned with an audit of who changed what (every successful
-- `PUT /v1/link-settings` adds a row; a version never changes), and the tenant's logo is
-- stored beside them (uploaded on its own, served by Accord with the type detected from its
-- bytes). `tenants.settings` keeps the settings in force, so reading the flow's settings stays
-- one row.
create table link_settings_versions (
    tenant_id text not null references tenants (id),
    -- 1, 2, 3… per tenant, assigned inside the writing transaction
    number integer not null check (number > 0),
    settings text not null check (json_valid(settings)),
    -- JSON array of the top-level field names that changed from the previous version
    changed_fields text not null check (json_valid(changed_fields)),
    -- the public id of the API key that made the change (never its secret)
    changed_by text not null,
    created_at integer not null,
    primary key (tenant_id, number)
) strict;

create table tenant_logos (
    tenant_id text primary key references tenants (id),
    content_type text not null check (content_type in ('image/png', 'image/jpeg', 'image/webp')),
    bytes blob not null check (length(bytes) between 1 and 262144),
    sha256 text not null,
    updated_at integer not null
) strict;
