//! Consent receipts: a portable, signed proof of one consent event that the company keeps.
//! The record follows ISO/IEC TS 27560 (consent record/receipt) in its fields; a Kantara
//! Consent Receipt v1.1 export is derived from it. It is signed as a compact JWS (RFC 7515)
//! with EdDSA over Ed25519 (RFC 8037), the key named by `kid` and published in the JWKS.

use crate::ledger::ChainedEvent;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Who is responsible for the processing (the tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controller {
    pub name: String,
    pub legal_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub privacy_policy_url: Option<String>,
}

/// The receipt record (ISO/IEC TS 27560 aligned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// `accord-receipt/1`.
    pub schema: String,
    pub receipt_id: String,
    pub controller: Controller,
    /// The data principal's organisation (the company) as the controller knows it.
    pub principal: Value,
    pub event: Value,
    pub purposes: Vec<Value>,
    pub notice: Value,
    pub withdrawal: Value,
    pub ledger: Value,
}

pub const SCHEMA: &str = "accord-receipt/1";

/// Context a receipt needs beyond the ledger event.
pub struct ReceiptContext<'a> {
    pub controller: Controller,
    pub company_name: &'a str,
    pub platform_name: Option<&'a str>,
    pub retention: Option<&'a str>,
    pub third_party_sharing: Option<&'a str>,
    pub withdrawal: &'a str,
    pub valid_until: Option<time::OffsetDateTime>,
}

impl Receipt {
    pub fn from_event(e: &ChainedEvent, ctx: &ReceiptContext<'_>) -> Self {
        let b = &e.event.body;
        let rfc3339 = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        Receipt {
            schema: SCHEMA.to_owned(),
            receipt_id: format!("{}:{}", e.event.tenant_id, e.event.seq),
            controller: ctx.controller.clone(),
            principal: json!({ "company_id": b.company_id, "name": ctx.company_name }),
            event: json!({
                "type": b.kind.as_str(),
                "consent_id": b.consent_id,
                "time": rfc3339(b.at),
                "method": b.method,
                "language": b.locale.as_str(),
                "valid_until": ctx.valid_until.map(rfc3339),
                "connection_id": b.connection_id,
                "platform": b.platform_key.as_ref().map(|k| json!({"key": k, "name": ctx.platform_name})),
                "category": b.category,
            }),
            purposes: vec![json!({
                "purpose": b.purpose,
                "data": b.data_uses.iter().map(|u| json!({"type": u.data_type, "direction": u.direction})).collect::<Vec<_>>(),
                "retention": ctx.retention,
                "third_party_sharing": ctx.third_party_sharing,
            })],
            notice: json!({
                "version_id": b.notice_version_id,
                "version": b.notice_version,
                "text_sha256": b.text_sha256,
            }),
            withdrawal: json!({ "how": ctx.withdrawal }),
            ledger: json!({
                "tenant_id": e.event.tenant_id,
                "position": e.event.seq,
                "hash": e.hash,
                "prev_hash": e.event.prev_hash,
                "hash_algorithm": "SHA-256 over RFC 8785 canonical JSON",
            }),
        }
    }

    /// The Kantara Consent Receipt Specification v1.1 view of this receipt.
    pub fn kantara_v1_1(&self) -> Value {
        let ev = &self.event;
        let purpose = &self.purposes[0];
        json!({
            "version": "KI-CR-v1.1.0",
            "jurisdiction": "",
            "consentTimestamp": ev["time"],
            "collectionMethod": ev["method"],
            "consentReceiptID": self.receipt_id,
            "language": ev["language"],
            "piiPrincipalId": self.principal["company_id"],
            "piiControllers": [{
                "piiController": self.controller.legal_name,
                "contact": self.controller.name,
                "email": self.controller.email,
                "phone": self.controller.phone,
                "piiControllerUrl": self.controller.privacy_policy_url,
            }],
            "policyUrl": self.controller.privacy_policy_url,
            "services": [{
                "service": ev["platform"]["name"],
                "purposes": [{
                    "purpose": purpose["purpose"],
                    "purposeCategory": [ev["category"]],
                    "consentType": "EXPLICIT",
                    "piiCategory": purpose["data"].as_array().map(|d| d.iter().map(|x| x["type"].clone()).collect::<Vec<_>>()),
                    "primaryPurpose": true,
                    "termination": self.withdrawal["how"],
                    "thirdPartyDisclosure": purpose["third_party_sharing"].as_str().is_some_and(|s| !s.is_empty()),
                }]
            }],
            "sensitive": false,
            "spiCat": [],
        })
    }
}

