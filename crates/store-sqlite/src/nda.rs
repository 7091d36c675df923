//! Signed mutual NDAs (`migrations/0003_nda.sql`): the acceptance row and its `nda_accepted`
//! ledger event are written in one transaction on the writer connection.

use crate::codec::{micros, RowExt as _};
use crate::conn::begin;
use crate::error::db;
use crate::ledger::append_in;
use accord_domain::ids::{CompanyId, NdaAcceptanceId, TenantId};
use accord_domain::ledger::{ChainedEvent, EventBody};
use accord_domain::nda::NdaAcceptance;
use accord_store::Result;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;

const COLUMNS: &str =
    "id, tenant_id, company_id, locale, signer_name, signer_title, document_text, \
    document_sha256, accepted_at, ledger_seq";

pub(crate) async fn record(
    write: &SqlitePool,
    nda: &NdaAcceptance,
    event: EventBody,
) -> Result<ChainedEvent> {
    let mut tx = begin(write).await?;
    let mut events = append_in(&mut tx, nda.tenant_id, vec![event]).await?;
    let chained = events
        .pop()
        .ok_or_else(|| crate::error::backend("the NDA's ledger event was not appended"))?;
    sqlx::query(&format!(
        "insert into nda_acceptances ({COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(nda.id.to_string())
    .bind(nda.tenant_id.to_string())
    .bind(nda.company_id.to_string())
    .bind(nda.locale.as_str())
    .bind(&nda.signer_name)
    .bind(&nda.signer_title)
    .bind(&nda.document_text)
    .bind(&nda.document_sha256)
    .bind(micros(nda.accepted_at))
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

fn from_row(r: &SqliteRow) -> Result<NdaAcceptance> {
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
        ledger_seq: r.int("ledger_seq")?,
    })
}

pub(crate) async fn list(
    read: &SqlitePool,
    tenant: TenantId,
    company: Option<CompanyId>,
) -> Result<Vec<NdaAcceptance>> {
    let rows = sqlx::query(&format!(
        "select {COLUMNS} from nda_acceptances where tenant_id = ? and (?2 is null or company_id = ?2) order by id"
    ))
    .bind(tenant.to_string())
    .bind(company.map(|c| c.to_string()))
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter().map(from_row).collect()
}

pub(crate) async fn get(
    read: &SqlitePool,
    tenant: TenantId,
    id: NdaAcceptanceId,
) -> Result<Option<NdaAcceptance>> {
    sqlx::query(&format!(
        "select {COLUMNS} from nda_acceptances where tenant_id = ? and id = ?"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .as_ref()
    .map(from_row)
    .transpose()
}
