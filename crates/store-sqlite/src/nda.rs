//! Signed mutual NDAs ([`NdaStore`], `migrations/0003_nda.sql`): the acceptance row and its
//! `nda_accepted` ledger event are written in one transaction on the writer connection.

use crate::codec::{all, exec, micros, one, RowExt as _};
use crate::error::backend;
use crate::SqliteStore;
use accord_domain::ids::{CompanyId, NdaAcceptanceId, TenantId};
use accord_domain::ledger::{ChainedEvent, EventBody};
use accord_domain::nda::NdaAcceptance;
use accord_domain::outbox::WebhookEvent;
use accord_store::{NdaStore, Result};
use async_trait::async_trait;
use rusqlite::{params, Row};

macro_rules! nda_cols {
    () => {
        "id, tenant_id, company_id, locale, signer_name, signer_title, document_text, \
         document_sha256, accepted_at, ledger_seq"
    };
}

fn nda_from(r: &Row<'_>) -> Result<NdaAcceptance> {
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

#[async_trait]
impl NdaStore for SqliteStore {
    async fn record_nda(&self, nda: &NdaAcceptance, event: EventBody) -> Result<ChainedEvent> {
        let nda = nda.clone();
        self.write
            .transaction(move |tx| {
                let chained = crate::ledger::append(tx, nda.tenant_id, vec![event])?
                    .pop()
                    .ok_or_else(|| backend("the NDA's ledger event was not appended"))?;
                exec(
                    tx,
                    concat!(
                        "insert into nda_acceptances (",
                        nda_cols!(),
                        ") values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                    ),
                    params![
                        nda.id.to_string(),
                        nda.tenant_id.to_string(),
                        nda.company_id.to_string(),
                        nda.locale.as_str(),
                        nda.signer_name,
                        nda.signer_title,
                        nda.document_text,
                        nda.document_sha256,
                        micros(nda.accepted_at),
                        chained.event.seq,
                    ],
                )?;
                crate::webhooks::insert_events(tx, vec![WebhookEvent::nda_accepted(&nda)])?;
                Ok(chained)
            })
            .await
    }

    async fn ndas(&self, tenant: TenantId) -> Result<Vec<NdaAcceptance>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        nda_cols!(),
                        " from nda_acceptances where tenant_id = ?1 order by id"
                    ),
                    [tenant.to_string()],
                    nda_from,
                )
            })
            .await
    }

    async fn nda(&self, tenant: TenantId, id: NdaAcceptanceId) -> Result<Option<NdaAcceptance>> {
        self.read
            .run(move |db| {
                one(
                    db,
                    concat!(
                        "select ",
                        nda_cols!(),
                        " from nda_acceptances where tenant_id = ?1 and id = ?2"
                    ),
                    [tenant.to_string(), id.to_string()],
                    nda_from,
                )
            })
            .await
    }

    async fn company_ndas(
        &self,
        tenant: TenantId,
        company: CompanyId,
    ) -> Result<Vec<NdaAcceptance>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        nda_cols!(),
                        " from nda_acceptances where tenant_id = ?1 and company_id = ?2 order by id"
                    ),
                    [tenant.to_string(), company.to_string()],
                    nda_from,
                )
            })
            .await
    }
}
