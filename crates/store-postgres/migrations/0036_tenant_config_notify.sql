-- Instances keep each tenant's configuration (the tenant with its link settings, its logo, its
-- platforms, its notices) in memory for the hosted flow's pages. Every write to these tables,
-- whichever instance or command makes it, announces the tenant on the `accord_tenant_config`
-- channel; PostgreSQL delivers the notification when the transaction commits (never for one
-- rolled back), and each instance listening drops its copy. A trigger rather than a call in
-- each write path, so that no path (the console, the API, the command line, a future one) can
-- forget it.

create function accord_tenant_config_changed() returns trigger
language plpgsql as $$
declare
    tenant uuid;
begin
    if tg_table_name = 'tenants' then
        tenant := case when tg_op = 'DELETE' then old.id else new.id end;
    else
        tenant := case when tg_op = 'DELETE' then old.tenant_id else new.tenant_id end;
    end if;
    -- Identical notifications of one transaction are delivered once.
    perform pg_notify('accord_tenant_config', tenant::text);
    return null;
end
$$;

create trigger tenant_config_changed after update or delete on tenants
    for each row execute function accord_tenant_config_changed();
create trigger tenant_config_changed after insert or update or delete on tenant_logos
    for each row execute function accord_tenant_config_changed();
create trigger tenant_config_changed after insert or update or delete on tenant_platforms
    for each row execute function accord_tenant_config_changed();
create trigger tenant_config_changed after insert or update or delete on notices
    for each row execute function accord_tenant_config_changed();
create trigger tenant_config_changed after insert or update or delete on notice_versions
    for each row execute function accord_tenant_config_changed();
