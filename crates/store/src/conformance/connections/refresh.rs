//! [`ConnectionStore`](crate::ConnectionStore), token refresh and deauthorization: a link queues the connection's refresh in its
//! transaction, one refresh at most is pending per connection, a refresh replaces exactly the
//! tokens it started from (never those of a connection disconnected, deauthorized or linked
//! anew meanwhile), and the platform's `invalid_grant` ends the connection as `deauthorized`
//! with its tokens and its `connection.deauthorized` event in one transaction.

use crate::conformance::fixtures::{self, at, World};
use crate::{LinkWrite, RefreshSchedule, RefreshStored, RefreshedTokens, Store, StoreError};
use accord_domain::connection::{Connection, ConnectionStatus};
use accord_domain::ids::{ConnectionId, ConsentId, JobId, TenantId};
use accord_domain::ledger::{EventBody, EventKind};
use accord_domain::tenant::{Job, JobKind};
use futures::future::join_all;
use time::Duration;

fn schedule(run_at: i64) -> RefreshSchedule {
    RefreshSchedule {
        job: JobId::new(),
        run_at: at(run_at),
    }
}

/// What a refresh job that started from `previous` stores.
fn refreshed(
    job: JobId,
    previous: &str,
    new: &str,
    next: Option<RefreshSchedule>,
) -> RefreshedTokens {
    RefreshedTokens {
        job: Some(job),
        previous_tokens_ct: previous.into(),
        tokens_ct: new.into(),
        granted_scope: None,
        next,
        revoke_if_stale: false,
    }
}

async fn job(store: &dyn Store, id: JobId) -> Job {
    store.job(id).await.unwrap().expect("job exists")
}

/// The refresh jobs among `ids` that exist and are still pending.
async fn pending(store: &dyn Store, ids: &[JobId]) -> Vec<JobId> {
    let mut out = Vec::new();
    for id in ids {
        let Some(j) = store.job(*id).await.unwrap() else {
            continue;
        };
        if j.kind == JobKind::RefreshToken && j.done_at.is_none() {
            out.push(*id);
        }
    }
    out
}

