//! Companies: the tenant's customers. Deleting one is a soft delete that first disconnects
//! everything it connected; its consents stay, as the tenant's proof.

use crate::codec::{after, micros, RowExt};
use crate::conn::begin;
use crate::error::db;
use accord_domain::ids::{CompanyId, TenantId};
use accord_domain::tenant::Company;
use accord_store::{Page, Result};
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;
use time::OffsetDateTime;

macro_rules! company_cols {
    () => {
        "id, tenant_id, name, external_id, created_at"
    };
}

fn company_from(row: &SqliteRow) -> Result<Company> {
    Ok(Company {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        name: row.text("name")?,
        external_id: row.opt_text("external_id")?,
        created_at: row.time("created_at")?,
    })
}

pub(crate) async fn create_company(write: &SqlitePool, c: &Company) -> Result<()> {
    sqlx::query("insert into companies (id, tenant_id, name, external_id, created_at) values (?, ?, ?, ?, ?)")
        .bind(c.id.to_string())
        .bind(c.tenant_id.to_string())
        .bind(&c.name)
        .bind(&c.external_id)
        .bind(micros(c.created_at))
        .execute(write)
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn company(
    read: &SqlitePool,
    tenant: TenantId,
    id: CompanyId,
) -> Result<Option<Company>> {
    sqlx::query(concat!(
        "select ",
        company_cols!(),
        " from companies where tenant_id = ? and id = ? and deleted_at is null"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| company_from(&r))
    .transpose()
}

pub(crate) async fn list_companies(
    read: &SqlitePool,
    tenant: TenantId,
    page: Page<CompanyId>,
) -> Result<Vec<Company>> {
    sqlx::query(concat!(
        "select ",
        company_cols!(),
        " from companies where tenant_id = ? and id > ? and deleted_at is null order by id limit ?"
    ))
    .bind(tenant.to_string())
    .bind(after(page.after))
    .bind(i64::from(page.limit))
    .fetch_all(read)
    .await
    .map_err(db)?
    .iter()
    .map(company_from)
    .collect()
}

pub(crate) async fn delete_company(
    write: &SqlitePool,
    tenant: TenantId,
    id: CompanyId,
    at: OffsetDateTime,
) -> Result<bool> {
    let mut tx = begin(write).await?;
    let done = sqlx::query(
        "update companies set deleted_at = ? where tenant_id = ? and id = ? and deleted_at is null",
    )
    .bind(micros(at))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    // Same effect as the customer clicking "disconnect" on each (brief: withdrawal takes effect
    // at once), in the same transaction as the deletion.
    for connection in crate::connections::active_ids(&mut tx, tenant, id).await? {
        crate::connections::disconnect_in(&mut tx, tenant, connection, true, "company_deleted", at)
            .await?;
    }
    tx.commit().await.map_err(db)?;
    Ok(true)
}
