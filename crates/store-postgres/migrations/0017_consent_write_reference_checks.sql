-- The consent write's references, checked once per statement instead of once per row.
--
-- Why: a group-commit batch inserts its connections, consents, OAuth flows, ledger events and
-- webhook outbox rows in one statement (src/batch.rs), and each row's foreign keys were checked
-- one by one: PostgreSQL runs every check as a query of its own (start an executor, look the
-- parent up, lock it `for key share`, end the executor), seven or nine a consent. A CPU profile
-- of one tenant's consents at 64 in flight put those checks at 30 % of the server's time, and
-- they ran while the batch held its tenant's ledger chain (docs/benchmarks.md, 2026-12-04).
-- PostgreSQL has no set-based foreign-key check, so the references of these five tables to
-- rows that are never deleted are checked here by one query per table and statement over the
-- rows the statement inserted (a transition table): about 0.2 ms a batch instead of 3.
--
-- What holds, as before:
--   * A row naming a parent that does not exist for its tenant is refused, statement and all,
--     with SQLSTATE 23503 (foreign_key_violation) and the dropped constraint's name, as the
--     foreign key refused it; the store answers NotFound (src/error.rs). The check queries see
--     the latest committed rows and the statement's own, so a consent and the connection it
--     names may still arrive in one statement.
--   * A reference never changes after the insert: the consents and the ledger refuse every
--     change already (0001, 0002); the other children refuse a change of their reference
--     columns below.
--   * A parent never goes away: tenants, companies (soft-deleted) and connections (disconnected,
--     kept as proof) are never deleted, truncated or re-keyed by Accord, and now the database
--     refuses it (notice versions refused it already). This is also why the checks need no
--     `for key share` lock: the foreign key locked each parent so that it could not be deleted
--     before the child committed, and none of these parents can be deleted at all.
-- Browser sessions are not among them: they expire, and storage limitation wants expired ones
-- deletable, so an OAuth flow keeps its declared foreign key to its browser session. The other
-- tables keep theirs too; they are off the consent's hot path.
--
-- Rolling upgrades: instances of the previous version write the same rows and get the same
-- refusals, so this migration can run while they serve.

alter table connections drop constraint connections_tenant_id_company_id_fkey;
alter table consents drop constraint consents_tenant_id_company_id_fkey;
alter table consents drop constraint consents_tenant_id_connection_id_fkey;
alter table consents drop constraint consents_tenant_id_notice_version_id_fkey;
alter table oauth_flows drop constraint oauth_flows_tenant_id_connection_id_fkey;
alter table ledger_events drop constraint ledger_events_tenant_id_fkey;
alter table webhook_events drop constraint webhook_events_tenant_id_fkey;

-- Refuses a statement whose new rows name a parent that does not exist, as the foreign key
-- `name` on `child` did.
create function accord_missing_parent(child text, name text) returns void language plpgsql as $$
begin
    raise exception 'insert or update on table "%" violates foreign key constraint "%"', child, name
        using errcode = 'foreign_key_violation', constraint = name, table = child;
end $$;

-- One function per child table, with static queries: PL/pgSQL prepares each once per session.
-- Each `exists` is its own query (an `or` of anti-joins is planned as one slow join).
create function accord_connections_references() returns trigger language plpgsql as $$
begin
    if exists (select 1 from new_rows n where not exists (
        select 1 from companies p where p.tenant_id = n.tenant_id and p.id = n.company_id)) then
        perform accord_missing_parent('connections', 'connections_tenant_id_company_id_fkey');
    end if;
    return null;
end $$;
create trigger connections_references after insert on connections
    referencing new table as new_rows
    for each statement execute function accord_connections_references();

