//! [`FunnelStore`] on PostgreSQL: funnel analytics, an upsert increment per event into its
//! tenant's hourly bucket, guarded per browser session by `funnel_marks` when the event counts
//! once per session. No personal data is stored.

use crate::codec::RowExt;
use crate::error::{corrupt, db};
use crate::PgStore;
use accord_domain::catalog::PlatformKey;
use accord_domain::funnel::{FlowPage, FunnelCount, FunnelEvent, FunnelStep};
use accord_domain::ids::TenantId;
use accord_store::{FunnelStore, Result};
use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;

#[async_trait]
impl FunnelStore for PgStore {
    async fn record_funnel(&self, events: &[FunnelEvent]) -> Result<usize> {
        if events.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut counted = 0;
        for e in events {
            if let Some(session) = e.once_per {
                let fresh = sqlx::query(
                    "insert into funnel_marks (session_id, mark) values ($1, $2) on conflict do nothing",
                )
                .bind(session.as_uuid())
                .bind(e.mark())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                if fresh.rows_affected() == 0 {
                    continue;
                }
            }
            sqlx::query(
                "insert into funnel_counts (tenant_id, bucket, step, platform_key, exited_at, count)
                 values ($1, $2, $3, $4, $5, 1)
                 on conflict (tenant_id, bucket, step, platform_key, exited_at)
                 do update set count = funnel_counts.count + 1",
            )
            .bind(e.tenant_id.as_uuid())
            .bind(e.bucket())
            .bind(e.step.as_str())
            .bind(e.platform.as_ref().map_or("", PlatformKey::as_str))
            .bind(e.exited_at.map_or("", FlowPage::as_str))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            counted += 1;
        }
        tx.commit().await.map_err(db)?;
        Ok(counted)
    }

    async fn funnel_counts(
        &self,
        tenant: TenantId,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<FunnelCount>> {
        let rows = sqlx::query(
            "select step, platform_key, exited_at, sum(count)::bigint as count
             from funnel_counts where tenant_id = $1 and bucket >= $2 and bucket < $3
             group by step, platform_key, exited_at
             order by step, platform_key, exited_at",
        )
        .bind(tenant.as_uuid())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let step = r.text("step")?;
                let platform = r.text("platform_key")?;
                let page = r.text("exited_at")?;
                Ok(FunnelCount {
                    step: FunnelStep::parse(&step)
                        .ok_or_else(|| corrupt("step", format!("unknown funnel step `{step}`")))?,
                    platform: if platform.is_empty() {
                        None
                    } else {
                        Some(
                            PlatformKey::parse(&platform)
                                .map_err(|e| corrupt("platform_key", e))?,
                        )
                    },
                    exited_at: if page.is_empty() {
                        None
                    } else {
                        Some(FlowPage::parse(&page).ok_or_else(|| {
                            corrupt("exited_at", format!("unknown page `{page}`"))
                        })?)
                    },
                    count: r.try_get::<i64, _>("count").map_err(db)?,
                })
            })
            .collect()
    }
}