/// Ed25519 signing keys by id, one current; retired keys stay published for verification.
pub struct SigningKeys {
    current: String,
    keys: BTreeMap<String, SigningKey>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("current", &self.current)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwsError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("unsupported algorithm or header")]
    Header,
    #[error("unknown key id `{0}`")]
    UnknownKey(String),
    #[error("signature does not verify")]
    Signature,
}

impl SigningKeys {
    /// From 32-byte seeds by key id.
    pub fn new(current: &str, seeds: BTreeMap<String, [u8; 32]>) -> Option<Self> {
        let keys: BTreeMap<String, SigningKey> = seeds
            .into_iter()
            .map(|(k, s)| (k, SigningKey::from_bytes(&s)))
            .collect();
        keys.contains_key(current).then(|| Self {
            current: current.to_owned(),
            keys,
        })
    }

    pub fn current_kid(&self) -> &str {
        &self.current
    }

    /// The public keys as a JWKS (RFC 7517, OKP keys per RFC 8037).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|(kid, k)| json!({ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": URL_SAFE_NO_PAD.encode(k.verifying_key().as_bytes()) }))
            .collect();
        json!({ "keys": keys })
    }

    /// Signs `payload` as a compact JWS with the current key. Written by hand because it is
    /// three base64url parts and one Ed25519 signature; the JOSE crates of the ecosystem either
    /// pull in a second crypto stack or lack EdDSA. Independently verified in tests.
    pub fn sign_compact<T: Serialize + ?Sized>(&self, payload: &T, typ: &str) -> String {
        let key = &self.keys[&self.current];
        let header = json!({ "alg": "EdDSA", "kid": self.current, "typ": typ });
        let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header serialises"));
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).expect("payload serialises"));
        let signing_input = format!("{h}.{p}");
        let sig = key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }
}

/// Verifies a compact JWS against a JWKS document; returns the payload.
pub fn verify_compact(jws: &str, key_set: &Value) -> Result<Value, JwsError> {
    let mut parts = jws.trim().split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwsError::Malformed)?;
    if header["alg"] != "EdDSA" || header.get("crit").is_some() {
        return Err(JwsError::Header);
    }
    let kid = header["kid"].as_str().ok_or(JwsError::Header)?;
    let jwk = key_set["keys"]
        .as_array()
        .and_then(|ks| {
            ks.iter()
                .find(|k| k["kid"] == kid && k["kty"] == "OKP" && k["crv"] == "Ed25519")
        })
        .ok_or_else(|| JwsError::UnknownKey(kid.to_owned()))?;
    let x: [u8; 32] = jwk["x"]
        .as_str()
        .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| JwsError::UnknownKey(kid.to_owned()))?;
    let vk = VerifyingKey::from_bytes(&x).map_err(|_| JwsError::UnknownKey(kid.to_owned()))?;
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(JwsError::Malformed)?;
    vk.verify_strict(format!("{h}.{p}").as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| JwsError::Signature)?;
    URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwsError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SigningKeys {
        let mut seeds = BTreeMap::new();
        seeds.insert("s1".to_owned(), [7u8; 32]);
        seeds.insert("s0".to_owned(), [3u8; 32]);
        SigningKeys::new("s1", seeds).unwrap()
    }

    #[test]
    fn sign_then_verify_with_the_jwks() {
        let k = keys();
        let jws = k.sign_compact(&json!({"hello": "wörld"}), "accord-receipt+jws");
        let payload = verify_compact(&jws, &k.jwks()).unwrap();
        assert_eq!(payload["hello"], "wörld");
        assert_eq!(
            k.jwks()["keys"].as_array().unwrap().len(),
            2,
            "retired keys stay published"
        );
    }

    #[test]
    fn tampering_and_unknown_keys_are_refused() {
        let k = keys();
        let jws = k.sign_compact(&json!({"n": 1}), "x");
        let parts: Vec<&str> = jws.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"n":2}"#);
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(verify_compact(&forged, &k.jwks()), Err(JwsError::Signature));
        assert_eq!(verify_compact("a.b", &k.jwks()), Err(JwsError::Malformed));
        let empty = json!({"keys": []});
        assert!(matches!(
            verify_compact(&jws, &empty),
            Err(JwsError::UnknownKey(_))
        ));
    }

    #[test]
    fn rfc8037_test_vector() {
        // RFC 8037 Appendix A.4: Ed25519 signing of "Example of Ed25519 signing".
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap()
            .try_into()
            .unwrap();
        let key = SigningKey::from_bytes(&seed);
        assert_eq!(
            URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        let sig = key.sign(b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(sig.to_bytes()),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
    }
}
