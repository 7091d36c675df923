//! The records `accord ledger verify` compares with the ledger, a million rows and more: each
//! page read by column position into a tuple, and only the columns the comparison needs.

use crate::error::{corrupt, db};
use accord_domain::connection::ConnectionStatus;
use accord_domain::ids::{ConnectionId, ConsentId, TenantId};
use accord_store::{ConnectionRecord, ConsentRecord, Result};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// The columns of [`CONSENT_RECORDS`], in order.
type ConsentRow = (
    Uuid,
    Uuid,
    Uuid,
    Uuid,
    String,
    String,
    String,
    Option<OffsetDateTime>,
);

/// The nil UUID sorts before every id: one range of the primary key serves each page.
const CONSENT_RECORDS: &str = "select id, company_id, connection_id, notice_version_id,
         data_uses::text, notice_text, notice_sha256, withdrawn_at
     from consents where tenant_id = $1 and id > $2 order by id limit $3";

const CONNECTION_RECORDS: &str = "select id, consent_id, status from connections
     where tenant_id = $1 and id > $2 order by id limit $3";

/// A page of `tenant`'s consents after `after`, in id order.
pub(crate) async fn consent_records(
    pool: &PgPool,
    tenant: TenantId,
    after: Option<ConsentId>,
    limit: u32,
) -> Result<Vec<ConsentRecord>> {
    let rows: Vec<ConsentRow> = sqlx::query_as(CONSENT_RECORDS)
        .bind(tenant.as_uuid())
        .bind(after.map_or(Uuid::nil(), |a| a.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db)?;
    rows.into_iter()
        .map(
            |(id, company, connection, notice_version, uses, text, sha256, withdrawn)| {
                Ok(ConsentRecord {
                    id: ConsentId::from(id),
                    company_id: company.into(),
                    connection_id: connection.into(),
                    notice_version_id: notice_version.into(),
                    data_uses: serde_json::from_str(&uses)
                        .map_err(|e| corrupt("consents.data_uses", e))?,
                    notice_text: text,
                    notice_sha256: sha256,
                    withdrawn_at: withdrawn,
                })
            },
        )
        .collect()
}

/// A page of `tenant`'s connections after `after`, in id order.
pub(crate) async fn connection_records(
    pool: &PgPool,
    tenant: TenantId,
    after: Option<ConnectionId>,
    limit: u32,
) -> Result<Vec<ConnectionRecord>> {
    let rows: Vec<(Uuid, Option<Uuid>, String)> = sqlx::query_as(CONNECTION_RECORDS)
        .bind(tenant.as_uuid())
        .bind(after.map_or(Uuid::nil(), |a| a.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db)?;
    rows.into_iter()
        .map(|(id, consent, status)| {
            Ok(ConnectionRecord {
                id: ConnectionId::from(id),
                consent_id: consent.map(ConsentId::from),
                status: status
                    .parse::<ConnectionStatus>()
                    .map_err(|e| corrupt("connections.status", e))?,
            })
        })
        .collect()
}
