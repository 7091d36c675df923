//! The consent ledger: an append-only, per-tenant hash chain of consent events. Each event's
//! hash is the SHA-256 of its RFC 8785 (JCS) canonical JSON, which includes the previous event's
//! hash, so changing, removing or reordering any event breaks every later link. Anyone holding
//! the events can recompute the chain (`accord ledger verify`).

use crate::catalog::{Category, DataUse, PlatformKey};
use crate::ids::{CompanyId, ConnectionId, ConsentId, NoticeVersionId, TenantId};
use crate::locale::Locale;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use time::OffsetDateTime;

mod checkpoint;
pub mod merkle;
pub mod note;
mod stored;
mod template;

pub use checkpoint::{Checkpoint, SignedCheckpoint, CHECKPOINT_JWS_TYPE};
pub use merkle::{CompactRange, Hash, MerkleError, NodeId, ProofPlan};
pub use note::{NoteError, NoteSigner, NoteVerifier, TreeHead};
pub use stored::{EventFacts, StoredEvent};
pub use template::{EventTemplate, TemplateError};

/// The hash before the first event of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Given,
    Withdrawn,
    Reconsented,
    Expired,
    NdaAccepted,
    /// A newer consent on the same connection took this one's place.
    Superseded,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Given => "given",
            Self::Withdrawn => "withdrawn",
            Self::Reconsented => "reconsented",
            Self::Expired => "expired",
            Self::NdaAccepted => "nda_accepted",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Given,
            Self::Withdrawn,
            Self::Reconsented,
            Self::Expired,
            Self::NdaAccepted,
            Self::Superseded,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// What an event records, before it is placed in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBody {
    pub kind: EventKind,
    pub consent_id: ConsentId,
    pub company_id: CompanyId,
    pub connection_id: Option<ConnectionId>,
    pub platform_key: Option<PlatformKey>,
    pub category: Option<Category>,
    pub notice_version_id: Option<NoticeVersionId>,
    pub notice_version: Option<i64>,
    /// SHA-256 of the exact rendered text agreed to (notice, or NDA document).
    pub text_sha256: String,
    pub locale: Locale,
    pub data_uses: Vec<DataUse>,
    pub purpose: String,
    /// How the action was collected (`hosted_flow_checkbox`, `tenant_api`, `manage_page`, `job`…).
    pub method: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who started the change (absent from events written before it was recorded: the
    /// fields below are skipped when empty so those events keep their canonical text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<Initiator>,
    /// Why the state changed, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The controller as the customer was shown it, frozen so a later change of the link
    /// settings changes no receipt of this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<FrozenController>,
}

/// Who started a change of a consent's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Initiator {
    /// The company, in the hosted flow or on the manage page.
    Customer,
    /// The tenant, through its API.
    Tenant,
    /// The platform, ending Accord's access.
    Platform,
    /// The consent's validity period ran out.
    Expiry,
}

impl Initiator {
    /// Who `method` (how an action was collected) is acted by.
    pub fn of_method(method: &str) -> Self {
        match method {
            "validity_expired" => Self::Expiry,
            "tenant_api" | "company_deleted" | "build_your_own" => Self::Tenant,
            "invalid_grant" | "platform" => Self::Platform,
            _ => Self::Customer,
        }
    }
}

/// Why an event of `kind` collected by `method` happened, in words.
fn reason_of(kind: EventKind, method: &str) -> String {
    match (kind, method) {
        (_, "validity_expired") => "the consent reached the end of its validity period",
        (_, "replaced") => {
            "the customer connected the same organisation again through a new connection"
        }
        (_, "company_deleted") => "the tenant deleted the company",
        (EventKind::Superseded, _) => "a newer consent on the same connection replaced it",
        (EventKind::Withdrawn, "tenant_api") => "the tenant disconnected the connection",
        (EventKind::Withdrawn, _) => "the customer disconnected the connection",
        (EventKind::Reconsented, _) => "the customer agreed again to the current notice",
        (EventKind::NdaAccepted, _) => "the company signed the mutual NDA",
        (EventKind::Given | EventKind::Expired, _) => "the customer agreed to the notice",
    }
    .to_owned()
}

