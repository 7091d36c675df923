use super::*;
use crate::ledger::merkle::{prove, CompactRange, NodeId, NodeReader, ProofPlan};
use crate::ledger::{ChainedEvent, TreeHead};
use crate::receipt::{Controller, ReceiptContext, SigningKeys};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

/// A tenant's log in memory: its events, and the tree over their chain hashes.
struct Log {
    events: Vec<ChainedEvent>,
    nodes: HashMap<NodeId, Hash>,
}

impl NodeReader for Log {
    fn read_nodes(&self, ids: &[NodeId]) -> Vec<Option<Hash>> {
        ids.iter().map(|id| self.nodes.get(id).copied()).collect()
    }
}

impl Log {
    fn of(n: usize) -> Self {
        let events = crate::ledger::tests::chain(n);
        let mut range = CompactRange::new();
        let mut done = Vec::new();
        for e in &events {
            range.append(merkle::event_leaf(&e.hash).unwrap(), &mut done);
        }
        Self {
            events,
            nodes: done.into_iter().collect(),
        }
    }

    fn tenant(&self) -> String {
        self.events[0].event.tenant_id.to_string()
    }

    fn head(&self, size: u64) -> TreeHead {
        TreeHead {
            origin: format!("accord.example/ledger/{}", self.tenant()),
            size,
            root: merkle::root_from(self, size).unwrap(),
            extensions: Vec::new(),
        }
    }

    fn note(&self, keys: &SigningKeys, size: u64) -> String {
        self.head(size)
            .sign(&keys.note_signer("accord.example").unwrap())
            .unwrap()
    }

    fn inclusion(&self, keys: &SigningKeys, position: usize, size: u64) -> Inclusion {
        let index = u64::try_from(position).unwrap() - 1;
        let path = prove(self, &ProofPlan::inclusion(index, size).unwrap()).unwrap();
        Inclusion {
            checkpoint: self.note(keys, size),
            tree_size: size,
            leaf_index: index,
            leaf_hash: b64(&merkle::event_leaf(&self.events[position - 1].hash).unwrap()),
            proof: path.iter().map(b64).collect(),
        }
    }

    fn fresh(&self, keys: &SigningKeys, position: usize, from: u64, to: u64) -> FreshProof {
        let inc = self.inclusion(keys, position, to);
        let consistency = prove(self, &ProofPlan::consistency(from, to).unwrap()).unwrap();
        FreshProof {
            format: FRESH_PROOF_FORMAT.into(),
            checkpoint: inc.checkpoint,
            tree_size: to,
            events: vec![EventProof {
                ledger_position: i64::try_from(position).unwrap(),
                leaf_index: inc.leaf_index,
                leaf_hash: inc.leaf_hash,
                inclusion: inc.proof,
                consistency: Some(Consistency {
                    from_size: from,
                    from_root: b64(&merkle::root_from(self, from).unwrap()),
                    proof: consistency.iter().map(b64).collect(),
                }),
            }],
        }
    }

    fn receipt(&self, position: usize) -> Receipt {
        Receipt::from_event(
            &self.events[position - 1],
            &ReceiptContext {
                controller: Controller {
                    name: "Northwind".into(),
                    legal_name: "Northwind Lending Ltd".into(),
                    email: None,
                    phone: None,
                    privacy_policy_url: None,
                    jurisdiction: None,
                },
                third_parties: &[],
                notice_policy_url: None,
                company_name: "Bluebell",
                platform_name: None,
                retention: None,
                third_party_sharing: None,
                withdrawal: "Disconnect on the manage page.",
                valid_until: None,
            },
        )
    }
}

fn keys(seed: u8) -> SigningKeys {
    SigningKeys::new("k1", BTreeMap::from([("k1".to_owned(), [seed; 32])])).unwrap()
}

#[test]
fn a_receipt_is_proven_in_its_checkpoint_and_the_latest_extends_it() {
    let (log, keys) = (Log::of(11), keys(5));
    for (position, size) in [(1, 1), (3, 5), (5, 5), (6, 8), (11, 11)] {
        let receipt = log.receipt(position);
        let opened = verify_inclusion(
            &receipt,
            &log.inclusion(&keys, position, size),
            &keys.jwks(),
        )
        .unwrap_or_else(|e| panic!("position {position} in {size}: {e}"));
        assert_eq!(opened.head.size, size);
        assert_eq!(opened.kid, "k1");
        for to in size..=11 {
            let fresh = log.fresh(&keys, position, size, to);
            let out = verify_fresh(&receipt, Some(&opened.head), &fresh, &keys.jwks())
                .unwrap_or_else(|e| panic!("{position}: {size} → {to}: {e}"));
            assert_eq!(out.extends, Some(size));
            assert_eq!(out.latest.head.size, to);
        }
    }
    // Without the receipt's checkpoint, only the inclusion in the latest is checked.
    let fresh = log.fresh(&keys, 2, 2, 9);
    let out = verify_fresh(&log.receipt(2), None, &fresh, &keys.jwks()).unwrap();
    assert_eq!(out.extends, None);
}

