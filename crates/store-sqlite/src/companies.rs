//! Companies, the tenant's customers ([`CompanyStore`]). Deleting one is a soft delete that
//! first disconnects everything it connected; its consents stay, as the tenant's proof.

use crate::codec::{after, all, exec, micros, one, RowExt};
use crate::SqliteStore;
use accord_domain::ids::{CompanyId, ConnectionId, TenantId};
use accord_domain::tenant::Company;
use accord_store::{CompanyStore, Page, Result};
use async_trait::async_trait;
use rusqlite::{params, Row};
use time::OffsetDateTime;

fn company_from(row: &Row<'_>) -> Result<Company> {
    Ok(Company {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        name: row.text("name")?,
        external_id: row.opt_text("external_id")?,
        created_at: row.time("created_at")?,
    })
}

#[async_trait]
impl CompanyStore for SqliteStore {
    async fn create_company(&self, company: &Company) -> Result<()> {
        let c = company.clone();
        self.write
            .transaction(move |db| {
                exec(
                    db,
                    "insert into companies (id, tenant_id, name, external_id, created_at)
                     values (?1, ?2, ?3, ?4, ?5)",
                    params![
                        c.id.to_string(),
                        c.tenant_id.to_string(),
                        c.name,
                        c.external_id,
                        micros(c.created_at)
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn company(&self, tenant: TenantId, id: CompanyId) -> Result<Option<Company>> {
        self.read
            .run_point(move |db| {
                one(
                    db,
                    "select id, tenant_id, name, external_id, created_at from companies
                     where tenant_id = ?1 and id = ?2 and deleted_at is null",
                    [tenant.to_string(), id.to_string()],
                    company_from,
                )
            })
            .await
    }

    async fn list_companies(
        &self,
        tenant: TenantId,
        page: Page<CompanyId>,
    ) -> Result<Vec<Company>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    "select id, tenant_id, name, external_id, created_at from companies
                     where tenant_id = ?1 and id > ?2 and deleted_at is null order by id limit ?3",
                    params![tenant.to_string(), after(page.after), page.limit],
                    company_from,
                )
            })
            .await
    }

    async fn delete_company(
        &self,
        tenant: TenantId,
        id: CompanyId,
        at: OffsetDateTime,
    ) -> Result<bool> {
        self.write
            .transaction(move |tx| {
                let deleted = exec(
                    tx,
                    "update companies set deleted_at = ?1
                     where tenant_id = ?2 and id = ?3 and deleted_at is null",
                    params![micros(at), tenant.to_string(), id.to_string()],
                )?;
                if deleted == 0 {
                    return Ok(false);
                }
                let active: Vec<ConnectionId> = all(
                    tx,
                    "select id from connections
                     where tenant_id = ?1 and company_id = ?2 and status <> 'disconnected'
                     order by id",
                    [tenant.to_string(), id.to_string()],
                    |r| r.id("id"),
                )?;
                // Same effect as the customer clicking "disconnect" on each (withdrawal takes
                // effect at once), in the same transaction as the deletion.
                for connection in active {
                    crate::connections::disconnect_in(
                        tx,
                        tenant,
                        connection,
                        true,
                        "company_deleted",
                        at,
                    )?;
                }
                Ok(true)
            })
            .await
    }
}