/// The controller's identity and terms at the time of an event (`given`, `reconsented`,
/// `nda_accepted`): what its receipt names, whatever the settings say later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrozenController {
    pub name: String,
    pub legal_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub privacy_policy_url: Option<String>,
    /// Where the controller is established, and whose law governs the consent.
    pub jurisdiction: Option<String>,
    /// Who the data is disclosed to beyond the controller; empty: nobody.
    pub third_parties: Vec<String>,
    /// How many days the consent was said to last (absent: until withdrawn, or an event frozen
    /// before the validity was; skipped when absent, so those events keep their canonical text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_days: Option<u32>,
}

impl EventBody {
    /// The same event with the controller frozen in it.
    #[must_use]
    pub fn with_controller(mut self, controller: FrozenController) -> Self {
        self.controller = Some(controller);
        self
    }

    /// The event recording `kind` for a consent (its notice, data uses and language).
    pub fn for_consent(
        kind: EventKind,
        consent: &crate::consent::Consent,
        purpose: &str,
        method: &str,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            kind,
            consent_id: consent.id,
            company_id: consent.company_id,
            connection_id: Some(consent.connection_id),
            platform_key: Some(consent.platform_key.clone()),
            category: Some(consent.category),
            notice_version_id: Some(consent.notice_version_id),
            notice_version: Some(consent.notice_version),
            text_sha256: consent.notice_sha256.clone(),
            locale: consent.locale,
            data_uses: consent.data_uses.clone(),
            purpose: purpose.to_owned(),
            method: method.to_owned(),
            at,
            initiator: Some(Initiator::of_method(method)),
            reason: Some(reason_of(kind, method)),
            controller: None,
        }
    }
}

/// The `method` of a `superseded` event: the consent ended because a newer one on the same
/// connection took its place, in the transaction that recorded the newer one.
pub const SUPERSEDED_METHOD: &str = "superseded";

impl EventBody {
    /// The `superseded` event of `old` (in force until now), replaced on the same connection
    /// by the consent that `by` records (its `given` or `reconsented` event): at the same
    /// instant, started by whoever gave the new consent, and naming it in its reason.
    pub fn superseded(old: &crate::consent::Consent, purpose: &str, by: &EventBody) -> Self {
        let mut event = Self::for_consent(
            EventKind::Superseded,
            old,
            purpose,
            SUPERSEDED_METHOD,
            by.at,
        );
        event.initiator = Some(by.initiator.unwrap_or(Initiator::of_method(&by.method)));
        event.reason = Some(format!(
            "consent {} ({}) on the same connection replaced it",
            by.consent_id,
            by.kind.as_str()
        ));
        event
    }
}

/// An event in its chain: position, predecessor's hash, and its own hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEvent {
    pub tenant_id: TenantId,
    /// 1-based position in the tenant's chain; no gaps.
    pub seq: i64,
    pub prev_hash: String,
    #[serde(flatten)]
    pub body: EventBody,
}

/// The columns a store keeps beside an event's JSON, to be checked against it on every read.
#[derive(Debug, Clone)]
pub struct StoredColumns<'a> {
    pub tenant_id: TenantId,
    pub seq: i64,
    pub kind: &'a str,
    pub consent_id: ConsentId,
    pub prev_hash: &'a str,
    /// The event time as the row keeps it, in unix microseconds.
    pub at_micros: i64,
}

/// Parses a stored event and checks it is exactly what was written: the text must be the
/// canonical JSON of the event it parses to (a change that keeps the meaning, such as a
/// differently spelled timestamp, is still a change), and the row's own columns must agree.
pub fn parse_stored(json: &str, cols: &StoredColumns<'_>) -> Result<LedgerEvent, String> {
    let event: LedgerEvent = serde_json::from_str(json)
        .map_err(|e| format!("event is not valid JSON for a ledger event ({e})"))?;
    if event.canonical_json() != json {
        return Err("event text is not in its canonical form (it was altered)".into());
    }
    if event.tenant_id != cols.tenant_id || event.seq != cols.seq {
        return Err("event's tenant or position disagrees with its row".into());
    }
    if event.body.kind.as_str() != cols.kind
        || event.body.consent_id != cols.consent_id
        || event.prev_hash != cols.prev_hash
    {
        return Err("event's kind, consent or previous hash disagrees with its row".into());
    }
    let micros = i64::try_from(event.body.at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MIN);
    if micros != cols.at_micros {
        return Err("event's time disagrees with its row".into());
    }
    Ok(event)
}

