//! Verifying events as stored, fast: the hash is recomputed over the exact stored text (no
//! re-serialising), and only the fields the row repeats in its own columns are parsed out of it.
//! This is what `accord ledger verify` runs over millions of events.
//!
//! Nothing is lost against a full parse: the text hashed at append time was canonical, so any
//! other text fails the hash; text and hash rewritten together break the next event's link, or,
//! at the end of the chain, the signed checkpoint (`checkpoint.rs`).

use super::{ChainBreak, ChainVerifier, EventKind};
use crate::catalog::DataUse;
use crate::crypto::sha256_hex_is;
use crate::ids::{CompanyId, ConnectionId, ConsentId, NoticeVersionId, TenantId};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A ledger row: its columns and the exact text its hash is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub tenant_id: TenantId,
    pub seq: i64,
    pub kind: String,
    pub consent_id: ConsentId,
    pub prev_hash: String,
    /// The event time as the row keeps it, in unix microseconds.
    pub at_micros: i64,
    pub text: String,
    pub hash: String,
}

/// The fields of an event's text that its row repeats.
#[derive(Deserialize)]
struct Repeated<'a> {
    tenant_id: TenantId,
    seq: i64,
    #[serde(borrow)]
    prev_hash: &'a str,
    kind: EventKind,
    consent_id: ConsentId,
    #[serde(borrow)]
    at: &'a str,
}

/// Every field of an event's text that its row repeats or that its records must agree with,
/// read in one parse ([`ChainVerifier::push_stored_facts`]).
/// (Flat rather than `#[serde(flatten)]`, which would buffer every field of the text first.)
#[derive(Deserialize)]
struct WithFacts<'a> {
    tenant_id: TenantId,
    seq: i64,
    #[serde(borrow)]
    prev_hash: &'a str,
    kind: EventKind,
    consent_id: ConsentId,
    #[serde(borrow)]
    at: &'a str,
    company_id: CompanyId,
    connection_id: Option<ConnectionId>,
    notice_version_id: Option<NoticeVersionId>,
    text_sha256: String,
    data_uses: Vec<DataUse>,
}

/// Why the row's text and its columns disagree, if they do.
fn disagreement(e: &StoredEvent) -> Option<&'static str> {
    let Ok(r) = serde_json::from_str::<Repeated<'_>>(&e.text) else {
        return Some("event text cannot be read as a ledger event");
    };
    columns_disagree(e, &r)
}

/// Why the row's columns disagree with the fields of its text, if they do.
fn columns_disagree(e: &StoredEvent, r: &Repeated<'_>) -> Option<&'static str> {
    if r.tenant_id != e.tenant_id || r.seq != e.seq {
        return Some("event's tenant or position disagrees with its row");
    }
    if r.kind.as_str() != e.kind || r.consent_id != e.consent_id || r.prev_hash != e.prev_hash {
        return Some("event's kind, consent or previous hash disagrees with its row");
    }
    let micros = OffsetDateTime::parse(r.at, &Rfc3339)
        .ok()
        .and_then(|at| i64::try_from(at.unix_timestamp_nanos() / 1000).ok());
    if micros != Some(e.at_micros) {
        return Some("event's time disagrees with its row");
    }
    None
}

/// What an event says about the records it concerns, parsed from its stored text: what
/// `accord ledger verify` compares the consent, connection and NDA rows with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventFacts {
    pub kind: EventKind,
    pub consent_id: ConsentId,
    pub company_id: CompanyId,
    pub connection_id: Option<ConnectionId>,
    pub notice_version_id: Option<NoticeVersionId>,
    pub text_sha256: String,
    pub data_uses: Vec<DataUse>,
}

impl StoredEvent {
    /// The facts its text records (call after [`ChainVerifier::push_stored`] accepted it).
    pub fn facts(&self) -> Result<EventFacts, String> {
        serde_json::from_str(&self.text)
            .map_err(|e| format!("event text cannot be read as a ledger event ({e})"))
    }
}

impl ChainVerifier {
    /// [`push_stored`](Self::push_stored), and what the event says of its records, read in
    /// the same parse of its text (what `accord ledger verify` compares the records with).
    pub fn push_stored_facts(&mut self, e: &StoredEvent) -> Result<EventFacts, ChainBreak> {
        let fail = |reason: &str| ChainBreak {
            seq: e.seq,
            reason: reason.to_owned(),
        };
        self.check_position(e.seq)?;
        if e.prev_hash != self.prev_hash {
            return Err(fail(
                "previous-hash link does not match the preceding event",
            ));
        }
        if !sha256_hex_is(e.text.as_bytes(), &e.hash) {
            return Err(fail(
                "content does not match its hash (the event was altered)",
            ));
        }
        let parsed = serde_json::from_str::<WithFacts<'_>>(&e.text)
            .map_err(|_| fail("event text cannot be read as a ledger event"))?;
        let p = parsed;
        let repeated = Repeated {
            tenant_id: p.tenant_id,
            seq: p.seq,
            prev_hash: p.prev_hash,
            kind: p.kind,
            consent_id: p.consent_id,
            at: p.at,
        };
        if let Some(reason) = columns_disagree(e, &repeated) {
            return Err(fail(reason));
        }
        self.advance(e.seq, &e.hash)?;
        let f = p;
        Ok(EventFacts {
            kind: f.kind,
            consent_id: f.consent_id,
            company_id: f.company_id,
            connection_id: f.connection_id,
            notice_version_id: f.notice_version_id,
            text_sha256: f.text_sha256,
            data_uses: f.data_uses,
        })
    }

