//! Races, across roles: what several Accord instances on one database do at the same time.
//! Accord may run as many instances behind a load balancer, and they must agree on one truth: a
//! link, an OAuth state or a job is used once however many of them reach for it. Each case
//! starts the same store call many times at once; on a backend with real concurrent sessions
//! (PostgreSQL) they truly overlap, and exactly one wins.

use super::fixtures::{self, at, World};
use crate::Store;
use accord_domain::crypto::TokenHash;
use accord_domain::flow::SessionKind;
use accord_domain::ids::ConnectionId;
use futures::future::join_all;
use std::collections::BTreeSet;
use time::Duration;

/// How many callers race in each case.
const RACERS: usize = 8;

pub async fn racing_link_session_opens_consume_it_once(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let link = fixtures::link_session(&w.company, SessionKind::Link, "raced-link", at(600));
    store.create_link_session(&link).await.expect("create");
    let browsers: Vec<_> = (0..RACERS)
        .map(|n| fixtures::unbound_browser(SessionKind::Link, &format!("cookie-{n}"), at(3600)))
        .collect();
    let hash = TokenHash::of("raced-link");
    let outcomes = join_all(
        browsers
            .iter()
            .map(|b| store.consume_link_session(&hash, at(10), b)),
    )
    .await;
    let winners: Vec<_> = outcomes
        .into_iter()
        .map(|o| o.expect("no error, only a refusal"))
        .enumerate()
        .filter_map(|(n, o)| o.map(|_| n))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one open wins: {winners:?}");
    for n in 0..RACERS {
        let opened = store
            .browser_session(
                &TokenHash::of(&format!("cookie-{n}")),
                SessionKind::Link,
                at(11),
            )
            .await
            .unwrap();
        assert_eq!(
            opened.is_some(),
            n == winners[0],
            "only the winner's browser session exists (browser {n})"
        );
    }
}

pub async fn racing_callbacks_consume_the_state_once(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let session = fixtures::browser(store, &w.company, SessionKind::Link, "cookie").await;
    let mut write = fixtures::consent_write(&w.company, &w.nv, at(0));
    write.oauth_flow = Some(fixtures::oauth_flow(
        &write.connection,
        session.id,
        "raced-state",
        at(600),
    ));
    store.record_consent(&write).await.expect("record");
    let state = TokenHash::of("raced-state");
    let outcomes =
        join_all((0..RACERS).map(|_| store.consume_oauth_flow(&state, session.id, at(5)))).await;
    let won = outcomes
        .into_iter()
        .filter_map(|o| o.expect("no error, only a refusal"))
        .count();
    assert_eq!(won, 1, "exactly one callback consumes the state");
}

pub async fn racing_disconnects_queue_one_revocation(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let write = fixtures::linked(store, &w.company, &w.nv).await;
    let id = write.connection.id;
    let outcomes =
        join_all((0..RACERS).map(|_| store.disconnect(w.tenant.id, id, true, "test", at(100))))
            .await;
    let jobs: Vec<_> = outcomes
        .into_iter()
        .map(|o| o.expect("no error").expect("the connection exists"))
        .filter_map(|d| d.revoke_job)
        .collect();
    assert_eq!(jobs.len(), 1, "one revocation job: {jobs:?}");
    let claimed = store
        .claim_jobs(at(1000), 100, Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|j| j.id).collect::<Vec<_>>(),
        jobs,
        "and only one job stored"
    );
    let consent = store
        .consent(w.tenant.id, write.consent.id)
        .await
        .unwrap()
        .unwrap();
    assert!(consent.withdrawn_at.is_some());
}

pub async fn racing_claims_hand_each_job_out_once(store: &dyn Store) {
    const JOBS: usize = 24;
    let w = World::new(store, "Lender A").await;
    let mut connections: Vec<ConnectionId> = Vec::new();
    for _ in 0..JOBS {
        let write = fixtures::linked(store, &w.company, &w.nv).await;
        store
            .disconnect(w.tenant.id, write.connection.id, true, "test", at(0))
            .await
            .unwrap();
        connections.push(write.connection.id);
    }
    // Several workers drain the queue at once, a few jobs per claim, until nothing is left.
    let worker = || async move {
        let mut mine = Vec::new();
        loop {
            let batch = store
                .claim_jobs(at(10), 3, Duration::minutes(5))
                .await
                .expect("claim");
            if batch.is_empty() {
                return mine;
            }
            mine.extend(batch.into_iter().map(|j| (j.id, j.attempts)));
        }
    };
    let claimed: Vec<_> = join_all((0..RACERS).map(|_| worker()))
        .await
        .into_iter()
        .flatten()
        .collect();
    let ids: BTreeSet<_> = claimed.iter().map(|(id, _)| *id).collect();
    assert_eq!(claimed.len(), JOBS, "no job handed out twice: {claimed:?}");
    assert_eq!(ids.len(), JOBS);
    assert!(claimed.iter().all(|(_, attempts)| *attempts == 1));
}
