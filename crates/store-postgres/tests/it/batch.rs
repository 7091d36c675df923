//! The consent batch as migration 0019 made it: rows first and the tenant's chain last, two
//! batches of a lane in flight, and the batch's webhook events as one outbox row. What these
//! prove: the events are listed at once and fanned out once, even by two instances; a company
//! deleted while consents for it are written keeps no live connection; and the writers that
//! lock a connection and the chain (consents, disconnects, expiry) never deadlock.

use accord_domain::connection::ConnectionStatus;
use accord_domain::ids::{TenantId, WebhookEndpointId};
use accord_domain::ledger::ChainVerifier;
use accord_domain::outbox::WebhookEndpoint;
use accord_store::conformance::fixtures::{self, at, World};
use accord_store::{Store, StoreError};
use accord_store_postgres::testing::TestDatabase;
use std::collections::BTreeSet;
use std::sync::Arc;

fn endpoint(w: &World) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookEndpointId::new(),
        tenant_id: w.tenant.id,
        url: "https://hooks.lender.example/accord".into(),
        description: None,
        event_types: Vec::new(),
        enabled: true,
        disabled_reason: None,
        secret_ct: "ct:secret-1".into(),
        previous_secret_ct: None,
        previous_secret_until: None,
        created_at: at(-10),
        updated_at: at(-10),
    }
}

/// 48 consents through two instances at once: their 96 events are listed before any fan-out,
/// then two instances fanning out at once make one delivery of each, and no batch row is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_events_are_listed_at_once_and_fanned_out_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let a: Arc<dyn Store> = Arc::new(db.store().await);
    let b: Arc<dyn Store> = Arc::new(db.store().await);
    let w = World::new(&*a, "Lender A").await;
    let hook = endpoint(&w);
    a.create_webhook_endpoint(&hook).await.unwrap();

    let writes: Vec<_> = (0..48)
        .map(|n| fixtures::consent_write(&w.company, &w.nv, at(n)))
        .collect();
    let written = futures::future::join_all(writes.iter().enumerate().map(|(n, write)| {
        let store = if n % 2 == 0 { &a } else { &b };
        async move { store.record_consent(write).await }
    }))
    .await;
    assert!(written.iter().all(Result::is_ok), "{written:?}");

    let listed = a.webhook_events(w.tenant.id, 1000).await.unwrap();
    let expected: BTreeSet<String> = writes
        .iter()
        .flat_map(|w| {
            [
                format!("connection.created {}", w.connection.id),
                format!("consent.given {}", w.connection.id),
            ]
        })
        .collect();
    let seen = |events: &[accord_domain::outbox::WebhookEvent]| -> Vec<String> {
        events
            .iter()
            .map(|e| {
                let body: serde_json::Value = serde_json::from_str(&e.body).unwrap();
                format!(
                    "{} {}",
                    e.event_type,
                    body["data"]["connection_id"].as_str().unwrap()
                )
            })
            .collect()
    };
    let before = seen(&listed);
    assert_eq!(
        before.len(),
        96,
        "every event listed once before the fan-out"
    );
    assert_eq!(before.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(
        listed.windows(2).all(|p| p[0].id < p[1].id),
        "listed oldest first"
    );

    let fan = |store: Arc<dyn Store>| async move {
        let mut n = 0;
        loop {
            let done = store.fan_out_webhook_events(at(100), 10).await.unwrap();
            if done == 0 {
                return n;
            }
            n += done;
        }
    };
    let (by_a, by_b) = tokio::join!(
        tokio::spawn(fan(Arc::clone(&a))),
        tokio::spawn(fan(Arc::clone(&b)))
    );
    assert_eq!(
        by_a.unwrap() + by_b.unwrap(),
        96,
        "each event fanned out once"
    );
    let deliveries = a
        .webhook_deliveries(w.tenant.id, hook.id, None, 1000)
        .await
        .unwrap();
    let events: BTreeSet<_> = deliveries.iter().map(|d| d.event_id).collect();
    assert_eq!((deliveries.len(), events.len()), (96, 96));

    let after = a.webhook_events(w.tenant.id, 1000).await.unwrap();
    assert_eq!(
        after.iter().map(|e| e.id).collect::<Vec<_>>(),
        listed.iter().map(|e| e.id).collect::<Vec<_>>(),
        "the same events, with the same ids, once they are rows"
    );
    let mut raw = db.raw().await;
    let left: i64 = sqlx::query_scalar("select count(*) from webhook_outbox")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// Rounds of consents for a company written while the company is deleted: each consent is
/// either refused (`NotFound`) or its connection is disconnected by the deletion; no connection
/// of a deleted company stays live, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_deleted_while_consents_are_written_keeps_no_live_connection() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(db.store().await);
    let w = World::new(&*store, "Lender A").await;
    let tenant = w.tenant.id;
    for round in 0..10 {
        let company = fixtures::company(&*store, w.tenant.id, None).await;
        let writes: Vec<_> = (0..12)
            .map(|n| fixtures::consent_write(&company, &w.nv, at(round * 100 + n)))
            .collect();
        let consents = futures::future::join_all(writes.iter().map(|write| {
            let store = Arc::clone(&store);
            let write = write.clone();
            tokio::spawn(async move { store.record_consent(&write).await })
        }));
        let deletion = {
            let store = Arc::clone(&store);
            let id = company.id;
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                store.delete_company(tenant, id, at(round * 100 + 50)).await
            })
        };
        let (consents, deletion) = tokio::join!(consents, deletion);
        assert!(deletion.unwrap().unwrap(), "round {round}: deleted");
        for (write, outcome) in writes.iter().zip(consents) {
            match outcome.unwrap() {
                Err(StoreError::NotFound) => assert_eq!(
                    store
                        .connection(w.tenant.id, write.connection.id)
                        .await
                        .unwrap(),
                    None,
                    "round {round}: a refused consent leaves no connection"
                ),
                Err(e) => panic!("round {round}: {e}"),
                Ok(_) => {
                    let c = store
                        .connection(w.tenant.id, write.connection.id)
                        .await
                        .unwrap()
                        .unwrap();
                    assert_eq!(
                        c.status,
                        ConnectionStatus::Disconnected,
                        "round {round}: a connection of the deleted company stayed live"
                    );
                }
            }
        }
    }
    verify_chain(&*store, tenant).await;
}

