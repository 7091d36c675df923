//! [`LedgerStore`]: every consent event is appended to its tenant's hash chain in the same
//! transaction as the change it records; chains never fork or skip, even under concurrency;
//! the rows verification reads are the exact text hashed; checkpoints seal a chain once per
//! position.

use super::fixtures::{self, at, World};
use crate::{LedgerStore, Store};
use accord_domain::ids::TenantId;
use accord_domain::ledger::{ChainVerifier, ChainedEvent, EventBody, EventKind};
use futures::future::join_all;

/// The tenant's whole chain, in order.
pub(super) async fn chain(
    store: &(impl LedgerStore + ?Sized),
    tenant: TenantId,
) -> Vec<ChainedEvent> {
    store
        .ledger_events(tenant, 0, 10_000)
        .await
        .expect("ledger events")
}

/// Panics unless `events` verify as one unbroken chain.
pub(super) fn verify(events: &[ChainedEvent]) {
    let mut v = ChainVerifier::default();
    for e in events {
        v.push(e).unwrap_or_else(|b| panic!("chain broken: {b}"));
    }
}

pub async fn consent_and_withdrawal_are_chained(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let linked = fixtures::linked(store, &w.company, &w.nv).await;
    store
        .disconnect(
            w.tenant.id,
            linked.connection.id,
            true,
            "manage_page",
            at(120),
        )
        .await
        .unwrap();
    let events = chain(store, w.tenant.id).await;
    assert_eq!(events.len(), 2);
    verify(&events);
    assert_eq!(
        events[0].event.body, linked.event,
        "the event written is the one given"
    );
    assert_eq!(events[1].event.body.kind, EventKind::Withdrawn);
    assert_eq!(events[1].event.body.method, "manage_page");
    assert_eq!(events[1].event.body.consent_id, linked.consent.id);
    assert_eq!(
        events[1].event.body.purpose, w.nv.content.purpose,
        "purpose taken from the notice version"
    );
    assert_eq!(events[1].event.body.at, at(120));
    assert_eq!(
        store
            .consent_events(w.tenant.id, linked.consent.id)
            .await
            .unwrap(),
        events
    );
    assert_eq!(store.ledger_tenants().await.unwrap(), vec![w.tenant.id]);
    // Disconnecting again appends nothing.
    store
        .disconnect(
            w.tenant.id,
            linked.connection.id,
            true,
            "manage_page",
            at(130),
        )
        .await
        .unwrap();
    assert_eq!(chain(store, w.tenant.id).await.len(), 2);
}