create function accord_consents_references() returns trigger language plpgsql as $$
begin
    if exists (select 1 from new_rows n where not exists (
        select 1 from connections p where p.tenant_id = n.tenant_id and p.id = n.connection_id)) then
        perform accord_missing_parent('consents', 'consents_tenant_id_connection_id_fkey');
    end if;
    if exists (select 1 from new_rows n where not exists (
        select 1 from companies p where p.tenant_id = n.tenant_id and p.id = n.company_id)) then
        perform accord_missing_parent('consents', 'consents_tenant_id_company_id_fkey');
    end if;
    if exists (select 1 from new_rows n where not exists (
        select 1 from notice_versions p where p.tenant_id = n.tenant_id and p.id = n.notice_version_id)) then
        perform accord_missing_parent('consents', 'consents_tenant_id_notice_version_id_fkey');
    end if;
    return null;
end $$;
create trigger consents_references after insert on consents
    referencing new table as new_rows
    for each statement execute function accord_consents_references();

create function accord_oauth_flows_references() returns trigger language plpgsql as $$
begin
    if exists (select 1 from new_rows n where not exists (
        select 1 from connections p where p.tenant_id = n.tenant_id and p.id = n.connection_id)) then
        perform accord_missing_parent('oauth_flows', 'oauth_flows_tenant_id_connection_id_fkey');
    end if;
    return null;
end $$;
create trigger oauth_flows_references after insert on oauth_flows
    referencing new table as new_rows
    for each statement execute function accord_oauth_flows_references();

create function accord_ledger_events_references() returns trigger language plpgsql as $$
begin
    if exists (select 1 from new_rows n where not exists (select 1 from tenants p where p.id = n.tenant_id)) then
        perform accord_missing_parent('ledger_events', 'ledger_events_tenant_id_fkey');
    end if;
    return null;
end $$;
create trigger ledger_events_references after insert on ledger_events
    referencing new table as new_rows
    for each statement execute function accord_ledger_events_references();

create function accord_webhook_events_references() returns trigger language plpgsql as $$
begin
    if exists (select 1 from new_rows n where not exists (select 1 from tenants p where p.id = n.tenant_id)) then
        perform accord_missing_parent('webhook_events', 'webhook_events_tenant_id_fkey');
    end if;
    return null;
end $$;
create trigger webhook_events_references after insert on webhook_events
    referencing new table as new_rows
    for each statement execute function accord_webhook_events_references();

-- References never change. `before update of …` fires only for statements that set one of
-- those columns, so the consent write's own updates (status, supersession) pay nothing.
create trigger connections_refuse_rekey before update of id, tenant_id, company_id on connections
    for each row when ((old.id, old.tenant_id, old.company_id) is distinct from (new.id, new.tenant_id, new.company_id))
    execute function accord_refuse('a connection keeps its id, tenant and company');
create trigger oauth_flows_refuse_rekey before update of tenant_id, connection_id on oauth_flows
    for each row when ((old.tenant_id, old.connection_id) is distinct from (new.tenant_id, new.connection_id))
    execute function accord_refuse('an OAuth flow keeps its tenant and connection');
create trigger webhook_events_refuse_rekey before update of tenant_id on webhook_events
    for each row when (old.tenant_id is distinct from new.tenant_id)
    execute function accord_refuse('a webhook event keeps its tenant');

-- Parents never go away.
create trigger tenants_refuse_delete before delete on tenants
    for each row execute function accord_refuse('tenants are never deleted');
create trigger tenants_refuse_truncate before truncate on tenants
    for each statement execute function accord_refuse('tenants are never deleted');
create trigger tenants_refuse_rekey before update of id on tenants
    for each row when (old.id is distinct from new.id)
    execute function accord_refuse('a tenant keeps its id');
create trigger companies_refuse_delete before delete on companies
    for each row execute function accord_refuse('companies are soft-deleted, never deleted');
create trigger companies_refuse_truncate before truncate on companies
    for each statement execute function accord_refuse('companies are soft-deleted, never deleted');
create trigger companies_refuse_rekey before update of id, tenant_id on companies
    for each row when ((old.id, old.tenant_id) is distinct from (new.id, new.tenant_id))
    execute function accord_refuse('a company keeps its id and tenant');
create trigger connections_refuse_delete before delete on connections
    for each row execute function accord_refuse('connections are disconnected, never deleted');
create trigger connections_refuse_truncate before truncate on connections
    for each statement execute function accord_refuse('connections are disconnected, never deleted');