/// A chained event with its hash, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedEvent {
    #[serde(flatten)]
    pub event: LedgerEvent,
    pub hash: String,
}

impl LedgerEvent {
    /// The canonical JSON (RFC 8785) this event is hashed over.
    pub fn canonical_json(&self) -> String {
        serde_json_canonicalizer::to_string(self).expect("ledger events serialise to JSON")
    }

    pub fn hash(&self) -> String {
        crate::crypto::sha256_hex(self.canonical_json().as_bytes())
    }
}

/// Places `body` after the event `(prev_seq, prev_hash)` (or at the start, `None`).
pub fn append(tenant: TenantId, prev: Option<(i64, &str)>, body: EventBody) -> ChainedEvent {
    let (seq, prev_hash) = match prev {
        Some((s, h)) => (s + 1, h.to_owned()),
        None => (1, GENESIS.to_owned()),
    };
    let event = LedgerEvent {
        tenant_id: tenant,
        seq,
        prev_hash,
        body,
    };
    let hash = event.hash();
    ChainedEvent { event, hash }
}

/// Opens a signed tree head (a C2SP `tlog-checkpoint` note) with the Ed25519 keys of a JWKS:
/// the same keys sign receipts, checkpoints' JWS and their notes. A note verifier key is a
/// name and a public key; the name is the one its signature lines carry, so every Ed25519 key
/// of the set is tried under each of them (the key id, which hashes name and key, picks the
/// right one).
pub fn open_tree_head(signed: &str, jwks: &serde_json::Value) -> Result<TreeHead, NoteError> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let note = note::parse_note(signed)?;
    let keys: Vec<ed25519_dalek::VerifyingKey> = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["kty"] == "OKP" && k["crv"] == "Ed25519")
        .filter_map(|k| URL_SAFE_NO_PAD.decode(k["x"].as_str()?).ok())
        .filter_map(|x| <[u8; 32]>::try_from(x).ok())
        .filter_map(|x| ed25519_dalek::VerifyingKey::from_bytes(&x).ok())
        .collect();
    let mut verifiers = Vec::new();
    for s in &note.signatures {
        for key in &keys {
            if let Ok(v) = NoteVerifier::new(&s.name, *key) {
                verifiers.push(v);
            }
        }
    }
    TreeHead::open(signed, &verifiers)
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {seq}: {reason}")]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// Checks one tenant's events, in order: positions 1, 2, 3… without gaps, each `prev_hash`
/// equal to its predecessor's hash, each hash equal to the recomputed one, and the hash at each
/// signed checkpoint's position equal to the one signed. Names the first broken event.
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
    /// Signed (position, hash) pairs still ahead, in position order.
    checkpoints: VecDeque<(i64, String)>,
    sealed_until: i64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS.to_owned(),
            checkpoints: VecDeque::new(),
            sealed_until: 0,
        }
    }
}

impl ChainVerifier {
    /// Continues a chain already verified up to `(seq, hash)` (a signed checkpoint).
    pub fn resume(seq: i64, hash: &str) -> Self {
        Self {
            expected_seq: seq + 1,
            prev_hash: hash.to_owned(),
            checkpoints: VecDeque::new(),
            sealed_until: seq,
        }
    }

    /// Positions and hashes whose signatures were checked: the chain must pass through each.
    pub fn expect_checkpoints(&mut self, sealed: impl IntoIterator<Item = (i64, String)>) {
        let mut all: Vec<(i64, String)> = self.checkpoints.drain(..).chain(sealed).collect();
        all.sort_by_key(|(seq, _)| *seq);
        all.dedup();
        self.checkpoints = all.into();
    }