    /// Checks the next stored event: its position, its link to the previous hash, its hash over
    /// the stored text, the columns against the text, and the signed checkpoint at its position,
    /// if there is one.
    pub fn push_stored(&mut self, e: &StoredEvent) -> Result<(), ChainBreak> {
        let fail = |reason: &str| {
            Err(ChainBreak {
                seq: e.seq,
                reason: reason.to_owned(),
            })
        };
        self.check_position(e.seq)?;
        if e.prev_hash != self.prev_hash {
            return fail("previous-hash link does not match the preceding event");
        }
        if !sha256_hex_is(e.text.as_bytes(), &e.hash) {
            return fail("content does not match its hash (the event was altered)");
        }
        if let Some(reason) = disagreement(e) {
            return fail(reason);
        }
        self.advance(e.seq, &e.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::sha256_hex;
    use crate::ledger::tests::chain;

    fn stored(c: &[crate::ledger::ChainedEvent]) -> Vec<StoredEvent> {
        c.iter()
            .map(|e| StoredEvent {
                tenant_id: e.event.tenant_id,
                seq: e.event.seq,
                kind: e.event.body.kind.as_str().to_owned(),
                consent_id: e.event.body.consent_id,
                prev_hash: e.event.prev_hash.clone(),
                at_micros: i64::try_from(e.event.body.at.unix_timestamp_nanos() / 1000).unwrap(),
                text: e.event.canonical_json(),
                hash: e.hash.clone(),
            })
            .collect()
    }

    fn first_break(rows: &[StoredEvent], sealed: &[(i64, &str)]) -> Option<ChainBreak> {
        let mut v = ChainVerifier::default();
        v.expect_checkpoints(sealed.iter().map(|(s, h)| (*s, (*h).to_owned())));
        rows.iter()
            .try_for_each(|e| v.push_stored(e))
            .and_then(|()| v.finish())
            .err()
    }

    #[test]
    fn an_events_facts_are_read_from_its_text() {
        let c = chain(2);
        let rows = stored(&c);
        let facts = rows[1].facts().unwrap();
        let mut v = ChainVerifier::default();
        v.push_stored_facts(&rows[0]).unwrap();
        assert_eq!(v.push_stored_facts(&rows[1]).unwrap(), facts);
        let mut tampered = rows.clone();
        tampered[0].kind = "withdrawn".into();
        assert!(ChainVerifier::default()
            .push_stored_facts(&tampered[0])
            .unwrap_err()
            .reason
            .contains("kind"));
        let body = &c[1].event.body;
        assert_eq!(facts.kind, body.kind);
        assert_eq!(facts.consent_id, body.consent_id);
        assert_eq!(facts.connection_id, body.connection_id);
        assert_eq!(facts.text_sha256, body.text_sha256);
        assert_eq!(facts.data_uses, body.data_uses);
    }

    #[test]
    fn stored_events_verify_like_parsed_ones() {
        let rows = stored(&chain(6));
        assert_eq!(first_break(&rows, &[]), None);
        let head = rows[5].hash.clone();
        assert_eq!(first_break(&rows, &[(6, &head)]), None);
    }

    #[test]
    fn every_kind_of_change_is_named_at_its_event() {
        let rows = stored(&chain(6));
        let at = |rows: &[StoredEvent]| first_break(rows, &[]).map(|b| (b.seq, b.reason));

        let mut r = rows.clone();
        r[2].text = r[2]
            .text
            .replacen("hosted_flow_checkbox", "hosted_flow_checkbok", 1);
        assert_eq!(at(&r).unwrap().0, 3);

        // Text and hash rewritten together: the next event's link breaks.
        let mut r = rows.clone();
        r[2].text = r[2]
            .text
            .replacen("hosted_flow_checkbox", "hosted_flow_checkbok", 1);
        r[2].hash = sha256_hex(r[2].text.as_bytes());
        assert_eq!(at(&r).unwrap().0, 4);

        let mut r = rows.clone();
        r[3].kind = if rows[3].kind == "given" {
            "withdrawn"
        } else {
            "given"
        }
        .into();
        assert!(at(&r).unwrap().1.contains("kind"));

        let mut r = rows.clone();
        r[1].at_micros += 1;
        assert!(at(&r).unwrap().1.contains("time"));

        let mut r = rows.clone();
        r.swap(1, 2);
        assert_eq!(at(&r).unwrap().0, 2);
    }

    #[test]
    fn a_rewritten_or_truncated_tail_is_caught_by_its_checkpoint() {
        let rows = stored(&chain(6));
        let sealed_head = rows[5].hash.clone();

        // The last event rewritten with a consistent hash: only the checkpoint can tell.
        let mut r = rows.clone();
        r[5].text = r[5]
            .text
            .replacen("hosted_flow_checkbox", "hosted_flow_checkbok", 1);
        r[5].hash = sha256_hex(r[5].text.as_bytes());
        assert_eq!(first_break(&r, &[]), None, "without a checkpoint");
        let b = first_break(&r, &[(6, &sealed_head)]).unwrap();
        assert_eq!(b.seq, 6);
        assert!(b.reason.contains("checkpoint"), "{}", b.reason);

        // The last two events deleted.
        let b = first_break(&rows[..4], &[(6, &sealed_head)]).unwrap();
        assert_eq!(b.seq, 5);
        assert!(b.reason.contains("checkpoint"), "{}", b.reason);
    }
}
