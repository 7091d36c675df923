-- Why: the mutual NDA a tenant may offer beside the consent (issue 3, item 7). A company's
-- signature is kept with the exact document text it signed and that text's hash, next to its
-- `nda_accepted` ledger event (written in the same transaction; ledger_seq is its position).
-- Like the ledger, a signed NDA is proof: the database refuses to change or remove one.
create table nda_acceptances (
    id text primary key,
    tenant_id text not null references tenants (id),
    company_id text not null,
    locale text not null,
    signer_name text not null,
    signer_title text not null,
    -- the rendered Markdown document, exactly as hashed
    document_text text not null,
    document_sha256 text not null,
    accepted_at integer not null,
    -- position of the `nda_accepted` event (whose consent_id is this id) in the tenant's chain,
    -- linked by that consent_id rather than a foreign key (as in PostgreSQL)
    ledger_seq integer not null check (ledger_seq >= 1),
    foreign key (tenant_id, company_id) references companies (tenant_id, id)
) strict;
create index nda_acceptances_company on nda_acceptances (tenant_id, company_id, id);

create trigger nda_acceptances_refuse_update before update on nda_acceptances
begin
    select raise(abort, 'signed NDAs are immutable');
end;

create trigger nda_acceptances_refuse_delete before delete on nda_acceptances
begin
    select raise(abort, 'signed NDAs are immutable');
end;
