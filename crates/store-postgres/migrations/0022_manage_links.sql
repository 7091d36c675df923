-- A company's personal links back to its manage page, by the hash of their token (SHA-256 of
-- the URL token; the token itself is never stored). They do not expire with time: one opens
-- the manage page while a connection of the company is in force, until it is used from a new
-- browser (then a fresh one replaces it) or the tenant revokes them.
create table manage_links (
    token_hash text primary key,
    tenant_id uuid not null,
    company_id uuid not null,
    created_at timestamptz not null,
    revoked_at timestamptz,
    foreign key (tenant_id, company_id) references companies (tenant_id, id)
);
create index manage_links_company on manage_links (tenant_id, company_id) where revoked_at is null;
