//! Counting the funnel from the page handlers: each step once per browser session (and
//! platform), with no personal data: the tenant sees where customers stop, never who stopped.
//! Counting never fails a page:
//! a store error is logged and the customer goes on.

use crate::pages::ctx::PageCtx;
use crate::state::AppState;
use accord_domain::catalog::PlatformKey;
use accord_domain::flow::{BrowserSession, SessionKind};
use accord_domain::funnel::{FlowPage, FunnelEvent, FunnelStep};

/// The event of `step` (for `platform`) reached in `session`, counted once per session.
fn event(
    state: &AppState,
    session: &BrowserSession,
    step: FunnelStep,
    platform: Option<&PlatformKey>,
    exited_at: Option<FlowPage>,
) -> FunnelEvent {
    FunnelEvent {
        tenant_id: session.tenant_id,
        step,
        platform: platform.cloned(),
        exited_at,
        at: state.clock.now(),
        once_per: Some(session.id),
    }
}

async fn record(state: &AppState, session: &BrowserSession, events: Vec<FunnelEvent>) {
    // Only the hosted flow (link sessions) is a funnel; the manage page is not.
    if session.kind != SessionKind::Link {
        return;
    }
    if let Err(e) = state.store.record_funnel(&events).await {
        tracing::warn!(error = %e, "funnel step not counted");
    }
}

/// Counts `steps` (each for `platform`) reached in `session`.
pub async fn count(
    state: &AppState,
    session: &BrowserSession,
    platform: Option<&PlatformKey>,
    steps: &[FunnelStep],
) {
    let events = steps
        .iter()
        .map(|s| event(state, session, *s, platform, None))
        .collect();
    record(state, session, events).await;
}

/// The customer left the flow from `page`: counts `exited` at that page, once per session.
/// The exit handlers call this (`/link/finish` today; an exit confirmation on any step).
pub async fn exited(ctx: &PageCtx, page: FlowPage) {
    let e = event(
        &ctx.state,
        &ctx.session,
        FunnelStep::Exited,
        None,
        Some(page),
    );
    record(&ctx.state, &ctx.session, vec![e]).await;
}
