//! The evidence attached to a receipt: the proof that its ledger event is in the tenant's
//! transparency log (RFC 9162 Merkle tree), under a checkpoint signed by the sealer (C2SP
//! `tlog-checkpoint` signed note), and later the proof that newer checkpoints extend that one.
//!
//! A receipt's signed payload ([`Receipt`]) never changes: it is built from its ledger event
//! alone. The evidence travels *beside* the JWS, not inside it, because it is issued later
//! and grows: the consent commits first, the sealer signs a tree that covers the event within
//! a round (a second by default), and every later checkpoint can be proven to extend that one.
//! Two documents carry it:
//!
//! - the **receipt document** ([`ReceiptDocument`], also each entry of the tenant API's receipt
//!   list): the compact JWS and the event's [`Inclusion`] in *the receipt's checkpoint*, the
//!   first sealed checkpoint whose tree covers the event (absent until one does). It is the
//!   same every time it is downloaded once that checkpoint exists.
//! - the **fresh proof** ([`FreshProof`]): the event's inclusion in the latest checkpoint, and
//!   a [`Consistency`] proof from the receipt's checkpoint to it (RFC 9162 §2.1.4): nothing the
//!   receipt's tree held was changed or removed since.
//!
//! Both are checked offline here, with the public keys alone (the JWKS that verifies the
//! receipt: the checkpoints are signed with the same Ed25519 keys).

use super::Receipt;
use crate::ledger::merkle::{self, Hash};
use crate::ledger::note::{self, NoteVerifier, TreeHead};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `format` of a receipt document.
pub const DOCUMENT_FORMAT: &str = "accord-receipt-document/1";
/// The `format` of a fresh proof.
pub const FRESH_PROOF_FORMAT: &str = "accord-receipt-proof/1";

/// An event's inclusion in a signed checkpoint of its tenant's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inclusion {
    /// The checkpoint: a C2SP `tlog-checkpoint` signed note (origin, tree size, root).
    pub checkpoint: String,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The event's leaf index: its ledger position minus one.
    pub leaf_index: u64,
    /// `SHA-256(0x00 ‖ the event's 32-byte chain hash)`, base64.
    pub leaf_hash: String,
    /// The audit path (RFC 9162 §2.1.3), base64 hashes.
    pub proof: Vec<String>,
}

/// A receipt as a file: the signed receipt and the evidence of its inclusion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptDocument {
    /// [`DOCUMENT_FORMAT`].
    pub format: String,
    /// The receipt, a compact JWS (EdDSA).
    pub jws: String,
    /// The event's inclusion in the receipt's checkpoint; `None` until the sealer has signed
    /// a tree that covers the event.
    pub proof: Option<Inclusion>,
}

/// The proof that a newer tree extends an older one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consistency {
    /// The older tree's size: the receipt's checkpoint.
    pub from_size: u64,
    /// The older tree's root, base64.
    pub from_root: String,
    /// The consistency proof (RFC 9162 §2.1.4), base64 hashes.
    pub proof: Vec<String>,
}

/// The fresh proof of one event against the latest checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventProof {
    /// The event's ledger position.
    pub ledger_position: i64,
    /// The event's leaf index (position minus one).
    pub leaf_index: u64,
    /// The event's leaf hash, base64.
    pub leaf_hash: String,
    /// The audit path of the event in the latest checkpoint's tree, base64 hashes.
    pub inclusion: Vec<String>,
    /// From the receipt's checkpoint to the latest; `None` when the event has no receipt
    /// checkpoint yet.
    pub consistency: Option<Consistency>,
}

/// Fresh proofs of a consent's events against the tenant's latest checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshProof {
    /// [`FRESH_PROOF_FORMAT`].
    pub format: String,
    /// The latest checkpoint, a C2SP signed note.
    pub checkpoint: String,
    /// Its tree size.
    pub tree_size: u64,
    /// One entry per event.
    pub events: Vec<EventProof>,
}

/// A checkpoint opened with a key of the JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedCheckpoint {
    pub head: TreeHead,
    /// The `kid` of the JWKS key whose signature verified.
    pub kid: String,
}

