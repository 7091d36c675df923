//! [`NdaStore`] on PostgreSQL: signed mutual NDAs (`migrations/0003_nda.sql`), immutable once
//! recorded. The acceptance row and its `nda_accepted`
//! ledger event are written in one transaction. The tenant's chain is locked first by
//! `ledger::append_in` (the lock order of `ledger.rs`); no connection row is touched.

use crate::codec::RowExt as _;
use crate::error::{backend, db};
use crate::ledger::append_in;
use crate::PgStore;
use accord_domain::ids::{CompanyId, NdaAcceptanceId, TenantId};
use accord_domain::ledger::{ChainedEvent, EventBody};
use accord_domain::nda::NdaAcceptance;
use accord_store::{NdaStore, Result};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row as _};
use uuid::Uuid;

const COLUMNS: &str =
    "id, tenant_id, company_id, locale, signer_name, signer_title, document_text, \
    document_sha256, accepted_at, ledger_seq";

fn from_row(r: &PgRow) -> Result<NdaAcceptance> {
    Ok(NdaAcceptance {
        id: r.id("id")?,
        tenant_id: r.id("tenant_id")?,
        company_id: r.id("company_id")?,
        locale: r.parsed("locale")?,
        signer_name: r.text("signer_name")?,
        signer_title: r.text("signer_title")?,
        document_text: r.text("document_text")?,
        document_sha256: r.text("document_sha256")?,
        accepted_at: r.time("accepted_at")?,
        ledger_seq: r.try_get::<i64, _>("ledger_seq").map_err(db)?,
    })
}

/// A tenant's NDAs, or those one of its companies signed, oldest first.
async fn list(
    pool: &PgPool,
    tenant: TenantId,
    company: Option<CompanyId>,
) -> Result<Vec<NdaAcceptance>> {
    sqlx::query(&format!(
        "select {COLUMNS} from nda_acceptances where tenant_id = $1 and ($2::uuid is null or company_id = $2) order by id"
    ))
    .bind(tenant.as_uuid())
    .bind(company.map(|c| c.as_uuid()))
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(from_row)
    .collect()
}

#[async_trait]
impl NdaStore for PgStore {
    async fn record_nda(&self, nda: &NdaAcceptance, event: EventBody) -> Result<ChainedEvent> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut events = append_in(&mut tx, vec![(nda.tenant_id, event)]).await?;
        let chained = events
            .pop()
            .ok_or_else(|| backend("the NDA's ledger event was not appended"))?;
        sqlx::query(&format!(
            "insert into nda_acceptances ({COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(nda.id.as_uuid())
        .bind(nda.tenant_id.as_uuid())
        .bind(nda.company_id.as_uuid())
        .bind(nda.locale.as_str())
        .bind(&nda.signer_name)
        .bind(&nda.signer_title)
        .bind(&nda.document_text)
        .bind(&nda.document_sha256)
        .bind(nda.accepted_at)
        .bind(chained.event.seq)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        crate::webhooks::insert_events(
            &mut tx,
            &[accord_domain::outbox::WebhookEvent::nda_accepted(nda)],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(chained)
    }

    async fn ndas(&self, tenant: TenantId) -> Result<Vec<NdaAcceptance>> {
        list(&self.pool, tenant, None).await
    }

    async fn company_ndas(
        &self,
        tenant: TenantId,
        company: CompanyId,
    ) -> Result<Vec<NdaAcceptance>> {
        list(&self.pool, tenant, Some(company)).await
    }

    async fn nda(&self, tenant: TenantId, id: NdaAcceptanceId) -> Result<Option<NdaAcceptance>> {
        let id: Uuid = id.as_uuid();
        sqlx::query(&format!(
            "select {COLUMNS} from nda_acceptances where id = $1 and tenant_id = $2"
        ))
        .bind(id)
        .bind(tenant.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(from_row)
        .transpose()
    }
}