async fn event_types(store: &dyn Store, tenant: TenantId) -> Vec<&'static str> {
    store
        .webhook_events(tenant, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

/// A connection linked at `at(60)` with tokens `ct:tokens` and its first refresh due at
/// `at(3000)`; returns the tenant, the connection and the refresh job.
async fn linked_with_refresh(store: &dyn Store, w: &World) -> (TenantId, ConnectionId, JobId) {
    let write = fixtures::consent_write(&w.company, &w.nv, fixtures::t0());
    store.record_consent(&write).await.unwrap();
    let first = schedule(3000);
    let revoked = store
        .link_connection(
            w.tenant.id,
            write.connection.id,
            &LinkWrite {
                granted_scope: Some("invoices.read".into()),
                ..fixtures::link_write("ct:tokens", Some(first))
            },
            at(60),
        )
        .await
        .expect("link");
    assert!(
        revoked.revoke_jobs.is_empty() && revoked.replaced.is_empty(),
        "a first link replaces no grant: {revoked:?}"
    );
    (w.tenant.id, write.connection.id, first.job)
}

/// A second callback links the connection anew: its refresh replaces the pending one `first`,
/// and the grant it replaces, which nothing holds any more, is queued for revocation. Returns
/// the new refresh.
async fn a_second_link_replaces_the_refresh(
    store: &dyn Store,
    t: TenantId,
    id: ConnectionId,
    first: JobId,
) -> RefreshSchedule {
    let second = schedule(3100);
    let revoked = store
        .link_connection(
            t,
            id,
            &fixtures::link_write("ct:second", Some(second)),
            at(100),
        )
        .await
        .unwrap()
        .revoke_jobs;
    let [revoked] = revoked[..] else {
        panic!("one revocation, of the replaced grant: {revoked:?}");
    };
    assert_eq!(
        pending(store, &[first, second.job]).await,
        [second.job],
        "one refresh pending per connection"
    );
    let revocation = job(store, revoked).await;
    assert_eq!(
        (revocation.kind, revocation.run_at, revocation.done_at),
        (JobKind::RevokeToken, at(100), None)
    );
    assert_eq!(
        revocation.payload,
        serde_json::json!({"connection_id": id, "platform_key": "sandbox", "tokens_ct": "ct:tokens"}),
        "the old grant's tokens, not the new ones"
    );
    let mut claimed: Vec<_> = store
        .claim_jobs(at(3100), 10, Duration::minutes(2))
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    claimed.sort_by_key(ToString::to_string);
    let mut expected = vec![revoked, second.job];
    expected.sort_by_key(ToString::to_string);
    assert_eq!(claimed, expected);
    second
}

pub async fn a_link_queues_one_refresh_and_a_refresh_replaces_the_tokens(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let (t, id, first) = linked_with_refresh(store, &w).await;
    let queued = job(store, first).await;
    assert_eq!(
        (queued.kind, queued.run_at, queued.attempts, queued.done_at),
        (JobKind::RefreshToken, at(3000), 0, None)
    );
    assert_eq!(
        queued.payload,
        serde_json::json!({"connection_id": id, "platform_key": "sandbox"}),
        "the job names its connection and holds no token"
    );

    let second = a_second_link_replaces_the_refresh(store, t, id, first).await;

    let third = schedule(6200);
    let mut result = refreshed(second.job, "ct:second", "ct:refreshed", Some(third));
    result.granted_scope = Some("invoices.read bills.read".into());
    assert_eq!(
        store
            .store_refreshed_tokens(t, id, &result, at(3101))
            .await
            .unwrap(),
        RefreshStored::Stored
    );
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap().as_deref(),
        Some("ct:refreshed")
    );
    let conn = store.connection(t, id).await.unwrap().unwrap();
    assert_eq!(
        (conn.status, conn.granted_scope.as_deref(), conn.updated_at),
        (
            ConnectionStatus::Linked,
            Some("invoices.read bills.read"),
            at(3101)
        )
    );
    let done = job(store, second.job).await;
    assert_eq!(
        (done.done_at, done.payload.clone()),
        (Some(at(3101)), serde_json::Value::Null),
        "the refresh's job completes with the write"
    );
    let next = job(store, third.job).await;
    assert_eq!(
        (next.kind, next.run_at, next.done_at),
        (JobKind::RefreshToken, at(6200), None)
    );
    // The worker completing the job afterwards keeps the first completion.
    store.complete_job(second.job, at(3102)).await.unwrap();
    assert_eq!(job(store, second.job).await.done_at, Some(at(3101)));
    // A scope the platform did not report again stays as it was.
    let result = refreshed(third.job, "ct:refreshed", "ct:again", None);
    assert_eq!(
        store
            .store_refreshed_tokens(t, id, &result, at(6200))
            .await
            .unwrap(),
        RefreshStored::Stored
    );
    let conn = store.connection(t, id).await.unwrap().unwrap();
    assert_eq!(
        conn.granted_scope.as_deref(),
        Some("invoices.read bills.read")
    );
    assert_eq!(
        event_types(store, t).await,
        [
            "connection.created",
            "consent.given",
            "connection.linked",
            "connection.linked"
        ],
        "a refresh tells the tenant nothing"
    );
}

