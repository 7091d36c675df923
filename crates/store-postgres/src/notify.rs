//! Configuration changes made by any instance, heard through PostgreSQL's LISTEN/NOTIFY.
//!
//! The triggers of migration `0036` announce a tenant on [`CHANNEL`] whenever its row, logo,
//! platforms or notices change, delivered when the writing transaction commits. One task per
//! instance listens on a connection of its own (a pool of one beside the main pool, so a
//! graceful shutdown never waits for it) and passes each tenant on to the watcher.
//!
//! A notification sent while the listener was disconnected is lost for good, so the watcher is
//! told [`ConfigChange::Blind`] as soon as the connection is known lost and
//! [`ConfigChange::Watching`] once listening again, and drops every copy then: a missed
//! notification never leaves a stale copy behind.

use accord_domain::ids::TenantId;
use accord_store::{ConfigChange, ConfigWatcher};
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::PgPool;
use std::time::Duration;

/// The channel the triggers notify (payload: the tenant's id).
pub const CHANNEL: &str = "accord_tenant_config";

/// How long to wait before connecting again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// Starts the listening task for `watcher`, connecting with `pool`'s options. Ends when the
/// watcher wants no more.
pub(crate) fn watch(pool: &PgPool, watcher: ConfigWatcher) {
    let options = (*pool.connect_options()).clone();
    let own = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(options);
    tokio::spawn(async move {
        while listen(&own, &watcher).await {
            if !watcher(ConfigChange::Blind) {
                break;
            }
            tokio::time::sleep(RETRY).await;
        }
        own.close().await;
    });
}

/// Listens until the connection fails (`true`: connect again) or the watcher wants no more
/// (`false`).
async fn listen(pool: &PgPool, watcher: &ConfigWatcher) -> bool {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "configuration changes: could not connect to listen");
            return true;
        }
    };
    // A lost connection is reported (`Ok(None)`) rather than silently re-established, so the
    // notifications missed meanwhile are accounted for.
    listener.eager_reconnect(false);
    if let Err(e) = listener.listen(CHANNEL).await {
        tracing::warn!(error = %e, "configuration changes: could not listen");
        return true;
    }
    if !watcher(ConfigChange::Watching) {
        return false;
    }
    loop {
        let change = match listener.try_recv().await {
            Ok(Some(n)) => match n.payload().parse::<TenantId>() {
                Ok(tenant) => ConfigChange::Tenant(tenant),
                // Not ours to read: forget everything rather than guess.
                Err(_) => ConfigChange::Watching,
            },
            Ok(None) => {
                tracing::warn!("configuration changes: listening connection lost");
                return true;
            }
            Err(e) => {
                tracing::warn!(error = %e, "configuration changes: listening failed");
                return true;
            }
        };
        if !watcher(change) {
            return false;
        }
    }
}