/// What checking a fresh proof established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreshOutcome {
    pub latest: OpenedCheckpoint,
    /// The receipt's checkpoint's size when the latest was proven to extend it.
    pub extends: Option<u64>,
}

/// The base64 of a hash (standard alphabet, as C2SP and the public proof endpoints use).
pub fn b64(h: &Hash) -> String {
    B64.encode(h)
}

fn hash_of(what: &str, s: &str) -> Result<Hash, String> {
    B64.decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{what} is not a base64 SHA-256 hash"))
}

fn hashes_of(what: &str, list: &[String]) -> Result<Vec<Hash>, String> {
    list.iter().map(|s| hash_of(what, s)).collect()
}

/// The receipt's tenant, position and leaf (recomputed from the chain hash it signs).
fn leaf_of(receipt: &Receipt) -> Result<(String, i64, u64, Hash), String> {
    let ledger = &receipt.ledger;
    let tenant = ledger["tenant_id"]
        .as_str()
        .ok_or("the receipt names no ledger tenant")?;
    let position = ledger["position"]
        .as_i64()
        .filter(|p| *p >= 1)
        .ok_or("the receipt names no ledger position")?;
    let hash = ledger["hash"]
        .as_str()
        .ok_or("the receipt names no ledger hash")?;
    let leaf = merkle::event_leaf(hash).map_err(|_| "the receipt's ledger hash is not SHA-256")?;
    let index = u64::try_from(position - 1).map_err(|_| "bad ledger position")?;
    Ok((tenant.to_owned(), position, index, leaf))
}

/// Opens a checkpoint of `tenant`'s log with the Ed25519 keys of `jwks`. The note names its
/// signer's key name; a verifier is formed from that name and each published key, so the note
/// opens only with a signature by one of those keys.
pub fn open_checkpoint(
    signed: &str,
    tenant: &str,
    jwks: &Value,
) -> Result<OpenedCheckpoint, String> {
    let parsed = note::parse_note(signed).map_err(|e| format!("the checkpoint: {e}"))?;
    let mut candidates: Vec<(String, NoteVerifier)> = Vec::new();
    for jwk in jwks["keys"].as_array().into_iter().flatten() {
        if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" {
            continue;
        }
        let Some(key) = jwk["x"]
            .as_str()
            .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        else {
            continue;
        };
        let kid = jwk["kid"].as_str().unwrap_or_default();
        for s in &parsed.signatures {
            if let Ok(v) = NoteVerifier::new(&s.name, key) {
                candidates.push((kid.to_owned(), v));
            }
        }
    }
    let verifiers: Vec<NoteVerifier> = candidates.iter().map(|(_, v)| v.clone()).collect();
    let (text, used) = note::open(signed, &verifiers).map_err(|e| match e {
        note::NoteError::UnknownKey => {
            "the checkpoint is not signed by a key of the JWKS".to_owned()
        }
        note::NoteError::InvalidSignature => {
            "the checkpoint's signature does not verify: it was altered".to_owned()
        }
        e => format!("the checkpoint: {e}"),
    })?;
    let head = TreeHead::parse(&text).map_err(|e| format!("the checkpoint: {e}"))?;
    let suffix = format!("/ledger/{tenant}");
    if !head.origin.ends_with(&suffix) {
        return Err(format!(
            "the checkpoint is of the log `{}`, not of the receipt's tenant ({tenant})",
            head.origin
        ));
    }
    let kid = candidates
        .iter()
        .find(|(_, v)| used.first().is_some_and(|u| *u == v))
        .map(|(k, _)| k.clone())
        .unwrap_or_default();
    Ok(OpenedCheckpoint { head, kid })
}