pub async fn a_refresh_of_tokens_no_longer_held_changes_nothing(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let (t, id, first) = linked_with_refresh(store, &w).await;
    // Another refresh (here: the store itself, as a stand-in) replaced the tokens meanwhile.
    let later = schedule(6000);
    let r = refreshed(first, "ct:tokens", "ct:winner", Some(later));
    assert_eq!(
        store
            .store_refreshed_tokens(t, id, &r, at(3000))
            .await
            .unwrap(),
        RefreshStored::Stored
    );
    // A refresh that started from the old tokens comes back late: nothing changes, and the
    // fresh tokens it got, held by nobody, are queued for revocation.
    let mut late = refreshed(later.job, "ct:tokens", "ct:late", Some(schedule(9000)));
    late.revoke_if_stale = true;
    let RefreshStored::Stale {
        revoke_job: Some(revoke),
    } = store
        .store_refreshed_tokens(t, id, &late, at(3001))
        .await
        .unwrap()
    else {
        panic!("a stale refresh is not stored");
    };
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap().as_deref(),
        Some("ct:winner")
    );
    assert!(
        job(store, later.job).await.done_at.is_none(),
        "its job stays pending"
    );
    let revoke = job(store, revoke).await;
    assert_eq!(revoke.kind, JobKind::RevokeToken);
    assert_eq!(revoke.payload["tokens_ct"], "ct:late");
    assert_eq!(revoke.payload["connection_id"], serde_json::json!(id));

    // Unknown connections, and another tenant's, are not found.
    let other = World::new(store, "Lender B").await;
    let r = refreshed(later.job, "ct:winner", "ct:evil", None);
    assert!(matches!(
        store
            .store_refreshed_tokens(other.tenant.id, id, &r, at(3002))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .store_refreshed_tokens(t, ConnectionId::new(), &r, at(3002))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap().as_deref(),
        Some("ct:winner")
    );
}

pub async fn a_refresh_never_revives_or_overwrites_a_disconnected_connection(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let (t, id, first) = linked_with_refresh(store, &w).await;
    let claimed = store
        .claim_jobs(at(3000), 10, Duration::minutes(2))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // The customer disconnects while the platform answers the refresh.
    let out = store
        .disconnect(t, id, true, "manage_page", at(3001))
        .await
        .unwrap()
        .unwrap();
    assert!(out.revoke_job.is_some());
    assert_eq!(
        job(store, first).await.done_at,
        Some(at(3001)),
        "the disconnect ends the pending refresh"
    );
    let r = refreshed(first, "ct:tokens", "ct:fresh", Some(schedule(6000)));
    assert_eq!(
        store
            .store_refreshed_tokens(t, id, &r, at(3002))
            .await
            .unwrap(),
        RefreshStored::Stale { revoke_job: None }
    );
    assert_eq!(
        store
            .deauthorize_connection(t, id, "ct:tokens", "invalid_grant", at(3003))
            .await
            .unwrap(),
        None
    );
    let c = store.connection(t, id).await.unwrap().unwrap();
    assert_eq!(c.status, ConnectionStatus::Disconnected);
    assert_eq!(store.connection_tokens(t, id).await.unwrap(), None);
    assert!(
        store
            .claim_jobs(at(9000), 10, Duration::minutes(2))
            .await
            .unwrap()
            .iter()
            .all(|j| j.kind != JobKind::RefreshToken),
        "no refresh queued for it"
    );
    assert!(!event_types(store, t)
        .await
        .contains(&"connection.deauthorized"));
}

/// The customer reconnects a deauthorized connection `c`: a new consent on the same connection,
/// which supersedes `old_consent`, then a new link, whose refresh is the only one pending.
async fn reconnect_after_deauthorization(
    store: &dyn Store,
    w: &World,
    c: &Connection,
    first: JobId,
    old_consent: ConsentId,
) {
    let (t, id) = (w.tenant.id, c.id);
    let mut again = fixtures::consent_write(&w.company, &w.nv, at(4000));
    again.connection = c.clone();
    again.connection.status = ConnectionStatus::PendingAuth;
    again.connection.consent_id = Some(again.consent.id);
    again.connection.updated_at = at(4000);
    again.consent.connection_id = id;
    again.event = EventBody::for_consent(
        EventKind::Given,
        &again.consent,
        &w.nv.content.purpose,
        "hosted_flow_checkbox",
        at(4000),
    );
    store
        .record_consent(&again)
        .await
        .expect("a deauthorized connection can be reconnected");
    let next = schedule(7000);
    store
        .link_connection(
            t,
            id,
            &fixtures::link_write("ct:new-grant", Some(next)),
            at(4010),
        )
        .await
        .unwrap();
    let c = store.connection(t, id).await.unwrap().unwrap();
    assert_eq!(
        (c.status, c.linked_at),
        (ConnectionStatus::Linked, Some(at(4010)))
    );
    assert_eq!(pending(store, &[first, next.job]).await, [next.job]);
    let superseded = store.consent(t, old_consent).await.unwrap().unwrap();
    assert_eq!(
        superseded.withdrawn_at,
        Some(at(4000)),
        "the new consent supersedes it"
    );
}

