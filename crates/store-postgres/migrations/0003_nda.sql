-- Why: the mutual NDA a tenant may offer beside the consent (issue 3, item 7). A company's
-- signature is kept with the exact document text it signed and that text's hash, next to its
-- `nda_accepted` ledger event (written in the same transaction; ledger_seq is its position).
-- Like the ledger, a signed NDA is proof: the database refuses to change or remove one.
create table nda_acceptances (
    id uuid primary key,
    tenant_id uuid not null references tenants (id),
    company_id uuid not null,
    locale text not null,
    signer_name text not null,
    signer_title text not null,
    -- the rendered Markdown document, exactly as hashed
    document_text text not null,
    document_sha256 text not null,
    accepted_at timestamptz not null,
    -- position of the `nda_accepted` event (whose consent_id is this id) in the tenant's chain;
    -- no foreign key, so the ledger's own refusal of truncate keeps its message
    ledger_seq bigint not null check (ledger_seq >= 1),
    foreign key (tenant_id, company_id) references companies (tenant_id, id)
);
-- `company_ndas` and `ndas`: a tenant's (or company's) NDAs in id order.
create index nda_acceptances_company on nda_acceptances (tenant_id, company_id, id);

create trigger nda_acceptances_refuse_change before update or delete on nda_acceptances
    for each row execute function accord_refuse('signed NDAs are immutable');
create trigger nda_acceptances_refuse_truncate before truncate on nda_acceptances
    for each statement execute function accord_refuse('signed NDAs are immutable');