#[test]
fn altered_evidence_is_refused() {
    let (log, keys) = (Log::of(9), keys(5));
    let receipt = log.receipt(3);
    let good = log.inclusion(&keys, 3, 6);
    let jwks = keys.jwks();
    let err = |inc: &Inclusion| verify_inclusion(&receipt, inc, &jwks).unwrap_err();

    let mut bad = good.clone();
    bad.proof[0] = b64(&[7u8; 32]);
    assert!(
        err(&bad).contains("does not lead to the checkpoint's root"),
        "{}",
        err(&bad)
    );
    let mut bad = good.clone();
    bad.proof.pop();
    assert!(err(&bad).contains("not proven"), "{}", err(&bad));
    // Another event's proof presented for this receipt.
    let other = log.inclusion(&keys, 4, 6);
    assert!(err(&other).contains("leaf 3"), "{}", err(&other));
    // A checkpoint with a changed size or root no longer opens.
    let mut bad = good.clone();
    bad.checkpoint = bad.checkpoint.replacen("\n6\n", "\n7\n", 1);
    assert!(err(&bad).contains("does not verify"), "{}", err(&bad));
    // Another key, and another tenant's log.
    assert!(verify_inclusion(&receipt, &good, &self::keys(6).jwks())
        .unwrap_err()
        .contains("not signed by a key of the JWKS"));
    let other_log = Log::of(9);
    let foreign = Inclusion {
        checkpoint: other_log.note(&keys, 6),
        ..good.clone()
    };
    assert!(
        err(&foreign).contains("not of the receipt's tenant"),
        "{}",
        err(&foreign)
    );
    // A checkpoint that does not reach the event.
    let short = log.inclusion(&keys, 2, 2);
    let short = Inclusion {
        leaf_index: 2,
        leaf_hash: good.leaf_hash.clone(),
        ..short
    };
    assert!(
        err(&short).contains("does not reach position 3"),
        "{}",
        err(&short)
    );
}

#[test]
fn a_rewritten_log_does_not_extend_the_receipts_checkpoint() {
    let (log, keys) = (Log::of(9), keys(5));
    let receipt = log.receipt(2);
    let opened = verify_inclusion(&receipt, &log.inclusion(&keys, 2, 3), &keys.jwks()).unwrap();
    // The same events up to position 2, then a different third one: a consistent rewrite,
    // signed with the real key, still includes the receipt's event but does not extend the
    // receipt's checkpoint of 3.
    let mut rewritten = Log::of(0);
    rewritten.events = log.events[..2].to_vec();
    let mut third = crate::ledger::tests::body(crate::ledger::EventKind::Given);
    third.company_id = log.events[2].event.body.company_id;
    rewritten.events.push(crate::ledger::append(
        log.events[0].event.tenant_id,
        Some((2, &log.events[1].hash)),
        third,
    ));
    let mut range = CompactRange::new();
    let mut done = Vec::new();
    for e in &rewritten.events {
        range.append(merkle::event_leaf(&e.hash).unwrap(), &mut done);
    }
    rewritten.nodes = done.into_iter().collect();
    let mut fresh = rewritten.fresh(&keys, 2, 2, 3);
    // Presented as if from the receipt's tree of 3.
    fresh.events[0].consistency = Some(Consistency {
        from_size: 3,
        from_root: b64(&opened.head.root),
        proof: Vec::new(),
    });
    let e = verify_fresh(&receipt, Some(&opened.head), &fresh, &keys.jwks()).unwrap_err();
    assert!(e.contains("does not extend the receipt's"), "{e}");
    // And a fresh proof whose consistency starts elsewhere says so.
    let mut fresh = log.fresh(&keys, 2, 2, 9);
    fresh.events[0].consistency.as_mut().unwrap().from_root = b64(&opened.head.root);
    let e = verify_fresh(&receipt, Some(&opened.head), &fresh, &keys.jwks()).unwrap_err();
    assert!(e.contains("starts from a tree of 2"), "{e}");
}

#[test]
fn documents_round_trip_through_json() {
    let (log, keys) = (Log::of(3), keys(5));
    let doc = ReceiptDocument {
        format: DOCUMENT_FORMAT.into(),
        jws: "a.b.c".into(),
        proof: Some(log.inclusion(&keys, 1, 3)),
    };
    let text = serde_json::to_string(&doc).unwrap();
    assert_eq!(serde_json::from_str::<ReceiptDocument>(&text).unwrap(), doc);
    let fresh = log.fresh(&keys, 1, 1, 3);
    let mut v = serde_json::to_value(&fresh).unwrap();
    v["consent_id"] = json!("extra members are ignored");
    assert_eq!(serde_json::from_value::<FreshProof>(v).unwrap(), fresh);
}
