//! Counting the funnel from the page handlers: each step once per browser session (and
//! platform), with no personal data: the tenant sees where customers stop, never who stopped.
//! Counting never fails a page:
//! a store error is logged and the customer goes on.
//!
//! The counts are kept in memory and written once a second, all of that second's events in one
//! store call (one transaction), instead of a durable write per page view: a page no longer waits
//! for a commit it does not need, and the writer's queue is left to the writes that matter
//! (consents, connections, tokens, OAuth state, link-session use). What a crash can lose is at
//! most the last second's counts, which are statistics, never evidence. Reading the funnel
//! (`GET /v1/analytics/funnel`) and a graceful shutdown write what is pending first.

use crate::pages::ctx::PageCtx;
use crate::state::AppState;
use accord_domain::catalog::PlatformKey;
use accord_domain::flow::{BrowserSession, SessionKind};
use accord_domain::funnel::{FlowPage, FunnelEvent, FunnelStep};
use accord_store::Store;
use std::sync::{Arc, Mutex};

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

/// How often the pending counts are written.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The funnel events counted since the last write, and the task that writes them.
#[derive(Default)]
pub struct FunnelBuffer {
    pending: Mutex<Vec<FunnelEvent>>,
    flusher: std::sync::OnceLock<()>,
    /// Held while events taken from `pending` are being written, so a flush that finds nothing
    /// pending still returns only after the write in progress has committed.
    writing: tokio::sync::Mutex<()>,
}

impl FunnelBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(self: &Arc<Self>, store: &Arc<dyn Store>, events: Vec<FunnelEvent>) {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(events);
        // The flusher starts with the first count, on the runtime serving the pages; it holds
        // the buffer weakly, so it ends with the application.
        self.flusher.get_or_init(|| {
            let buffer = Arc::downgrade(self);
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(FLUSH_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(buffer) = buffer.upgrade() else {
                        return;
                    };
                    buffer.flush(&*store).await;
                }
            });
        });
    }

    /// Writes the pending events now, in one store call. If that call fails (a session removed
    /// meanwhile takes its marks with it), each event is tried alone so the others still count.
    pub async fn flush(&self, store: &dyn Store) {
        let _writing = self.writing.lock().await;
        let events = std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if events.is_empty() || store.record_funnel(&events).await.is_ok() {
            return;
        }
        for e in events {
            if let Err(e) = store.record_funnel(std::slice::from_ref(&e)).await {
                tracing::warn!(error = %e, "funnel step not counted");
            }
        }
    }
}

fn record(state: &AppState, session: &BrowserSession, events: Vec<FunnelEvent>) {
    // Only the hosted flow (link sessions) is a funnel; the manage page is not.
    if session.kind != SessionKind::Link {
        return;
    }
    for e in &events {
        accord_metrics::funnel_step(e.step.as_str());
    }
    state.funnel.push(&state.store, events);
}

/// Counts `steps` (each for `platform`) reached in `session`.
// Async for its callers, the page handlers, whatever the counting costs at the time.
#[allow(clippy::unused_async)]
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
    record(state, session, events);
}

/// The customer left the flow from `page`: counts `exited` at that page, once per session.
/// The exit handlers call this (`/link/finish` today; an exit confirmation on any step).
#[allow(clippy::unused_async)]
pub async fn exited(ctx: &PageCtx, page: FlowPage) {
    let e = event(
        &ctx.state,
        &ctx.session,
        FunnelStep::Exited,
        None,
        Some(page),
    );
    record(&ctx.state, &ctx.session, vec![e]);
}