pub async fn deauthorization_destroys_the_tokens_with_its_event(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let (t, id, first) = linked_with_refresh(store, &w).await;
    let before = store.connection(t, id).await.unwrap().unwrap();
    // Refused for tokens the connection does not hold: nothing changes.
    assert_eq!(
        store
            .deauthorize_connection(t, id, "ct:older", "invalid_grant", at(3000))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.connection(t, id).await.unwrap().unwrap(), before);
    // Another tenant cannot.
    let other = World::new(store, "Lender B").await;
    assert!(matches!(
        store
            .deauthorize_connection(other.tenant.id, id, "ct:tokens", "invalid_grant", at(3000))
            .await,
        Err(StoreError::NotFound)
    ));

    let c = store
        .deauthorize_connection(t, id, "ct:tokens", "invalid_grant", at(3001))
        .await
        .unwrap()
        .expect("deauthorized");
    assert_eq!(
        (c.status, c.last_error.as_deref(), c.updated_at, c.linked_at),
        (
            ConnectionStatus::Deauthorized,
            Some("invalid_grant"),
            at(3001),
            Some(at(60))
        )
    );
    assert_eq!(store.connection(t, id).await.unwrap(), Some(c.clone()));
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap(),
        None,
        "tokens destroyed"
    );
    assert_eq!(
        job(store, first).await.done_at,
        Some(at(3001)),
        "no refresh left"
    );
    let consent = store
        .consent(t, c.consent_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        consent.withdrawn_at, None,
        "the customer withdrew nothing through Accord"
    );
    let events = store.webhook_events(t, 1000).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.event_type, "connection.deauthorized");
    assert_eq!(last.created_at, at(3001));
    let body: serde_json::Value = serde_json::from_str(&last.body).unwrap();
    assert_eq!(body["data"]["connection_id"], serde_json::json!(id));
    assert_eq!(body["data"]["status"], "deauthorized");
    assert_eq!(body["data"]["error_code"], "invalid_grant");
    // Once only.
    assert_eq!(
        store
            .deauthorize_connection(t, id, "ct:tokens", "invalid_grant", at(3002))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.webhook_events(t, 1000).await.unwrap().len(),
        events.len()
    );

    reconnect_after_deauthorization(store, &w, &c, first, consent.id).await;
}

pub async fn a_reconsent_required_connection_keeps_refreshing(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let (t, id, first) = linked_with_refresh(store, &w).await;
    // Consent validity ran out: data access stops, the tokens are kept for the re-consent.
    store.expire_consents(t, at(100), at(200)).await.unwrap();
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap().status,
        ConnectionStatus::ReconsentRequired
    );
    let r = refreshed(first, "ct:tokens", "ct:kept-alive", None);
    assert_eq!(
        store
            .store_refreshed_tokens(t, id, &r, at(3000))
            .await
            .unwrap(),
        RefreshStored::Stored
    );
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap().status,
        ConnectionStatus::ReconsentRequired,
        "a refresh changes no status"
    );
    let c = store
        .deauthorize_connection(t, id, "ct:kept-alive", "invalid_grant", at(3100))
        .await
        .unwrap()
        .expect("deauthorized");
    assert_eq!(c.status, ConnectionStatus::Deauthorized);
}

