//! Signed checkpoints: the head of a tenant's chain (position and hash) and the root of its
//! Merkle tree at the same size, signed by the instance's receipt key as a compact JWS, and the
//! same tree head as a C2SP `tlog-checkpoint` signed note (the form any transparency-log tool
//! reads). The hash of an event commits to every event before it, so one signature covers the
//! whole chain up to its position: rewriting, removing or truncating sealed events then needs the
//! signing key, not just write access to the database. Checking every event's own signature would
//! cost about 50 µs each (20 s per million events); checking one per sealed stretch keeps
//! `accord ledger verify` within seconds for millions of events.
//!
//! A tenant's log is named by its origin, `<public host>[:port][/path]/ledger/<tenant id>`
//! ([`SignedCheckpoint::log_origin`]), and its notes are signed under the key name of the public
//! host ([`SignedCheckpoint::note_key_name`]): the sealer, which signs, and the public endpoints,
//! which serve the notes and the verifier keys, agree through these two functions.

use super::merkle::Hash;
use super::note::{NoteError, NoteSigner, NoteVerifier, TreeHead};
use crate::ids::TenantId;
use crate::receipt::{verify_compact, SigningKeys};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

/// The JWS `typ` of ledger checkpoints.
pub const CHECKPOINT_JWS_TYPE: &str = "accord-ledger-checkpoint+jws";

/// The note key name when the public URL has no host name to lend it.
const FALLBACK_KEY_NAME: &str = "accord-ledger";

/// What a checkpoint signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub tenant_id: TenantId,
    /// The last position sealed.
    pub seq: i64,
    /// The hash of the event at `seq`.
    pub hash: String,
    /// The root of the tenant's Merkle tree of `seq` leaves, standard base64 (absent from
    /// checkpoints signed before the tree was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub sealed_at: OffsetDateTime,
}

