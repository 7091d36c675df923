//! Signed checkpoints: the head of a tenant's chain (position and hash), signed by the instance's
//! receipt key as a compact JWS. The hash of an event commits to every event before it, so one
//! signature covers the whole chain up to its position: rewriting, removing or truncating sealed
//! events then needs the signing key, not just write access to the database. Checking every
//! event's own signature would cost about 50 µs each (20 s per million events); checking one per
//! sealed stretch keeps `accord ledger verify` within seconds for millions of events.

use crate::ids::TenantId;
use crate::receipt::{verify_compact, SigningKeys};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// The JWS `typ` of ledger checkpoints.
pub const CHECKPOINT_JWS_TYPE: &str = "accord-ledger-checkpoint+jws";

/// What a checkpoint signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub tenant_id: TenantId,
    /// The last position sealed.
    pub seq: i64,
    /// The hash of the event at `seq`.
    pub hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub sealed_at: OffsetDateTime,
}

/// A checkpoint and its signature, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    pub jws: String,
}

impl SignedCheckpoint {
    pub fn sign(keys: &SigningKeys, checkpoint: Checkpoint) -> Self {
        let payload = serde_json::to_value(&checkpoint).expect("a checkpoint serialises");
        let jws = keys.sign_compact(&payload, CHECKPOINT_JWS_TYPE);
        Self { checkpoint, jws }
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
}