/// The tenant's whole chain: every position, link and hash (the verifier `accord ledger
/// verify` uses).
async fn verify_chain(store: &dyn Store, tenant: TenantId) {
    let mut verifier = ChainVerifier::default();
    for e in store.ledger_events(tenant, 0, 10_000).await.unwrap() {
        verifier
            .push(&e)
            .unwrap_or_else(|b| panic!("chain broken: {b}"));
    }
    verifier.finish().unwrap();
}

/// A linked connection re-consented, disconnected and expired at the same time, in rounds: all
/// of them finish (PostgreSQL would abort one side of a deadlock, and that error would surface
/// here), and the connection ends disconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consents_disconnects_and_expiry_of_one_connection_do_not_deadlock() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(db.store().await);
    let w = World::new(&*store, "Lender A").await;
    let tenant = w.tenant.id;
    for round in 0..12 {
        let linked = fixtures::linked(&*store, &w.company, &w.nv).await;
        let again = fixtures::reconsent(&linked, at(100 + round));
        let (consent, disconnect, expiry) = tokio::join!(
            tokio::spawn({
                let store = Arc::clone(&store);
                async move { store.record_consent(&again).await.map(|_| ()) }
            }),
            tokio::spawn({
                let store = Arc::clone(&store);
                let id = linked.connection.id;
                async move {
                    store
                        .disconnect(tenant, id, true, "manage_page", at(200))
                        .await
                        .map(|_| ())
                }
            }),
            tokio::spawn({
                let store = Arc::clone(&store);
                async move {
                    store
                        .expire_consents(tenant, at(1000), at(300))
                        .await
                        .map(|_| ())
                }
            }),
        );
        match consent.unwrap() {
            // Refused only because the disconnect came first.
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => panic!("round {round}: consent: {e}"),
        }
        disconnect.unwrap().unwrap();
        expiry.unwrap().unwrap();
        let c = store
            .connection(w.tenant.id, linked.connection.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.status, ConnectionStatus::Disconnected, "round {round}");
    }
    verify_chain(&*store, tenant).await;
}

/// A consent for a deleted company, in a batch with consents for a live one: it alone is
/// refused (`NotFound`, nothing of it written), and the others commit with their events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_for_a_deleted_company_fails_alone_in_its_batch() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let pg = Arc::new(db.store().await);
    let store: Arc<dyn Store> = pg.clone();
    let w = World::new(&*store, "Lender A").await;
    let gone = fixtures::company(&*store, w.tenant.id, None).await;
    assert!(store
        .delete_company(w.tenant.id, gone.id, at(1))
        .await
        .unwrap());
    let mut writes: Vec<_> = (0..10)
        .map(|n| fixtures::consent_write(&w.company, &w.nv, at(10 + n)))
        .collect();
    writes.insert(5, fixtures::consent_write(&gone, &w.nv, at(9)));
    let outcomes =
        futures::future::join_all(writes.iter().map(|write| store.record_consent(write))).await;
    for (n, (write, outcome)) in writes.iter().zip(&outcomes).enumerate() {
        if n == 5 {
            assert!(matches!(outcome, Err(StoreError::NotFound)), "{outcome:?}");
            assert_eq!(
                store
                    .connection(w.tenant.id, write.connection.id)
                    .await
                    .unwrap(),
                None
            );
        } else {
            assert!(outcome.is_ok(), "{n}: {outcome:?}");
        }
    }
    let stats = pg.group_commit_stats();
    assert!(
        stats.batches < 11 && stats.replays >= 1,
        "the refused consent shared a batch, replayed request by request: {stats:?}"
    );
    let events = store.ledger_events(w.tenant.id, 0, 100).await.unwrap();
    assert_eq!(events.len(), 10, "one event for each consent written");
    verify_chain(&*store, w.tenant.id).await;
    assert_eq!(
        store.webhook_events(w.tenant.id, 100).await.unwrap().len(),
        20
    );
}
