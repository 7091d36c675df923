//! Consent receipts: a portable, signed proof of one consent event that the company keeps.
//! The record follows ISO/IEC TS 27560 (consent record/receipt) in its fields; a Kantara
//! Consent Receipt v1.1 export is derived from it. It is signed as a compact JWS (RFC 7515)
//! with EdDSA over Ed25519 (RFC 8037), the key named by `kid` and published in the JWKS.

use crate::ledger::{
    ChainedEvent, EventKind, FrozenController, NoteError, NoteSigner, NoteVerifier,
};

/// The evidence beside a receipt: its event's inclusion in a signed checkpoint, and fresh
/// proofs against later ones.
#[path = "receipt_proof.rs"]
pub mod proof;
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
    /// Where the controller is established (absent from receipts of events that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
}

impl From<&FrozenController> for Controller {
    fn from(c: &FrozenController) -> Self {
        Self {
            name: c.name.clone(),
            legal_name: c.legal_name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            privacy_policy_url: c.privacy_policy_url.clone(),
            jurisdiction: c.jurisdiction.clone(),
        }
    }
}

/// The W3C Data Privacy Vocabulary status of a consent after an event of `kind` (ISO/IEC TS
/// 27560 records the consent's state in these terms); `None` for an NDA, which is no consent.
pub fn dpv_status(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::Given => Some("dpv:ConsentGiven"),
        EventKind::Reconsented => Some("dpv:RenewedConsentGiven"),
        EventKind::Withdrawn => Some("dpv:ConsentWithdrawn"),
        EventKind::Expired => Some("dpv:ConsentExpired"),
        EventKind::Superseded => Some("dpv:ConsentInvalidated"),
        EventKind::NdaAccepted => None,
    }
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