pub async fn concurrent_appends_neither_fork_nor_skip(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = World::new(store, "Lender B").await;
    let writes: Vec<_> = (0..150)
        .map(|n| {
            let world = if n % 3 == 0 { &other } else { &w };
            fixtures::consent_write(&world.company, &world.nv, at(n))
        })
        .collect();
    let results = join_all(writes.iter().map(|x| store.record_consent(x))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let bodies: Vec<EventBody> = (0..20)
        .map(|n| {
            let mut b = writes[1].event.clone();
            b.kind = EventKind::NdaAccepted;
            b.at = at(1000 + n);
            b
        })
        .collect();
    let appended = join_all(
        bodies
            .chunks(2)
            .map(|c| store.append_events(w.tenant.id, c.to_vec())),
    )
    .await;
    assert!(appended.iter().all(Result::is_ok));
    let a = chain(store, w.tenant.id).await;
    let b = chain(store, other.tenant.id).await;
    assert_eq!((a.len(), b.len()), (100 + 20, 50));
    verify(&a);
    verify(&b);
    assert_eq!(
        a.iter().map(|e| e.event.seq).collect::<Vec<_>>(),
        (1..=120).collect::<Vec<_>>()
    );
    // Paging through the chain gives the same events.
    let mut paged = store.ledger_events(w.tenant.id, 0, 50).await.unwrap();
    paged.extend(store.ledger_events(w.tenant.id, 50, 100).await.unwrap());
    assert_eq!(paged, a);
}

/// The rows verification reads are the events as written: their text hashes to their hash and
/// verifies as a chain; a tenant's rows never show another tenant's events.
pub async fn stored_rows_are_the_exact_text_hashed(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = World::new(store, "Lender B").await;
    let linked = fixtures::linked(store, &w.company, &w.nv).await;
    fixtures::linked(store, &other.company, &other.nv).await;
    store
        .disconnect(
            w.tenant.id,
            linked.connection.id,
            true,
            "manage_page",
            at(120),
        )
        .await
        .unwrap();
    let events = chain(store, w.tenant.id).await;
    let rows = store.ledger_rows(w.tenant.id, 0, 100).await.unwrap();
    assert_eq!(rows.len(), 2);
    let mut v = ChainVerifier::default();
    for (row, e) in rows.iter().zip(&events) {
        assert_eq!(row.text, e.event.canonical_json());
        assert_eq!(
            (row.seq, row.hash.as_str(), row.tenant_id),
            (e.event.seq, e.hash.as_str(), w.tenant.id)
        );
        v.push_stored(row).unwrap();
    }
    v.finish().unwrap();
    let after_first = store.ledger_rows(w.tenant.id, 1, 100).await.unwrap();
    assert_eq!(after_first, rows[1..]);
    assert_eq!(
        store.ledger_rows(w.tenant.id, 0, 1).await.unwrap(),
        rows[..1]
    );
}

/// Checkpoints are kept once per position, listed in order, and tell the sealer which chains
/// have events after their last checkpoint.
pub async fn checkpoints_are_kept_once_and_show_unsealed_chains(store: &dyn Store) {
    use accord_domain::ledger::{Checkpoint, SignedCheckpoint};
    let keys = accord_domain::receipt::SigningKeys::new(
        "k1",
        std::collections::BTreeMap::from([("k1".to_owned(), [3; 32])]),
    )
    .unwrap();
    let w = World::new(store, "Lender A").await;
    let quiet = World::new(store, "Lender B").await;
    let unsealed = |chains: Vec<crate::UnsealedChain>| {
        chains
            .into_iter()
            .filter(|c| c.tenant_id == w.tenant.id || c.tenant_id == quiet.tenant.id)
            .collect::<Vec<_>>()
    };
    assert!(unsealed(store.unsealed_chains(1000).await.unwrap()).is_empty());

    let linked = fixtures::linked(store, &w.company, &w.nv).await;
    let chains = unsealed(store.unsealed_chains(1000).await.unwrap());
    assert_eq!(
        chains,
        vec![crate::UnsealedChain {
            tenant_id: w.tenant.id,
            sealed: None,
            head_seq: 1
        }]
    );
    let first = chain(store, w.tenant.id).await.remove(0);
    let seal = |seq: i64, hash: &str| {
        SignedCheckpoint::sign(
            &keys,
            Checkpoint {
                tenant_id: w.tenant.id,
                seq,
                hash: hash.to_owned(),
                sealed_at: at(150),
            },
        )
    };
    let c1 = seal(1, &first.hash);
    assert!(store.add_ledger_checkpoint(&c1).await.unwrap());
    assert!(
        !store
            .add_ledger_checkpoint(&seal(1, &first.hash))
            .await
            .unwrap(),
        "one checkpoint per position"
    );
    assert!(unsealed(store.unsealed_chains(1000).await.unwrap()).is_empty());

    store
        .disconnect(
            w.tenant.id,
            linked.connection.id,
            true,
            "manage_page",
            at(200),
        )
        .await
        .unwrap();
    let chains = unsealed(store.unsealed_chains(1000).await.unwrap());
    assert_eq!(
        chains,
        vec![crate::UnsealedChain {
            tenant_id: w.tenant.id,
            sealed: Some((1, first.hash.clone())),
            head_seq: 2
        }]
    );
    let second = chain(store, w.tenant.id).await.remove(1);
    let c2 = seal(2, &second.hash);
    assert!(store.add_ledger_checkpoint(&c2).await.unwrap());
    let kept = store.ledger_checkpoints(w.tenant.id).await.unwrap();
    assert_eq!(kept, vec![c1, c2]);
    for c in &kept {
        c.verify(&keys.jwks()).unwrap();
    }
    assert!(store
        .ledger_checkpoints(quiet.tenant.id)
        .await
        .unwrap()
        .is_empty());
}