    pub fn push(&mut self, e: &ChainedEvent) -> Result<(), ChainBreak> {
        let seq = e.event.seq;
        let fail = |reason: &str| {
            Err(ChainBreak {
                seq,
                reason: reason.to_owned(),
            })
        };
        self.check_position(seq)?;
        if e.event.prev_hash != self.prev_hash {
            return fail("previous-hash link does not match the preceding event");
        }
        if e.event.hash() != e.hash {
            return fail("content does not match its hash (the event was altered)");
        }
        self.advance(seq, &e.hash)
    }

    fn check_position(&self, seq: i64) -> Result<(), ChainBreak> {
        if seq == self.expected_seq {
            Ok(())
        } else {
            Err(ChainBreak {
                seq: self.expected_seq,
                reason: format!("missing or out of order (found position {seq})"),
            })
        }
    }

    /// Moves past the verified event at `seq` with `hash`, checking a checkpoint there.
    fn advance(&mut self, seq: i64, hash: &str) -> Result<(), ChainBreak> {
        while let Some((at, signed)) = self.checkpoints.front() {
            if *at > seq {
                break;
            }
            if *at == seq && signed != hash {
                return Err(ChainBreak {
                    seq,
                    reason: "the event differs from the one its signed checkpoint sealed".into(),
                });
            }
            self.sealed_until = *at;
            self.checkpoints.pop_front();
        }
        self.expected_seq += 1;
        self.prev_hash.clear();
        self.prev_hash.push_str(hash);
        Ok(())
    }

    /// Called after the last event: a signed checkpoint beyond it means sealed events were
    /// removed from the end.
    pub fn finish(&self) -> Result<(), ChainBreak> {
        match self.checkpoints.front() {
            None => Ok(()),
            Some((at, _)) => Err(ChainBreak {
                seq: self.expected_seq,
                reason: format!(
                    "missing: the chain ends at position {} but a signed checkpoint seals position {at}",
                    self.count()
                ),
            }),
        }
    }

    /// Events verified so far.
    pub fn count(&self) -> i64 {
        self.expected_seq - 1
    }

    /// The last position covered by a signed checkpoint, among those verified.
    pub fn sealed_until(&self) -> i64 {
        self.sealed_until
    }