/// Checks that `receipt`'s event is at its position in the tree of `head`.
fn check_path(
    receipt: &Receipt,
    head: &TreeHead,
    leaf_index: u64,
    leaf_hash: &str,
    path: &[String],
) -> Result<(), String> {
    let (_, position, index, leaf) = leaf_of(receipt)?;
    if leaf_index != index {
        return Err(format!(
            "the proof is for leaf {leaf_index}, the receipt's event is leaf {index} (position {position})"
        ));
    }
    if hash_of("the leaf hash", leaf_hash)? != leaf {
        return Err("the proof's leaf hash is not the receipt's event".into());
    }
    if index >= head.size {
        return Err(format!(
            "the checkpoint's tree of {} entries does not reach position {position}",
            head.size
        ));
    }
    let path = hashes_of("an inclusion proof hash", path)?;
    merkle::verify_inclusion(&leaf, index, head.size, &path, &head.root).map_err(|e| {
        format!(
            "the inclusion proof does not lead to the checkpoint's root ({e}): the event is not proven in the log"
        )
    })
}

/// Checks a receipt's inclusion in its checkpoint: the checkpoint is signed by a key of the
/// JWKS and is the receipt's tenant's log, and the event's leaf is at its position in it.
pub fn verify_inclusion(
    receipt: &Receipt,
    inclusion: &Inclusion,
    jwks: &Value,
) -> Result<OpenedCheckpoint, String> {
    let (tenant, ..) = leaf_of(receipt)?;
    let opened = open_checkpoint(&inclusion.checkpoint, &tenant, jwks)?;
    if opened.head.size != inclusion.tree_size {
        return Err(format!(
            "the proof says a tree of {} entries, its checkpoint {}",
            inclusion.tree_size, opened.head.size
        ));
    }
    check_path(
        receipt,
        &opened.head,
        inclusion.leaf_index,
        &inclusion.leaf_hash,
        &inclusion.proof,
    )?;
    Ok(opened)
}

/// Checks a fresh proof for `receipt`: the latest checkpoint is signed and of the tenant's log,
/// the event is in it, and, when the receipt's own checkpoint `receipt_head` is known (verified
/// with [`verify_inclusion`]), the latest tree extends it.
pub fn verify_fresh(
    receipt: &Receipt,
    receipt_head: Option<&TreeHead>,
    fresh: &FreshProof,
    jwks: &Value,
) -> Result<FreshOutcome, String> {
    let (tenant, position, ..) = leaf_of(receipt)?;
    let latest = open_checkpoint(&fresh.checkpoint, &tenant, jwks)?;
    if latest.head.size != fresh.tree_size {
        return Err(format!(
            "the fresh proof says a tree of {} entries, its checkpoint {}",
            fresh.tree_size, latest.head.size
        ));
    }
    let entry = fresh
        .events
        .iter()
        .find(|e| e.ledger_position == position)
        .ok_or_else(|| format!("the fresh proof has no entry for position {position}"))?;
    check_path(
        receipt,
        &latest.head,
        entry.leaf_index,
        &entry.leaf_hash,
        &entry.inclusion,
    )
    .map_err(|e| format!("in the latest checkpoint: {e}"))?;
    let Some(old) = receipt_head else {
        return Ok(FreshOutcome {
            latest,
            extends: None,
        });
    };
    if old.origin != latest.head.origin {
        return Err(format!(
            "the latest checkpoint is of the log `{}`, the receipt's of `{}`",
            latest.head.origin, old.origin
        ));
    }
    let empty = Vec::new();
    let (from_size, proof) = match &entry.consistency {
        Some(c) => {
            if hash_of("the consistency proof's older root", &c.from_root)? != old.root {
                return Err(
                    "the consistency proof starts from another root than the receipt's checkpoint"
                        .into(),
                );
            }
            (c.from_size, &c.proof)
        }
        None => (latest.head.size, &empty),
    };
    if from_size != old.size {
        return Err(format!(
            "the consistency proof starts from a tree of {from_size} entries, the receipt's checkpoint has {}",
            old.size
        ));
    }
    let proof = hashes_of("a consistency proof hash", proof)?;
    merkle::verify_consistency(old.size, latest.head.size, &proof, &old.root, &latest.head.root)
        .map_err(|e| {
            format!(
                "the latest checkpoint does not extend the receipt's ({e}): the log was rewritten or the proof altered"
            )
        })?;
    Ok(FreshOutcome {
        extends: Some(old.size),
        latest,
    })
}

#[cfg(test)]
#[path = "receipt_proof_tests.rs"]
mod tests;
