//! Durable jobs: claimed once under a lease, retried, given up; and housekeeping, which deletes
//! ended jobs and expired OAuth flows.

use super::fixtures::{self, at, World};
use crate::{Purged, Store, StoreError};
use accord_domain::crypto::TokenHash;
use accord_domain::flow::SessionKind;
use accord_domain::ids::JobId;
use time::Duration;

/// A revocation job due at `at(0)`, as a disconnect creates it.
async fn one_job(store: &dyn Store) -> JobId {
    let w = World::new(store, "Lender A").await;
    let write = fixtures::linked(store, &w.company, &w.nv).await;
    store
        .disconnect(w.tenant.id, write.connection.id, true, "test", at(0))
        .await
        .unwrap()
        .unwrap()
        .revoke_job
        .unwrap()
}

pub async fn jobs_are_claimed_once_under_a_lease(store: &dyn Store) {
    let id = one_job(store).await;
    let lease = Duration::minutes(1);
    let (a, b) = futures::join!(
        store.claim_jobs(at(10), 10, lease),
        store.claim_jobs(at(10), 10, lease)
    );
    let claimed: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    assert_eq!(claimed.len(), 1, "two claims at once do not both get it");
    assert_eq!((claimed[0].id, claimed[0].attempts), (id, 1));
    assert!(
        store
            .claim_jobs(at(40), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    let reclaimed = store.claim_jobs(at(70), 10, lease).await.unwrap();
    assert_eq!(
        reclaimed
            .iter()
            .map(|j| (j.id, j.attempts))
            .collect::<Vec<_>>(),
        [(id, 2)],
        "lease expired"
    );
    store.complete_job(id, at(80)).await.expect("complete");
    let done = store.job(id).await.unwrap().unwrap();
    assert_eq!(
        (done.done_at, done.payload, done.last_error),
        (Some(at(80)), serde_json::Value::Null, None),
        "payload cleared"
    );
    assert!(store
        .claim_jobs(at(10_000), 10, lease)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.complete_job(JobId::new(), at(90)).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn failed_jobs_retry_then_give_up(store: &dyn Store) {
    let id = one_job(store).await;
    let lease = Duration::minutes(1);
    assert_eq!(store.claim_jobs(at(10), 10, lease).await.unwrap().len(), 1);
    store
        .fail_job(id, "platform timeout", Some(at(600)), at(20))
        .await
        .expect("fail");
    let waiting = store.job(id).await.unwrap().unwrap();
    assert_eq!(
        (
            waiting.run_at,
            waiting.last_error.as_deref(),
            waiting.done_at
        ),
        (at(600), Some("platform timeout"), None)
    );
    assert_eq!(
        waiting.payload["tokens_ct"], "ct:tokens",
        "kept for the retry"
    );
    assert!(
        store
            .claim_jobs(at(300), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    assert_eq!(
        store.claim_jobs(at(600), 10, lease).await.unwrap()[0].attempts,
        2
    );
    store
        .fail_job(id, "gave up", None, at(610))
        .await
        .expect("give up");
    let given_up = store.job(id).await.unwrap().unwrap();
    assert_eq!(
        (
            given_up.done_at,
            given_up.payload,
            given_up.last_error.as_deref()
        ),
        (Some(at(610)), serde_json::Value::Null, Some("gave up"))
    );
    assert!(store
        .claim_jobs(at(10_000), 10, lease)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.fail_job(JobId::new(), "x", None, at(1)).await,
        Err(StoreError::NotFound)
    ));
}

/// Housekeeping deletes expired OAuth flows and jobs that ended before the cut-off, up to the
/// limit, and nothing else: pending jobs, jobs ended later and live flows stay.
pub async fn purge_deletes_only_what_can_never_be_used(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let write = fixtures::linked(store, &w.company, &w.nv).await;
        let job = store
            .disconnect(w.tenant.id, write.connection.id, true, "test", at(0))
            .await
            .unwrap()
            .unwrap()
            .revoke_job
            .unwrap();
        jobs.push(job);
    }
    store.complete_job(jobs[0], at(100)).await.unwrap();
    store.complete_job(jobs[1], at(300)).await.unwrap();

    let pending = fixtures::consent_write(&w.company, &w.nv, at(0));
    store.record_consent(&pending).await.unwrap();
    let session = fixtures::browser(store, &w.company, SessionKind::Link, "cookie").await;
    for (state, expires) in [
        ("old-1", 600),
        ("old-2", 700),
        ("old-3", 900),
        ("live", 1200),
    ] {
        let flow = fixtures::oauth_flow(&pending.connection, session.id, state, at(expires));
        store.create_oauth_flow(&flow).await.unwrap();
    }

    assert_eq!(
        store.purge_expired(at(900), at(200), 2).await.unwrap(),
        Purged {
            oauth_flows: 2,
            jobs: 1
        },
        "at most the limit of each"
    );
    assert_eq!(
        store.purge_expired(at(900), at(200), 2).await.unwrap(),
        Purged {
            oauth_flows: 1,
            jobs: 0
        }
    );
    assert_eq!(
        store.purge_expired(at(900), at(200), 2).await.unwrap(),
        Purged::default()
    );
    assert_eq!(
        store.job(jobs[0]).await.unwrap(),
        None,
        "ended before the cut-off"
    );
    assert!(
        store.job(jobs[1]).await.unwrap().is_some(),
        "ended after it"
    );
    assert!(store.job(jobs[2]).await.unwrap().is_some(), "still pending");
    let live = store
        .consume_oauth_flow(&TokenHash::of("live"), session.id, at(900))
        .await
        .unwrap();
    assert!(live.is_some(), "a live flow is kept and still works");
}

pub async fn queue_stats_count_what_waits(store: &dyn Store) {
    assert_eq!(
        store.queue_stats(at(0)).await.unwrap(),
        crate::QueueStats::default(),
        "an empty queue"
    );
    let id = one_job(store).await;
    let before = store.queue_stats(at(-10)).await.unwrap();
    assert_eq!((before.due, before.oldest_due), (0, None), "not due yet");
    assert!(before.pending >= 1);
    let due = store.queue_stats(at(10)).await.unwrap();
    assert!(due.due >= 1 && due.pending >= due.due);
    assert_eq!(
        due.oldest_due,
        Some(at(0)),
        "the revocation, due at its creation"
    );
    store.complete_job(id, at(20)).await.unwrap();
    let after = store.queue_stats(at(30)).await.unwrap();
    assert_eq!(
        (after.pending, after.due),
        (due.pending - 1, due.due - 1),
        "a done job no longer waits"
    );
}

/// A link e-mail is queued with the manage link it carries in one transaction: both land, or
/// (a link already stored under that hash) neither; without a link, the job alone.
pub async fn a_link_email_is_queued_with_its_manage_link(store: &dyn Store) {
    use accord_domain::flow::ManageLink;
    use accord_domain::tenant::{Job, JobKind};
    let w = World::new(store, "Lender A").await;
    let job = |n: i64| Job {
        id: JobId::new(),
        tenant_id: w.tenant.id,
        kind: JobKind::SendLinkEmail,
        payload: serde_json::json!({ "purpose": "manage_link", "message_ct": format!("v1.k.{n}") }),
        attempts: 0,
        run_at: at(n),
        last_error: None,
        done_at: None,
        created_at: at(n),
    };
    let link = ManageLink {
        tenant_id: w.tenant.id,
        company_id: w.company.id,
        token_hash: TokenHash::of("emailed"),
        created_at: at(1),
        revoked_at: None,
    };
    let first = job(1);
    store
        .queue_link_email(&first, Some(&link))
        .await
        .expect("queued");
    assert_eq!(store.job(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(
        store.manage_link(&TokenHash::of("emailed")).await.unwrap(),
        Some(link.clone())
    );

    // The same link again: refused, and its job is not queued either.
    let second = job(2);
    assert!(matches!(
        store.queue_link_email(&second, Some(&link)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.job(second.id).await.unwrap(),
        None,
        "no job without its link"
    );

    // A job alone (an invitation: its link is stored elsewhere) is claimed like any other.
    let alone = job(3);
    store.queue_link_email(&alone, None).await.expect("queued");
    let claimed = store
        .claim_jobs(at(10), 10, Duration::minutes(1))
        .await
        .unwrap();
    let mut ids: Vec<_> = claimed.iter().map(|j| j.id).collect();
    ids.sort();
    let mut want = vec![first.id, alone.id];
    want.sort();
    assert_eq!(ids, want);
}