    pub fn head(&self) -> &str {
        &self.prev_hash
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::{DataType, Direction};

    pub(crate) fn body(kind: EventKind) -> EventBody {
        EventBody {
            kind,
            consent_id: ConsentId::new(),
            company_id: CompanyId::new(),
            connection_id: Some(ConnectionId::new()),
            platform_key: Some(PlatformKey::parse("sandbox").unwrap()),
            category: Some(Category::Accounting),
            notice_version_id: Some(NoticeVersionId::new()),
            notice_version: Some(1),
            text_sha256: "ab".repeat(32),
            locale: Locale::Fr,
            data_uses: vec![DataUse {
                data_type: DataType::Invoices,
                direction: Direction::Read,
            }],
            purpose: "Évaluer votre demande — « prêt »".into(),
            method: "hosted_flow_checkbox".into(),
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            initiator: None,
            reason: None,
            controller: None,
        }
    }

    pub(crate) fn chain(n: usize) -> Vec<ChainedEvent> {
        let tenant = TenantId::new();
        let mut out: Vec<ChainedEvent> = Vec::new();
        for i in 0..n {
            let prev = out.last().map(|e| (e.event.seq, e.hash.as_str()));
            let kind = if i % 2 == 0 {
                EventKind::Given
            } else {
                EventKind::Withdrawn
            };
            out.push(append(tenant, prev, body(kind)));
        }
        out
    }

    #[test]
    fn canonical_json_is_sorted_and_stable() {
        let e = chain(1).remove(0);
        let json = e.event.canonical_json();
        let keys: Vec<&str> = ["\"at\"", "\"category\"", "\"company_id\"", "\"kind\""]
            .into_iter()
            .collect();
        let positions: Vec<usize> = keys.iter().map(|k| json.find(k).unwrap()).collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "keys sorted: {json}"
        );
        assert_eq!(e.event.hash(), e.hash);
        assert!(
            !json.contains("\\u00"),
            "non-ASCII is kept as UTF-8, per JCS: {json}"
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        let mut v = ChainVerifier::default();
        for e in &chain(5) {
            v.push(e).unwrap();
        }
        assert_eq!(v.count(), 5);
    }

    #[test]
    fn tampering_is_found_at_the_first_broken_event() {
        let mut c = chain(5);
        c[2].event.body.purpose = "something else".into();
        let mut v = ChainVerifier::default();
        let err = c.iter().try_for_each(|e| v.push(e)).unwrap_err();
        assert_eq!(err.seq, 3);

        let mut c = chain(5);
        c.remove(1);
        let mut v = ChainVerifier::default();
        assert_eq!(c.iter().try_for_each(|e| v.push(e)).unwrap_err().seq, 2);

        let mut c = chain(5);
        let forged = c[3].event.clone();
        c[3] = ChainedEvent {
            hash: forged.hash(),
            event: LedgerEvent {
                prev_hash: GENESIS.into(),
                ..forged
            },
        };
        let mut v = ChainVerifier::default();
        assert_eq!(c.iter().try_for_each(|e| v.push(e)).unwrap_err().seq, 4);
    }

    /// Events written before initiators and controllers were recorded keep their exact text
    /// (and so their hash); new events carry the new fields through the stores' templates.
    #[test]
    fn the_new_fields_leave_old_events_untouched_and_chain_like_any_other() {
        let old = chain(1).remove(0);
        let json = old.event.canonical_json();
        for key in ["initiator", "reason", "controller"] {
            assert!(
                !json.contains(key),
                "{key} absent from an old event: {json}"
            );
        }
        let reparsed: LedgerEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(reparsed.hash(), old.hash);

        let mut b = body(EventKind::Given);
        b.initiator = Some(Initiator::of_method("tenant_api"));
        b.reason = Some(reason_of(EventKind::Withdrawn, "tenant_api"));
        b.controller = Some(FrozenController {
            name: "Northwind".into(),
            legal_name: "Northwind Lending Ltd".into(),
            email: Some("help@northwind.example".into()),
            phone: None,
            privacy_policy_url: Some("https://northwind.example/privacy".into()),
            jurisdiction: Some("GB".into()),
            third_parties: vec!["Credit Bureau \"prev_hash\":\"x\" Ltd".into()],
            validity_days: Some(90),
        });
        let tenant = TenantId::new();
        let (chained, text) = EventTemplate::of(tenant, b.clone()).unwrap().chain(None);
        assert_eq!(chained, append(tenant, None, b));
        assert_eq!(text, chained.event.canonical_json());
        assert!(text.contains(r#""initiator":"tenant""#), "{text}");
        assert!(text.contains(r#""validity_days":90"#), "{text}");
    }

    #[test]
    fn a_tree_head_opens_with_the_jwks_of_its_key() {
        let keys = crate::receipt::SigningKeys::new(
            "k1",
            std::collections::BTreeMap::from([("k1".to_owned(), [9; 32])]),
        )
        .unwrap();
        let head = TreeHead {
            origin: format!("accord.example/ledger/{}", TenantId::new()),
            size: 3,
            root: [7; 32],
            extensions: Vec::new(),
        };
        let signed = head
            .sign(&keys.note_signer("accord.example").unwrap())
            .unwrap();
        assert_eq!(open_tree_head(&signed, &keys.jwks()).unwrap(), head);
        let other = crate::receipt::SigningKeys::new(
            "k2",
            std::collections::BTreeMap::from([("k2".to_owned(), [8; 32])]),
        )
        .unwrap();
        assert!(open_tree_head(&signed, &other.jwks()).is_err());
        let forged = signed.replacen("\n3\n", "\n4\n", 1);
        assert!(open_tree_head(&forged, &keys.jwks()).is_err());
    }

    #[test]
    fn who_initiated_a_change_follows_how_it_was_collected() {
        assert_eq!(Initiator::of_method("validity_expired"), Initiator::Expiry);
        assert_eq!(Initiator::of_method("tenant_api"), Initiator::Tenant);
        assert_eq!(Initiator::of_method("manage_page"), Initiator::Customer);
        assert_eq!(
            Initiator::of_method("hosted_flow_checkbox"),
            Initiator::Customer
        );
        assert_eq!(EventKind::parse("superseded"), Some(EventKind::Superseded));
    }
}
