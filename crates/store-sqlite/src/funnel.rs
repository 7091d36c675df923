//! Funnel analytics ([`FunnelStore`]): an upsert increment per event into its tenant's hourly
//! bucket, guarded per browser session by `funnel_marks` when the event counts once per session.

use crate::codec::{all, exec, micros, RowExt};
use crate::error::corrupt;
use crate::SqliteStore;
use accord_domain::catalog::PlatformKey;
use accord_domain::funnel::{FlowPage, FunnelCount, FunnelEvent, FunnelStep};
use accord_domain::ids::TenantId;
use accord_store::{FunnelStore, Result};
use async_trait::async_trait;
use rusqlite::{params, Row};
use time::OffsetDateTime;

fn count_from(r: &Row<'_>) -> Result<FunnelCount> {
    let step = r.text("step")?;
    let platform = r.text("platform_key")?;
    let page = r.text("exited_at")?;
    Ok(FunnelCount {
        step: FunnelStep::parse(&step)
            .ok_or_else(|| corrupt("step", format!("unknown funnel step `{step}`")))?,
        platform: if platform.is_empty() {
            None
        } else {
            Some(PlatformKey::parse(&platform).map_err(|e| corrupt("platform_key", e))?)
        },
        exited_at: if page.is_empty() {
            None
        } else {
            Some(
                FlowPage::parse(&page)
                    .ok_or_else(|| corrupt("exited_at", format!("unknown page `{page}`")))?,
            )
        },
        count: r.int("count")?,
    })
}

#[async_trait]
impl FunnelStore for SqliteStore {
    async fn record_funnel(&self, events: &[FunnelEvent]) -> Result<usize> {
        if events.is_empty() {
            return Ok(0);
        }
        let events = events.to_vec();
        self.write
            .transaction(move |tx| {
                let mut counted = 0;
                for e in &events {
                    if let Some(session) = e.once_per {
                        let fresh = exec(
                            tx,
                            "insert into funnel_marks (session_id, mark) values (?1, ?2)
                             on conflict do nothing",
                            params![session.to_string(), e.mark()],
                        )?;
                        if fresh == 0 {
                            continue;
                        }
                    }
                    exec(
                        tx,
                        "insert into funnel_counts (tenant_id, bucket, step, platform_key,
                             exited_at, count)
                         values (?1, ?2, ?3, ?4, ?5, 1)
                         on conflict (tenant_id, bucket, step, platform_key, exited_at)
                         do update set count = count + 1",
                        params![
                            e.tenant_id.to_string(),
                            micros(e.bucket()),
                            e.step.as_str(),
                            e.platform.as_ref().map_or("", PlatformKey::as_str),
                            e.exited_at.map_or("", FlowPage::as_str),
                        ],
                    )?;
                    counted += 1;
                }
                Ok(counted)
            })
            .await
    }

    async fn funnel_counts(
        &self,
        tenant: TenantId,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<FunnelCount>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    "select step, platform_key, exited_at, sum(count) as count
                     from funnel_counts where tenant_id = ?1 and bucket >= ?2 and bucket < ?3
                     group by step, platform_key, exited_at
                     order by step, platform_key, exited_at",
                    params![tenant.to_string(), micros(from), micros(to)],
                    count_from,
                )
            })
            .await
    }
}
