//! [`CompanyStore`] on PostgreSQL: the tenant's customers. Deleting one is a soft delete that
//! first disconnects everything it connected; its consents stay, as the tenant's proof.

use crate::codec::{after, RowExt};
use crate::error::db;
use crate::PgStore;
use accord_domain::ids::{CompanyId, TenantId};
use accord_domain::tenant::Company;
use accord_store::{CompanyStore, Page, Result};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;

macro_rules! company_cols {
    () => {
        "id, tenant_id, name, external_id, created_at"
    };
}

fn company_from(row: &PgRow) -> Result<Company> {
    Ok(Company {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        name: row.text("name")?,
        external_id: row.opt_text("external_id")?,
        created_at: row.time("created_at")?,
    })
}

#[async_trait]
impl CompanyStore for PgStore {
    async fn create_company(&self, c: &Company) -> Result<()> {
        sqlx::query(
            "insert into companies (id, tenant_id, name, external_id, created_at) values ($1, $2, $3, $4, $5)",
        )
        .bind(c.id.as_uuid())
        .bind(c.tenant_id.as_uuid())
        .bind(&c.name)
        .bind(&c.external_id)
        .bind(c.created_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn company(&self, tenant: TenantId, id: CompanyId) -> Result<Option<Company>> {
        sqlx::query(concat!(
            "select ",
            company_cols!(),
            " from companies where tenant_id = $1 and id = $2 and deleted_at is null"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| company_from(&r))
        .transpose()
    }

    async fn list_companies(
        &self,
        tenant: TenantId,
        page: Page<CompanyId>,
    ) -> Result<Vec<Company>> {
        sqlx::query(concat!(
            "select ",
            company_cols!(),
            " from companies where tenant_id = $1 and id > $2 and deleted_at is null order by id limit $3"
        ))
        .bind(tenant.as_uuid())
        .bind(after(page.after.map(|a| a.as_uuid())))
        .bind(i64::from(page.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(company_from)
        .collect()
    }

    async fn delete_company(
        &self,
        tenant: TenantId,
        id: CompanyId,
        at: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Lock order (see `ledger.rs`): the company, its connections, then the tenant's ledger
        // chain, which the disconnects below append `withdrawn` events to. A consent batch writing
        // for this company right now either committed before the chain was taken here (its
        // connection is then seen, and disconnected, below) or takes the chain after this
        // deletion commits and is refused then (migration 0019). (The consent write checks its
        // references without locking the company: migration 0017.)
        // `for update`: a second deletion of the same company waits, then finds it deleted.
        let live: Option<uuid::Uuid> = sqlx::query_scalar(
            "select id from companies where tenant_id = $1 and id = $2 and deleted_at is null for update",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if live.is_none() {
            return Ok(false);
        }
        sqlx::query("update companies set deleted_at = $1 where tenant_id = $2 and id = $3")
            .bind(at)
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // The company's connections (locked), then its chain; the disconnects below append to it.
        crate::connections::active_ids(&mut tx, tenant, id).await?;
        crate::ledger::lock_heads(&mut tx, &[tenant]).await?;
        // Same effect as the customer clicking "disconnect" on each (withdrawal takes effect at
        // once), in the same transaction as the deletion. Listed again now that the chain is
        // held: connections committed by consent batches meanwhile are among them.
        for connection in crate::connections::active_ids(&mut tx, tenant, id).await? {
            crate::connections::disconnect_in(
                &mut tx,
                tenant,
                connection,
                true,
                "company_deleted",
                at,
            )
            .await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}