/// A checkpoint and its signatures, as stored, appended to the checkpoint file, listed by the
/// API and sent in the `ledger.checkpoint` webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    pub jws: String,
    /// The same tree head as a C2SP `tlog-checkpoint` signed note (origin, size `seq`, `root`),
    /// absent from checkpoints signed before the tree was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl SignedCheckpoint {
    /// The origin line of `tenant`'s log: `<public host>[:port][/path]/ledger/<tenant id>` (no
    /// scheme, as C2SP asks), the address of its public endpoints without `https://`.
    pub fn log_origin(public_url: &Url, tenant: TenantId) -> String {
        let host = public_url.host_str().unwrap_or(FALLBACK_KEY_NAME);
        let port = public_url
            .port()
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        let base = public_url.path().trim_end_matches('/');
        format!("{host}{port}{base}/ledger/{tenant}")
    }

    /// The note key name: the public host, so a verifier key says whose log it signs.
    pub fn note_key_name(public_url: &Url) -> &str {
        public_url
            .host_str()
            .filter(|h| !h.is_empty())
            .unwrap_or(FALLBACK_KEY_NAME)
    }

    /// Signs `checkpoint` as a JWS only (no tree head note).
    pub fn sign(keys: &SigningKeys, checkpoint: Checkpoint) -> Self {
        let payload = serde_json::to_value(&checkpoint).expect("a checkpoint serialises");
        let jws = keys.sign_compact(&payload, CHECKPOINT_JWS_TYPE);
        Self {
            checkpoint,
            jws,
            note: None,
        }
    }

    /// Signs the chain head `(seq, hash)` and the tree of `seq` leaves with root `root`: the JWS
    /// covers both, and the C2SP note of log `origin` says the same tree head in the format
    /// transparency-log tools read.
    pub fn sign_tree(
        keys: &SigningKeys,
        signer: &NoteSigner,
        origin: &str,
        mut checkpoint: Checkpoint,
        root: &Hash,
    ) -> Result<Self, NoteError> {
        let size = u64::try_from(checkpoint.seq)
            .map_err(|_| NoteError::BadCheckpoint("negative tree size"))?;
        let note = TreeHead {
            origin: origin.to_owned(),
            size,
            root: *root,
            extensions: Vec::new(),
        }
        .sign(signer)?;
        checkpoint.root = Some(B64.encode(root));
        let mut out = Self::sign(keys, checkpoint);
        out.note = Some(note);
        Ok(out)
    }

    /// The tree root this checkpoint signs, if it signs one.
    pub fn root(&self) -> Option<Hash> {
        let root = self.checkpoint.root.as_ref()?;
        B64.decode(root).ok()?.try_into().ok()
    }

    /// Opens the signed note with `verifiers` and checks that it names the same tree as the
    /// checkpoint (size `seq`, root `root`). `Ok(None)` when the checkpoint has no note.
    pub fn verify_note(&self, verifiers: &[NoteVerifier]) -> Result<Option<TreeHead>, String> {
        let Some(note) = &self.note else {
            return Ok(None);
        };
        let head = TreeHead::open(note, verifiers).map_err(|e| format!("signed note: {e}"))?;
        let same_size = u64::try_from(self.checkpoint.seq).ok() == Some(head.size);
        if !same_size || self.root() != Some(head.root) {
            return Err("the signed note names another tree than the checkpoint".into());
        }
        Ok(Some(head))
    }

    /// Checks the signature against the public keys (a JWKS) and that what it signs is what the
    /// row says.
    pub fn verify(&self, jwks: &Value) -> Result<(), String> {
        let payload = verify_compact(&self.jws, jwks).map_err(|e| format!("signature: {e}"))?;
        let signed: Checkpoint = serde_json::from_value(payload)
            .map_err(|_| "the signed payload is not a ledger checkpoint".to_owned())?;
        if signed != self.checkpoint {
            return Err("the signed checkpoint disagrees with its row".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn keys(seed: u8) -> SigningKeys {
        SigningKeys::new("k1", BTreeMap::from([("k1".to_owned(), [seed; 32])])).unwrap()
    }

    #[test]
    fn a_checkpoint_verifies_and_any_change_is_caught() {
        let keys = keys(7);
        let signed = SignedCheckpoint::sign(
            &keys,
            Checkpoint {
                tenant_id: TenantId::new(),
                seq: 42,
                hash: "ab".repeat(32),
                root: None,
                sealed_at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            },
        );
        signed.verify(&keys.jwks()).unwrap();

        let mut moved = signed.clone();
        moved.checkpoint.seq = 41;
        assert!(moved
            .verify(&keys.jwks())
            .unwrap_err()
            .contains("disagrees"));

        let other = self::keys(8);
        assert!(signed.verify(&other.jwks()).is_err(), "another key's JWKS");
    }

    #[test]
    fn a_tree_checkpoint_signs_its_root_in_the_jws_and_the_note() {
        let keys = keys(7);
        let url: Url = "https://consent.example.com/".parse().unwrap();
        let tenant = TenantId::new();
        let origin = SignedCheckpoint::log_origin(&url, tenant);
        assert_eq!(origin, format!("consent.example.com/ledger/{tenant}"));
        let name = SignedCheckpoint::note_key_name(&url);
        let note_key = keys.note_signer(name).unwrap();
        let verifiers = keys.note_verifiers(name).unwrap();
        let root = [9u8; 32];
        let signed = SignedCheckpoint::sign_tree(
            &keys,
            &note_key,
            &origin,
            Checkpoint {
                tenant_id: tenant,
                seq: 5,
                hash: "cd".repeat(32),
                root: None,
                sealed_at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            },
            &root,
        )
        .unwrap();
        signed.verify(&keys.jwks()).unwrap();
        assert_eq!(signed.root(), Some(root));
        let head = signed.verify_note(&verifiers).unwrap().unwrap();
        assert_eq!(
            (head.origin.as_str(), head.size, head.root),
            (origin.as_str(), 5, root)
        );

        // The row's root changed: the JWS no longer agrees, nor does the note.
        let mut moved = signed.clone();
        moved.checkpoint.root = Some(B64.encode([1u8; 32]));
        assert!(moved.verify(&keys.jwks()).is_err());
        assert!(moved
            .verify_note(&verifiers)
            .unwrap_err()
            .contains("another tree"));

        // A file line round-trips, and a line written before the tree was signed still reads.
        let line = serde_json::to_string(&signed).unwrap();
        assert_eq!(
            serde_json::from_str::<SignedCheckpoint>(&line).unwrap(),
            signed
        );
        let old = SignedCheckpoint::sign(
            &keys,
            Checkpoint {
                root: None,
                ..signed.checkpoint
            },
        );
        let line = serde_json::to_string(&old).unwrap();
        assert!(!line.contains("root") && !line.contains("note"));
        assert_eq!(
            serde_json::from_str::<SignedCheckpoint>(&line).unwrap(),
            old
        );
        old.verify(&keys.jwks()).unwrap();
        assert_eq!(old.verify_note(&verifiers), Ok(None));
    }
}