/// Context a receipt needs beyond the ledger event. Nothing here may change after the event:
/// the notice version's terms never change; the controller is the one frozen in the event
/// (`controller` stands in only for events written before controllers were frozen).
pub struct ReceiptContext<'a> {
    pub controller: Controller,
    /// Third parties the data is disclosed to, for events that predate their freezing.
    pub third_parties: &'a [String],
    /// The notice version's privacy-policy link, when the controller names none.
    pub notice_policy_url: Option<&'a str>,
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
        let frozen = b.controller.as_ref();
        let mut controller = frozen.map_or_else(|| ctx.controller.clone(), Controller::from);
        if controller.privacy_policy_url.is_none() {
            controller.privacy_policy_url = ctx.notice_policy_url.map(str::to_owned);
        }
        let third_parties = frozen.map_or(ctx.third_parties, |c| c.third_parties.as_slice());
        Receipt {
            schema: SCHEMA.to_owned(),
            receipt_id: format!("{}:{}", e.event.tenant_id, e.event.seq),
            controller,
            principal: json!({ "company_id": b.company_id, "name": ctx.company_name }),
            event: json!({
                "type": b.kind.as_str(),
                "status": dpv_status(b.kind),
                "initiator": b.initiator,
                "reason": b.reason,
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
                "third_parties": third_parties,
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

    /// The Kantara Consent Receipt Specification v1.1 view of this receipt, or `None` when
    /// the receipt lacks what the specification requires (a jurisdiction, a policy URL, a
    /// valid timestamp).
    pub fn kantara_v1_1(&self) -> Option<Value> {
        let ev = &self.event;
        let purpose = &self.purposes[0];
        let jurisdiction = self
            .controller
            .jurisdiction
            .as_deref()
            .filter(|j| !j.is_empty())?;
        let policy_url = self
            .controller
            .privacy_policy_url
            .as_deref()
            .filter(|u| !u.is_empty())?;
        let timestamp = ev["time"].as_str().and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })?;
        // Disclosure is what the controller declared, never inferred from a sentence: "never
        // shared with third parties" is a text, and no disclosure.
        let third_parties: Vec<String> = purpose["third_parties"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut kantara_purpose = json!({
            "purpose": purpose["purpose"],
            "purposeCategory": [ev["category"].as_str().unwrap_or("nda")],
            "consentType": "EXPLICIT",
            "piiCategory": purpose["data"].as_array().map_or_else(Vec::new, |d| d.iter().map(|x| x["type"].clone()).collect::<Vec<_>>()),
            "primaryPurpose": true,
            "termination": self.withdrawal["how"],
            "thirdPartyDisclosure": !third_parties.is_empty(),
        });
        if !third_parties.is_empty() {
            kantara_purpose["thirdPartyName"] = third_parties.join(", ").into();
        }
        let service = ev["platform"]["name"]
            .as_str()
            .or(ev["platform"]["key"].as_str())
            .unwrap_or("Accord");
        Some(json!({
            "version": "KI-CR-v1.1.0",
            "jurisdiction": jurisdiction,
            "consentTimestamp": timestamp.unix_timestamp(),
            "collectionMethod": ev["method"],
            "consentReceiptID": self.receipt_id,
            "language": ev["language"],
            "piiPrincipalId": self.principal["company_id"],
            "piiControllers": [{
                "piiController": self.controller.legal_name,
                "contact": self.controller.name,
                "email": self.controller.email.as_deref().unwrap_or_default(),
                "phone": self.controller.phone.as_deref().unwrap_or_default(),
                "piiControllerUrl": policy_url,
            }],
            "policyUrl": policy_url,
            "services": [{ "service": service, "purposes": [kantara_purpose] }],
            "sensitive": false,
            "spiCat": [],
        }))
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

    /// The current key as a C2SP note signer named `name`: the ledger's checkpoints are signed
    /// with the same key material as receipts, so one published key set vouches for both.
    pub fn note_signer(&self, name: &str) -> Result<NoteSigner, NoteError> {
        NoteSigner::new(name, self.keys[&self.current].clone())
    }

    /// Every key (current first, then retired ones) as a note verifier named `name`: checkpoints
    /// kept from before a rotation still open.
    pub fn note_verifiers(&self, name: &str) -> Result<Vec<NoteVerifier>, NoteError> {
        let current = std::iter::once(&self.keys[&self.current]);
        let retired = self
            .keys
            .iter()
            .filter(|(kid, _)| **kid != self.current)
            .map(|(_, k)| k);
        current
            .chain(retired)
            .map(|k| NoteVerifier::new(name, k.verifying_key()))
            .collect()
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

    fn receipt_of(frozen: Option<FrozenController>) -> Receipt {
        let mut b = crate::ledger::tests::body(EventKind::Given);
        b.controller = frozen;
        let e = crate::ledger::append(crate::ids::TenantId::new(), None, b);
        Receipt::from_event(
            &e,
            &ReceiptContext {
                controller: Controller {
                    name: "Now".into(),
                    legal_name: "Renamed Since Ltd".into(),
                    email: None,
                    phone: None,
                    privacy_policy_url: None,
                    jurisdiction: None,
                },
                third_parties: &[],
                notice_policy_url: Some("https://lender.example/privacy"),
                company_name: "Bluebell",
                platform_name: Some("Sandbox Books"),
                retention: Some("12 months"),
                third_party_sharing: Some("Never shared with third parties."),
                withdrawal: "Disconnect on the manage page.",
                valid_until: None,
            },
        )
    }

    fn frozen(third_parties: Vec<String>) -> FrozenController {
        FrozenController {
            name: "Northwind".into(),
            legal_name: "Northwind Lending Ltd".into(),
            email: Some("help@northwind.example".into()),
            phone: Some("+44 20 7946 0000".into()),
            privacy_policy_url: None,
            jurisdiction: Some("GB".into()),
            third_parties,
            validity_days: None,
        }
    }

    #[test]
    fn the_receipt_names_the_controller_frozen_in_its_event() {
        let r = receipt_of(Some(frozen(Vec::new())));
        assert_eq!(r.controller.legal_name, "Northwind Lending Ltd");
        assert_eq!(r.event["status"], "dpv:ConsentGiven");
        let k = r.kantara_v1_1().unwrap();
        assert_eq!(k["jurisdiction"], "GB");
        assert_eq!(k["policyUrl"], "https://lender.example/privacy");
        assert_eq!(k["consentTimestamp"], 1_800_000_000);
        let p = &k["services"][0]["purposes"][0];
        assert_eq!(
            p["thirdPartyDisclosure"], false,
            "a sentence is no disclosure"
        );
        assert!(p.get("thirdPartyName").is_none());

        let r = receipt_of(Some(frozen(vec!["Credit Bureau Ltd".into()])));
        let p = &r.kantara_v1_1().unwrap()["services"][0]["purposes"][0];
        assert_eq!(p["thirdPartyDisclosure"], true);
        assert_eq!(p["thirdPartyName"], "Credit Bureau Ltd");

        // An event from before controllers were frozen: today's settings, no jurisdiction, and
        // so no Kantara export (the specification requires one).
        let old = receipt_of(None);
        assert_eq!(old.controller.legal_name, "Renamed Since Ltd");
        assert!(old.kantara_v1_1().is_none());
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