pub async fn racing_refreshes_and_links_leave_one_refresh_pending(store: &dyn Store) {
    const RACERS: i64 = 8;
    let w = World::new(store, "Lender A").await;
    let (t, id, first) = linked_with_refresh(store, &w).await;
    // Many results of one refresh arrive at once (a job run twice): one is stored.
    let nexts: Vec<RefreshSchedule> = (0..RACERS).map(|n| schedule(6000 + n)).collect();
    let writes: Vec<RefreshedTokens> = nexts
        .iter()
        .enumerate()
        .map(|(n, next)| refreshed(first, "ct:tokens", &format!("ct:fresh-{n}"), Some(*next)))
        .collect();
    let outcomes = join_all(
        writes
            .iter()
            .map(|r| store.store_refreshed_tokens(t, id, r, at(3000))),
    )
    .await;
    let winners: Vec<usize> = outcomes
        .into_iter()
        .enumerate()
        .filter_map(|(n, o)| {
            (o.expect("no error, only stale") == RefreshStored::Stored).then_some(n)
        })
        .collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap(),
        Some(format!("ct:fresh-{}", winners[0]))
    );
    let ids: Vec<JobId> = nexts.iter().map(|n| n.job).collect();
    assert_eq!(pending(store, &ids).await, [nexts[winners[0]].job]);

    // Many links of the connection at once, each queueing its refresh: one stays pending.
    let links: Vec<RefreshSchedule> = (0..RACERS).map(|n| schedule(9000 + n)).collect();
    let outcomes = join_all(links.iter().enumerate().map(|(n, s)| {
        let ct = format!("ct:link-{n}");
        async move {
            store
                .link_connection(t, id, &fixtures::link_write(&ct, Some(*s)), at(4000))
                .await
        }
    }))
    .await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let mut all: Vec<JobId> = links.iter().map(|s| s.job).collect();
    all.extend(ids);
    assert_eq!(
        pending(store, &all).await.len(),
        1,
        "one refresh pending per connection"
    );
}

/// A refresh failing through its whole schedule is recorded on the linked connection with its
/// event; a refresh that succeeds later clears the error; a connection no longer linked, or
/// another tenant's, is left alone.
pub async fn a_failing_refresh_is_told_and_a_later_success_clears_it(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let (t, id, first) = linked_with_refresh(store, &w).await;
    let other = World::new(store, "Lender B").await;
    assert!(matches!(
        store
            .refresh_failing(other.tenant.id, id, "platform_unreachable", at(4000))
            .await,
        Err(StoreError::NotFound)
    ));
    let c = store
        .refresh_failing(t, id, "platform_unreachable", at(4000))
        .await
        .unwrap()
        .expect("linked");
    assert_eq!(
        (c.status, c.last_error.as_deref(), c.updated_at),
        (
            ConnectionStatus::Linked,
            Some("platform_unreachable"),
            at(4000)
        )
    );
    assert_eq!(store.connection(t, id).await.unwrap(), Some(c));
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap().as_deref(),
        Some("ct:tokens"),
        "the tokens are kept"
    );
    assert_eq!(
        event_types(store, t)
            .await
            .iter()
            .filter(|e| **e == "connection.refresh_failing")
            .count(),
        1
    );

    let stored = store
        .store_refreshed_tokens(
            t,
            id,
            &refreshed(first, "ct:tokens", "ct:fresh", None),
            at(4100),
        )
        .await
        .unwrap();
    assert_eq!(stored, RefreshStored::Stored);
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap().last_error,
        None,
        "a refresh that succeeds clears it"
    );

    store
        .disconnect(t, id, false, "test", at(4200))
        .await
        .unwrap();
    assert_eq!(
        store
            .refresh_failing(t, id, "platform_unreachable", at(4300))
            .await
            .unwrap(),
        None,
        "only a linked connection"
    );
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap().last_error,
        None
    );
}
