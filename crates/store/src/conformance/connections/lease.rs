//! [`ConnectionStore`](crate::ConnectionStore), one refresh at a time per connection across
//! every instance: the refresh lease is taken by exactly one caller, held until it expires or
//! the refresh is stored, and a refresh made on demand (without a job) stores its tokens and
//! takes the place of the pending refresh job.

use crate::conformance::fixtures::{self, at, t0, World};
use crate::{RefreshSchedule, RefreshStored, RefreshedTokens, Store, StoreError};
use accord_domain::ids::{ConnectionId, JobId, TenantId};
use futures::future::join_all;

fn schedule(run_at: i64) -> RefreshSchedule {
    RefreshSchedule {
        job: JobId::new(),
        run_at: at(run_at),
    }
}

fn on_demand(previous: &str, new: &str, next: Option<RefreshSchedule>) -> RefreshedTokens {
    RefreshedTokens {
        job: None,
        previous_tokens_ct: previous.into(),
        tokens_ct: new.into(),
        granted_scope: None,
        next,
        revoke_if_stale: false,
    }
}

/// A connection linked at `at(60)` with tokens `ct:tokens` and its refresh due at `at(3000)`.
async fn linked(store: &dyn Store, w: &World) -> (TenantId, ConnectionId, JobId) {
    let write = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&write).await.unwrap();
    let first = schedule(3000);
    store
        .link_connection(
            w.tenant.id,
            write.connection.id,
            &fixtures::link_write("ct:tokens", Some(first)),
            at(60),
        )
        .await
        .unwrap();
    (w.tenant.id, write.connection.id, first.job)
}

async fn lease(store: &dyn Store, t: TenantId, id: ConnectionId, until: i64, now: i64) -> bool {
    store
        .lease_token_refresh(t, id, at(until), at(now))
        .await
        .unwrap()
}

pub async fn a_refresh_lease_is_taken_by_one_caller_at_a_time(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let (t, id, _) = linked(store, &w).await;
    // Twenty instances find the token expired at once: one refreshes.
    let taken = join_all((0..20).map(|_| store.lease_token_refresh(t, id, at(160), at(100)))).await;
    let winners = taken
        .into_iter()
        .map(|r| r.expect("no error, only a refusal"))
        .filter(|won| *won)
        .count();
    assert_eq!(winners, 1, "exactly one of 20 concurrent callers");
    assert!(
        !lease(store, t, id, 200, 159).await,
        "held until it expires"
    );
    assert!(
        lease(store, t, id, 220, 160).await,
        "taken again once expired"
    );
    assert!(!lease(store, t, id, 300, 200).await);

    // The holder stores its refresh: the lease ends with it.
    let stored = store
        .store_refreshed_tokens(t, id, &on_demand("ct:tokens", "ct:fresh", None), at(201))
        .await
        .unwrap();
    assert_eq!(stored, RefreshStored::Stored);
    assert!(
        lease(store, t, id, 400, 202).await,
        "a stored refresh ends the lease"
    );

    // Deauthorized while leased: no tokens, no lease; a reconnect is not held back by it.
    let c = store
        .deauthorize_connection(t, id, "ct:fresh", "invalid_grant", at(203))
        .await
        .unwrap()
        .expect("deauthorized");
    assert!(!lease(store, t, id, 500, 204).await, "no tokens to refresh");
    let mut again = fixtures::consent_write(&w.company, &w.nv, at(210));
    again.connection = c;
    again.connection.status = accord_domain::connection::ConnectionStatus::PendingAuth;
    again.connection.consent_id = Some(again.consent.id);
    again.consent.connection_id = id;
    again.event = accord_domain::ledger::EventBody::for_consent(
        accord_domain::ledger::EventKind::Given,
        &again.consent,
        &w.nv.content.purpose,
        "hosted_flow_checkbox",
        at(210),
    );
    store.record_consent(&again).await.unwrap();
    store
        .link_connection(t, id, &fixtures::link_write("ct:new", None), at(220))
        .await
        .unwrap();
    assert!(
        lease(store, t, id, 500, 230).await,
        "the deauthorization ended the lease"
    );

    store
        .disconnect(t, id, true, "manage_page", at(240))
        .await
        .unwrap();
    assert!(!lease(store, t, id, 900, 600).await, "a disconnected one");
}

