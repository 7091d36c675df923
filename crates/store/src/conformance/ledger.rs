//! [`LedgerStore`]: every consent event is appended to its tenant's hash chain in the same
//! transaction as the change it records; chains never fork or skip, even under concurrency;
//! the rows verification reads are the exact text hashed; checkpoints seal a chain once per
//! position; every append extends the tenant's Merkle tree in the same transaction, so its
//! roots and proofs are those the domain computes from the events.

use super::fixtures::{self, at, World};
use crate::{LedgerStore, MerkleHead, Store};
use accord_domain::ids::TenantId;
use accord_domain::ledger::merkle::{self, event_leaf, CompactRange};
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
    // The whole chain in one read, a page of one event at a time, and from a position.
    let (to, received) = tokio::sync::mpsc::channel(1);
    let read = store.send_ledger_rows(w.tenant.id, 0, 1, to.into());
    let whole = super::ledger_records::sent(read, received).await;
    assert_eq!(whole, [rows[..1].to_vec(), rows[1..].to_vec()]);
    let (to, received) = tokio::sync::mpsc::channel(1);
    let read = store.send_ledger_rows(w.tenant.id, 1, 100, to.into());
    let whole = super::ledger_records::sent(read, received).await;
    assert_eq!(whole, [rows[1..].to_vec()]);
    // The receiver handing each page back: a reader that refills spent pages sends the same.
    let old = vec![rows[1].clone(), rows[0].clone(), rows[1].clone()];
    let read = |to| store.send_ledger_rows(w.tenant.id, 0, 1, to);
    let whole = super::ledger_records::sent_recycled(old, read).await;
    assert_eq!(whole, [rows[..1].to_vec(), rows[1..].to_vec()]);
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
                root: None,
                sealed_at: at(150),
            },
        )
    };
    let c1 = seal(1, &first.hash);
    assert!(store.add_ledger_checkpoint(&c1, None).await.unwrap());
    assert!(
        !store
            .add_ledger_checkpoint(&seal(1, &first.hash), None)
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
    assert!(store.add_ledger_checkpoint(&c2, None).await.unwrap());
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

/// The tree the domain computes from a chain's events: leaf `i` the event at position `i + 1`.
fn recomputed(events: &[ChainedEvent]) -> CompactRange {
    let mut tree = CompactRange::new();
    let mut sink = Vec::new();
    for e in events {
        tree.append(event_leaf(&e.hash).expect("a SHA-256 hash"), &mut sink);
    }
    tree
}

/// Panics unless the store's tree of `tenant` is the one its chain makes, at every size.
async fn assert_tree_follows_chain(store: &(impl LedgerStore + ?Sized), tenant: TenantId) {
    let events = chain(store, tenant).await;
    let head = store.tree_head(tenant).await.unwrap();
    let n = events.len() as u64;
    assert_eq!(
        head,
        MerkleHead {
            size: n,
            root: recomputed(&events).root()
        },
        "the tree has one leaf per event"
    );
    for size in 0..=n {
        let want = recomputed(&events[..usize::try_from(size).unwrap()]);
        assert_eq!(
            store.tree_root(tenant, size).await.unwrap(),
            Some(want.root())
        );
        assert_eq!(store.tree_peaks(tenant, size).await.unwrap(), Some(want));
    }
    assert_eq!(store.tree_root(tenant, n + 1).await.unwrap(), None);
    assert_eq!(store.tree_peaks(tenant, n + 1).await.unwrap(), None);
}

/// A tree checkpoint (root and signed note) is kept whole and listed newest first, a page at a
/// time; its `ledger.checkpoint` outbox row is written with it, in the same transaction, only
/// while an enabled endpoint lists that opt-in type, and never for a position already sealed;
/// an integrity alert is written to the outbox on its own.
pub async fn tree_checkpoints_are_listed_and_sent_to_listing_endpoints(store: &dyn Store) {
    use super::webhooks::endpoint;
    use accord_domain::ledger::{Checkpoint, SignedCheckpoint};
    use accord_domain::outbox::WebhookEvent;
    let keys = accord_domain::receipt::SigningKeys::new(
        "k1",
        std::collections::BTreeMap::from([("k1".to_owned(), [5; 32])]),
    )
    .unwrap();
    let signer = keys.note_signer("consent.example.com").unwrap();
    let w = World::new(store, "Lender A").await;
    let base = fixtures::consent_write(&w.company, &w.nv, at(0)).event;
    let bodies = (0..5)
        .map(|n| EventBody {
            kind: EventKind::NdaAccepted,
            at: at(n),
            ..base.clone()
        })
        .collect();
    let events = store.append_events(w.tenant.id, bodies).await.unwrap();
    let seal = |seq: i64| {
        let root = recomputed(&events[..usize::try_from(seq).unwrap()]).root();
        SignedCheckpoint::sign_tree(
            &keys,
            &signer,
            &format!("consent.example.com/ledger/{}", w.tenant.id),
            Checkpoint {
                tenant_id: w.tenant.id,
                seq,
                hash: events[usize::try_from(seq - 1).unwrap()].hash.clone(),
                root: None,
                sealed_at: at(100 + seq),
            },
            &root,
        )
        .unwrap()
    };
    let checkpoint_rows = |events: Vec<WebhookEvent>| {
        events
            .into_iter()
            .filter(|e| e.event_type == "ledger.checkpoint")
            .collect::<Vec<_>>()
    };

    // No endpoint lists the type (one takes every type): no outbox row.
    store
        .create_webhook_endpoint(&endpoint(w.tenant.id, &[], at(1)))
        .await
        .unwrap();
    let c1 = seal(1);
    let hook = WebhookEvent::ledger_checkpoint(&c1, at(101));
    assert!(store.add_ledger_checkpoint(&c1, Some(&hook)).await.unwrap());
    assert!(checkpoint_rows(store.webhook_events(w.tenant.id, 100).await.unwrap()).is_empty());

    // An endpoint lists it: the row is written with the checkpoint, once.
    store
        .create_webhook_endpoint(&endpoint(w.tenant.id, &["ledger.checkpoint"], at(2)))
        .await
        .unwrap();
    let c3 = seal(3);
    let hook = WebhookEvent::ledger_checkpoint(&c3, at(103));
    assert!(store.add_ledger_checkpoint(&c3, Some(&hook)).await.unwrap());
    let again = WebhookEvent::ledger_checkpoint(&c3, at(103));
    assert!(!store
        .add_ledger_checkpoint(&c3, Some(&again))
        .await
        .unwrap());
    let rows = checkpoint_rows(store.webhook_events(w.tenant.id, 100).await.unwrap());
    assert_eq!(rows.len(), 1, "one row, for the checkpoint stored");
    assert_eq!((rows[0].id, &rows[0].body), (hook.id, &hook.body));
    let c5 = seal(5);
    assert!(store.add_ledger_checkpoint(&c5, None).await.unwrap());

    // Kept whole, listed newest first, a page at a time.
    let all = store.ledger_checkpoints(w.tenant.id).await.unwrap();
    assert_eq!(all, vec![c1.clone(), c3.clone(), c5.clone()]);
    assert!(all[1].note.is_some() && all[1].root().is_some());
    let page = store
        .recent_ledger_checkpoints(w.tenant.id, None, 2)
        .await
        .unwrap();
    assert_eq!(page, vec![c5, c3]);
    let rest = store
        .recent_ledger_checkpoints(w.tenant.id, Some(3), 2)
        .await
        .unwrap();
    assert_eq!(rest, vec![c1]);
    let other = World::new(store, "Lender B").await;
    assert!(store
        .recent_ledger_checkpoints(other.tenant.id, None, 10)
        .await
        .unwrap()
        .is_empty());

    // An alert goes to the outbox by itself.
    let alert = WebhookEvent::ledger_integrity_alert(None, w.tenant.id, 2, "rewritten", at(300));
    store.add_ledger_webhook(&alert).await.unwrap();
    let events = store.webhook_events(w.tenant.id, 100).await.unwrap();
    assert!(events
        .iter()
        .any(|e| e.id == alert.id && e.body == alert.body));
}

/// The first checkpoint carrying a tree head at or after a position is the one found, of its
/// tenant only: a checkpoint without a note (sealed before the tree existed) is passed over,
/// and none is found past the last one.
pub async fn the_first_tree_checkpoint_at_or_after_a_position_is_found(store: &dyn Store) {
    use accord_domain::ledger::{Checkpoint, SignedCheckpoint};
    let keys = accord_domain::receipt::SigningKeys::new(
        "k1",
        std::collections::BTreeMap::from([("k1".to_owned(), [6; 32])]),
    )
    .unwrap();
    let signer = keys.note_signer("consent.example.com").unwrap();
    let w = World::new(store, "Lender A").await;
    let base = fixtures::consent_write(&w.company, &w.nv, at(0)).event;
    let bodies = (0..6)
        .map(|n| EventBody {
            kind: EventKind::NdaAccepted,
            at: at(n),
            ..base.clone()
        })
        .collect();
    let events = store.append_events(w.tenant.id, bodies).await.unwrap();
    let checkpoint = |seq: i64| Checkpoint {
        tenant_id: w.tenant.id,
        seq,
        hash: events[usize::try_from(seq - 1).unwrap()].hash.clone(),
        root: None,
        sealed_at: at(100 + seq),
    };
    let tree = |seq: i64| {
        let root = recomputed(&events[..usize::try_from(seq).unwrap()]).root();
        let origin = format!("consent.example.com/ledger/{}", w.tenant.id);
        SignedCheckpoint::sign_tree(&keys, &signer, &origin, checkpoint(seq), &root).unwrap()
    };
    let untreed = SignedCheckpoint::sign(&keys, checkpoint(2));
    assert!(untreed.note.is_none());
    let (c4, c6) = (tree(4), tree(6));
    for c in [&untreed, &c4, &c6] {
        assert!(store.add_ledger_checkpoint(c, None).await.unwrap());
    }
    let first = |size: i64| store.first_tree_checkpoint_from(w.tenant.id, size);
    for (size, want) in [(1, &c4), (2, &c4), (4, &c4), (5, &c6), (6, &c6)] {
        assert_eq!(
            first(size).await.unwrap().as_ref(),
            Some(want),
            "size {size}"
        );
    }
    assert_eq!(first(7).await.unwrap(), None, "past the last checkpoint");
    let other = World::new(store, "Lender B").await;
    assert_eq!(
        store
            .first_tree_checkpoint_from(other.tenant.id, 1)
            .await
            .unwrap(),
        None
    );
}

/// After each append (one event, then several at once) the tree's size is the chain's length
/// and its root, at every size so far, is what the domain computes from the events.
pub async fn tree_roots_follow_the_chain(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let empty = store.tree_head(w.tenant.id).await.unwrap();
    assert_eq!(
        empty,
        MerkleHead {
            size: 0,
            root: merkle::empty_root()
        }
    );
    let base = fixtures::consent_write(&w.company, &w.nv, at(0)).event;
    let body = |n: i64| EventBody {
        kind: EventKind::NdaAccepted,
        at: at(n),
        ..base.clone()
    };
    for n in 1..=9 {
        store
            .append_events(w.tenant.id, vec![body(n)])
            .await
            .unwrap();
        assert_tree_follows_chain(store, w.tenant.id).await;
    }
    for group in [2, 5, 16] {
        let bodies = (0..group).map(|n| body(100 + n)).collect();
        store.append_events(w.tenant.id, bodies).await.unwrap();
        assert_tree_follows_chain(store, w.tenant.id).await;
    }
}

/// Inclusion proofs for every leaf of many sizes, and consistency proofs for every pair of
/// sizes, verify against the roots the domain computes; sizes beyond the tree are refused.
pub async fn merkle_proofs_verify_for_every_size(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = World::new(store, "Lender B").await;
    let base = fixtures::consent_write(&w.company, &w.nv, at(0)).event;
    let bodies = (0..37)
        .map(|n| EventBody {
            kind: EventKind::NdaAccepted,
            at: at(n),
            ..base.clone()
        })
        .collect();
    store.append_events(w.tenant.id, bodies).await.unwrap();
    let events = chain(store, w.tenant.id).await;
    let leaves: Vec<_> = events
        .iter()
        .map(|e| event_leaf(&e.hash).unwrap())
        .collect();
    let root = |n: u64| recomputed(&events[..usize::try_from(n).unwrap()]).root();
    let t = w.tenant.id;
    for n in 1..=37u64 {
        for m in 0..n {
            let proof = store
                .inclusion_proof(t, m, n)
                .await
                .unwrap()
                .expect("a proof");
            merkle::verify_inclusion(&leaves[usize::try_from(m).unwrap()], m, n, &proof, &root(n))
                .unwrap_or_else(|e| panic!("leaf {m} of {n}: {e}"));
        }
        for m in 0..=n {
            let proof = store
                .consistency_proof(t, m, n)
                .await
                .unwrap()
                .expect("a proof");
            merkle::verify_consistency(m, n, &proof, &root(m), &root(n))
                .unwrap_or_else(|e| panic!("{m} -> {n}: {e}"));
        }
    }
    assert_eq!(store.inclusion_proof(t, 37, 37).await.unwrap(), None);
    assert_eq!(store.inclusion_proof(t, 0, 38).await.unwrap(), None);
    assert_eq!(store.consistency_proof(t, 5, 38).await.unwrap(), None);
    assert_eq!(store.consistency_proof(t, 6, 5).await.unwrap(), None);
    // Another tenant's tree is its own: empty.
    assert_eq!(
        store.inclusion_proof(other.tenant.id, 0, 1).await.unwrap(),
        None
    );
    assert_eq!(store.tree_head(other.tenant.id).await.unwrap().size, 0);
}

/// The inclusion evidence (size, leaf, root and path in one read) is what the separate reads
/// and the domain give, for trees large enough to have upper levels (which a backend may keep
/// in memory), asked twice and again after the tree grew; sizes and indexes beyond the tree get
/// the current size and no proof.
pub async fn inclusion_evidence_matches_the_tree(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = World::new(store, "Lender B").await;
    let t = w.tenant.id;
    let base = fixtures::consent_write(&w.company, &w.nv, at(0)).event;
    let body = |n: i64| EventBody {
        kind: EventKind::NdaAccepted,
        at: at(n),
        ..base.clone()
    };
    store
        .append_events(t, (0..600).map(body).collect())
        .await
        .unwrap();
    let events = chain(store, t).await;
    let cases = [
        (0, 1),
        (0, 256),
        (255, 256),
        (256, 257),
        (300, 512),
        (511, 513),
    ];
    let cases = cases.into_iter().chain([(0, 600), (377, 600), (599, 600)]);
    for round in 0..3 {
        if round == 2 {
            store
                .append_events(t, (0..40).map(|n| body(1000 + n)).collect())
                .await
                .unwrap();
        }
        let current = if round == 2 { 640 } else { 600 };
        for (index, size) in cases.clone() {
            let got = store.inclusion_evidence(t, index, size).await.unwrap();
            assert_eq!(got.current_size, current);
            let proof = got.proof.expect("a proof");
            let leaf = event_leaf(&events[usize::try_from(index).unwrap()].hash).unwrap();
            let root = recomputed(&events[..usize::try_from(size).unwrap()]).root();
            assert_eq!((proof.leaf, proof.root), (leaf, root), "{index} of {size}");
            let separate = store.inclusion_proof(t, index, size).await.unwrap();
            assert_eq!(Some(&proof.path), separate.as_ref(), "{index} of {size}");
            assert_eq!(store.tree_root(t, size).await.unwrap(), Some(root));
            merkle::verify_inclusion(&leaf, index, size, &proof.path, &root)
                .unwrap_or_else(|e| panic!("leaf {index} of {size}: {e}"));
        }
    }
    for (index, size) in [(640, 640), (0, 641), (5, 0), (u64::MAX - 1, u64::MAX)] {
        let got = store.inclusion_evidence(t, index, size).await.unwrap();
        assert_eq!(
            (got.current_size, got.proof),
            (640, None),
            "{index} of {size}"
        );
    }
    let got = store
        .inclusion_evidence(other.tenant.id, 0, 1)
        .await
        .unwrap();
    assert_eq!((got.current_size, got.proof), (0, None));
}

/// Consents written concurrently (batched by the backend), with appends between them, leave
/// each tenant one tree, the one its chain makes, consistent with the tree seen before.
pub async fn concurrent_consent_batches_keep_one_tree(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = World::new(store, "Lender B").await;
    fixtures::linked(store, &w.company, &w.nv).await;
    let before = store.tree_head(w.tenant.id).await.unwrap();
    let writes: Vec<_> = (0..120)
        .map(|n| {
            let world = if n % 3 == 0 { &other } else { &w };
            fixtures::consent_write(&world.company, &world.nv, at(n))
        })
        .collect();
    let appends = (0..10).map(|n| {
        let mut b = writes[1].event.clone();
        b.kind = EventKind::NdaAccepted;
        b.at = at(1000 + n);
        store.append_events(w.tenant.id, vec![b.clone(), b])
    });
    let (consents, appended) = futures::join!(
        join_all(writes.iter().map(|x| store.record_consent(x))),
        join_all(appends)
    );
    assert!(consents.iter().all(Result::is_ok), "{consents:?}");
    assert!(appended.iter().all(Result::is_ok), "{appended:?}");
    for tenant in [w.tenant.id, other.tenant.id] {
        assert_tree_follows_chain(store, tenant).await;
    }
    let after = store.tree_head(w.tenant.id).await.unwrap();
    assert_eq!(after.size, 1 + 80 + 20);
    let proof = store
        .consistency_proof(w.tenant.id, before.size, after.size)
        .await
        .unwrap()
        .unwrap();
    merkle::verify_consistency(before.size, after.size, &proof, &before.root, &after.root).unwrap();
}

/// Every kind of append extends the tree with its events: a consent, a link that replaces an
/// earlier connection, a disconnect, an NDA, an expiry, a company deletion, `append_events`.
pub async fn every_event_source_extends_the_tree(store: &dyn Store) {
    use crate::conformance::{nda_acceptance, nda_event};
    let w = World::new(store, "Lender A").await;
    let t = w.tenant.id;
    let org = Some(fixtures::upstream("org-1"));
    let first = fixtures::consent_write(&w.company, &w.nv, at(0));
    store.record_consent(&first).await.unwrap();
    let link = |ct: &str| crate::LinkWrite {
        upstream: org.clone(),
        ..fixtures::link_write(ct, None)
    };
    store
        .link_connection(t, first.connection.id, &link("ct:a"), at(10))
        .await
        .unwrap();
    assert_tree_follows_chain(store, t).await;
    // Signing in again to the same organisation replaces the first connection (`withdrawn`).
    let second = fixtures::consent_write(&w.company, &w.nv, at(20));
    store.record_consent(&second).await.unwrap();
    let out = store
        .link_connection(t, second.connection.id, &link("ct:b"), at(30))
        .await
        .unwrap();
    assert_eq!(out.replaced.len(), 1);
    assert_tree_follows_chain(store, t).await;
    store
        .disconnect(t, second.connection.id, true, "manage_page", at(40))
        .await
        .unwrap();
    assert_tree_follows_chain(store, t).await;
    let nda = nda_acceptance(&w.company, 50);
    store.record_nda(&nda, nda_event(&nda)).await.unwrap();
    assert_tree_follows_chain(store, t).await;
    fixtures::linked(store, &w.company, &w.nv).await;
    let expired = store.expire_consents(t, at(500), at(600)).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_tree_follows_chain(store, t).await;
    store
        .append_events(t, vec![nda_event(&nda_acceptance(&w.company, 700))])
        .await
        .unwrap();
    assert_tree_follows_chain(store, t).await;
    let doomed = fixtures::company(store, t, Some("doomed")).await;
    fixtures::linked(store, &doomed, &w.nv).await;
    store.delete_company(t, doomed.id, at(800)).await.unwrap();
    assert_tree_follows_chain(store, t).await;
    let kinds: Vec<EventKind> = chain(store, t)
        .await
        .iter()
        .map(|e| e.event.body.kind)
        .collect();
    assert!(kinds.contains(&EventKind::Expired) && kinds.contains(&EventKind::Withdrawn));
}
