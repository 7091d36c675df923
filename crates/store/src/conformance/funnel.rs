//! Funnel analytics: hourly counts per tenant, step, platform and exit page, de-duplicated per
//! browser session without keeping the session with the counts.

use super::fixtures::{self, at, sandbox, World};
use crate::Store;
use accord_domain::catalog::PlatformKey;
use accord_domain::flow::SessionKind;
use accord_domain::funnel::{FlowPage, FunnelCount, FunnelEvent, FunnelStep};
use accord_domain::ids::{BrowserSessionId, TenantId};
use time::OffsetDateTime;

fn event(
    tenant: TenantId,
    step: FunnelStep,
    platform: Option<PlatformKey>,
    when: OffsetDateTime,
    once_per: Option<BrowserSessionId>,
) -> FunnelEvent {
    FunnelEvent {
        tenant_id: tenant,
        step,
        platform,
        exited_at: None,
        at: when,
        once_per,
    }
}

fn count(step: FunnelStep, platform: Option<PlatformKey>, n: i64) -> FunnelCount {
    FunnelCount {
        step,
        platform,
        exited_at: None,
        count: n,
    }
}

pub async fn funnel_counts_are_summed_per_step_and_platform(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let xero = PlatformKey::parse("xero").unwrap();
    let t = w.tenant.id;
    let events = vec![
        event(t, FunnelStep::LandingViewed, None, at(0), None),
        event(t, FunnelStep::LandingViewed, None, at(10), None),
        // the next hour: another bucket, summed in the same range
        event(t, FunnelStep::LandingViewed, None, at(3600), None),
        event(
            t,
            FunnelStep::PlatformSelected,
            Some(sandbox()),
            at(20),
            None,
        ),
        event(
            t,
            FunnelStep::PlatformSelected,
            Some(xero.clone()),
            at(20),
            None,
        ),
        event(b.id, FunnelStep::LandingViewed, None, at(0), None),
        FunnelEvent {
            exited_at: Some(FlowPage::Consent),
            ..event(t, FunnelStep::Exited, None, at(30), None)
        },
    ];
    assert_eq!(store.record_funnel(&events).await.unwrap(), events.len());
    let mut expected = vec![
        count(FunnelStep::LandingViewed, None, 3),
        count(FunnelStep::PlatformSelected, Some(sandbox()), 1),
        count(FunnelStep::PlatformSelected, Some(xero), 1),
        FunnelCount {
            exited_at: Some(FlowPage::Consent),
            ..count(FunnelStep::Exited, None, 1)
        },
    ];
    expected.sort();
    let mut got = store.funnel_counts(t, at(0), at(7200)).await.unwrap();
    got.sort();
    assert_eq!(got, expected);
    // `to` is exclusive and ranges select whole hourly buckets.
    let first_hour = store.funnel_counts(t, at(0), at(3600)).await.unwrap();
    assert_eq!(
        first_hour
            .iter()
            .find(|c| c.step == FunnelStep::LandingViewed)
            .map(|c| c.count),
        Some(2)
    );
    assert!(store
        .funnel_counts(t, at(7200), at(10_000))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.funnel_counts(b.id, at(0), at(7200)).await.unwrap(),
        vec![count(FunnelStep::LandingViewed, None, 1)],
        "per tenant"
    );
}

pub async fn funnel_steps_count_once_per_session(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let one = fixtures::browser(store, &w.company, SessionKind::Link, "one").await;
    let two = fixtures::browser(store, &w.company, SessionKind::Link, "two").await;
    let t = w.tenant.id;
    let viewed = |session: BrowserSessionId, s: i64| {
        event(
            t,
            FunnelStep::ConsentViewed,
            Some(sandbox()),
            at(s),
            Some(session),
        )
    };
    assert_eq!(store.record_funnel(&[viewed(one.id, 0)]).await.unwrap(), 1);
    assert_eq!(
        store
            .record_funnel(&[viewed(one.id, 5), viewed(one.id, 4000)])
            .await
            .unwrap(),
        0,
        "a reload, even an hour later, is not counted again"
    );
    let other_platform = event(
        t,
        FunnelStep::ConsentViewed,
        Some(PlatformKey::parse("xero").unwrap()),
        at(6),
        Some(one.id),
    );
    assert_eq!(
        store
            .record_funnel(&[other_platform, viewed(two.id, 7)])
            .await
            .unwrap(),
        2,
        "another platform, another session"
    );
    let exit = |page| FunnelEvent {
        exited_at: Some(page),
        ..event(t, FunnelStep::Exited, None, at(8), Some(one.id))
    };
    assert_eq!(
        store
            .record_funnel(&[exit(FlowPage::Consent), exit(FlowPage::Consent)])
            .await
            .unwrap(),
        1,
        "the same exit twice in one call counts once"
    );
    let mut got = store.funnel_counts(t, at(0), at(7200)).await.unwrap();
    got.sort();
    let mut expected = vec![
        count(FunnelStep::ConsentViewed, Some(sandbox()), 2),
        count(
            FunnelStep::ConsentViewed,
            Some(PlatformKey::parse("xero").unwrap()),
            1,
        ),
        FunnelCount {
            exited_at: Some(FlowPage::Consent),
            ..count(FunnelStep::Exited, None, 1)
        },
    ];
    expected.sort();
    assert_eq!(got, expected);
}