pub async fn a_refresh_lease_is_given_back_only_by_its_holder(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let (t, id, _) = linked(store, &w).await;
    assert!(lease(store, t, id, 160, 100).await);
    // Released with another `until` (a lease that expired and was taken again): it stays.
    store.release_token_refresh(t, id, at(150)).await.unwrap();
    assert!(!lease(store, t, id, 200, 110).await, "still held");
    // Another tenant cannot release it either.
    let other = World::new(store, "Lender B").await;
    store
        .release_token_refresh(other.tenant.id, id, at(160))
        .await
        .unwrap();
    assert!(!lease(store, t, id, 200, 120).await, "still held");
    // Its holder gives it back (the refresh failed at the platform): taken again at once,
    // long before it would have expired.
    store.release_token_refresh(t, id, at(160)).await.unwrap();
    assert!(lease(store, t, id, 260, 121).await, "free again");
    // The tokens are untouched by a release.
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap().as_deref(),
        Some("ct:tokens")
    );
}

pub async fn a_refresh_lease_needs_tokens_and_an_owner(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let pending = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&pending).await.unwrap();
    assert!(
        !lease(store, w.tenant.id, pending.connection.id, 100, 50).await,
        "a connection pending sign-in holds no tokens"
    );
    let (t, id, _) = linked(store, &w).await;
    let other = World::new(store, "Lender B").await;
    for (tenant, conn) in [(other.tenant.id, id), (t, ConnectionId::new())] {
        assert!(matches!(
            store
                .lease_token_refresh(tenant, conn, at(100), at(50))
                .await,
            Err(StoreError::NotFound)
        ));
    }
    assert!(
        lease(store, t, id, 100, 50).await,
        "another tenant's attempt took nothing"
    );
}

pub async fn an_on_demand_refresh_stores_its_tokens_without_a_job(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let (t, id, first) = linked(store, &w).await;
    // Started from tokens the connection no longer holds: nothing changes.
    let next = schedule(5000);
    assert_eq!(
        store
            .store_refreshed_tokens(t, id, &on_demand("ct:older", "ct:x", Some(next)), at(900))
            .await
            .unwrap(),
        RefreshStored::Stale { revoke_job: None }
    );
    assert!(store.job(next.job).await.unwrap().is_none(), "not queued");
    assert_eq!(store.job(first).await.unwrap().unwrap().done_at, None);

    let r = on_demand("ct:tokens", "ct:on-demand", Some(next));
    assert_eq!(
        store
            .store_refreshed_tokens(t, id, &r, at(1000))
            .await
            .unwrap(),
        RefreshStored::Stored
    );
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap().as_deref(),
        Some("ct:on-demand")
    );
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap().updated_at,
        at(1000)
    );
    assert_eq!(
        store.job(first).await.unwrap().unwrap().done_at,
        Some(at(1000)),
        "the pending refresh job is ended: the next one replaces it"
    );
    let queued = store.job(next.job).await.unwrap().unwrap();
    assert_eq!((queued.run_at, queued.done_at), (at(5000), None));

    // The worker's job, which started from the old tokens, comes back late: stale.
    let late = RefreshedTokens {
        job: Some(first),
        ..on_demand("ct:tokens", "ct:late", Some(schedule(6000)))
    };
    assert_eq!(
        store
            .store_refreshed_tokens(t, id, &late, at(1001))
            .await
            .unwrap(),
        RefreshStored::Stale { revoke_job: None }
    );
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap().as_deref(),
        Some("ct:on-demand")
    );
    // Without a next refresh, none is left pending.
    let r = on_demand("ct:on-demand", "ct:last", None);
    assert_eq!(
        store
            .store_refreshed_tokens(t, id, &r, at(1100))
            .await
            .unwrap(),
        RefreshStored::Stored
    );
    assert_eq!(
        store.job(next.job).await.unwrap().unwrap().done_at,
        Some(at(1100))
    );
}
