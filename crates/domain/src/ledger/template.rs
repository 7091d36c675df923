//! An event's canonical JSON with the two values its chain position sets cut out, so the
//! serialising (the costly part of an append) happens in the caller's task before the write is
//! queued, and the writer that holds the chain only splices in the previous hash and the position
//! and hashes the result. Both stores use it: SQLite's writer splices in Rust, PostgreSQL's batch
//! statement in SQL.

use super::{ChainedEvent, EventBody, LedgerEvent};
use crate::crypto::sha256_hex;
use crate::ids::TenantId;

/// `json = before_prev || prev_hash || between || seq || after`. Keys are sorted in canonical
/// JSON (RFC 8785), `prev_hash` before `purpose` before `seq`, and a key's quotes can only
/// appear unescaped as a key, so each cut is found exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTemplate {
    pub tenant_id: TenantId,
    pub body: EventBody,
    pub before_prev: String,
    pub between: String,
    pub after: String,
}

/// The canonical JSON could not be cut (it would mean the event's shape changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a ledger event's canonical JSON cannot be cut for chaining")]
pub struct TemplateError;

/// Stand-ins for the values cut out: a 64-character hash and a position, as JSON renders them.
const PREV_MARK: &str = "\"prev_hash\":\"";
const SEQ_STANDIN: i64 = 987_654_321;

impl EventTemplate {
    pub fn of(tenant: TenantId, body: EventBody) -> Result<Self, TemplateError> {
        let standin_hash = "f".repeat(64);
        let event = LedgerEvent {
            tenant_id: tenant,
            seq: SEQ_STANDIN,
            prev_hash: standin_hash.clone(),
            body,
        };
        let json = event.canonical_json();
        let prev_key = format!("{PREV_MARK}{standin_hash}\"");
        let seq_key = format!("\"seq\":{SEQ_STANDIN},");
        let cut = |key: &str| {
            let mut found = json.match_indices(key);
            match (found.next(), found.next()) {
                (Some((at, _)), None) => Ok(at),
                _ => Err(TemplateError),
            }
        };
        let (p, s) = (cut(&prev_key)?, cut(&seq_key)?);
        if p > s {
            return Err(TemplateError);
        }
        let prev_value = p + PREV_MARK.len();
        let seq_value = s + "\"seq\":".len();
        let before_prev = json[..prev_value].to_owned();
        let between = json[prev_value + 64..seq_value].to_owned();
        let after = json[seq_value + SEQ_STANDIN.to_string().len()..].to_owned();
        Ok(Self {
            tenant_id: tenant,
            body: event.body,
            before_prev,
            between,
            after,
        })
    }

    /// The canonical JSON of the event at `seq` after `prev_hash`.
    pub fn render(&self, prev_hash: &str, seq: i64) -> String {
        let mut s = String::with_capacity(
            self.before_prev.len() + prev_hash.len() + self.between.len() + 20 + self.after.len(),
        );
        s.push_str(&self.before_prev);
        s.push_str(prev_hash);
        s.push_str(&self.between);
        s.push_str(&seq.to_string());
        s.push_str(&self.after);
        s
    }

    /// Places the event after `(prev_seq, prev_hash)` (or first): the chained event and the
    /// exact canonical text its hash is over.
    pub fn chain(self, prev: Option<(i64, &str)>) -> (ChainedEvent, String) {
        let (seq, prev_hash) = match prev {
            Some((s, h)) => (s + 1, h),
            None => (1, super::GENESIS),
        };
        let text = self.render(prev_hash, seq);
        let hash = sha256_hex(text.as_bytes());
        let event = LedgerEvent {
            tenant_id: self.tenant_id,
            seq,
            prev_hash: prev_hash.to_owned(),
            body: self.body,
        };
        (ChainedEvent { event, hash }, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::tests::body;
    use crate::ledger::{append, EventKind, GENESIS};

    /// What a store builds from a template is byte for byte what `append` hashes, whatever the
    /// text and wherever in the chain.
    #[test]
    fn a_template_renders_the_canonical_json_at_any_position() {
        let tenant = TenantId::new();
        let purposes = [
            "plain",
            "quotes \" and \\ backslashes, \"prev_hash\":\"ffff\" and \"seq\":987654321,",
            "Évaluer « votre » demande — 😀",
        ];
        for purpose in purposes {
            for (prev, seq) in [
                (GENESIS.to_owned(), 1),
                ("ab".repeat(32), 1_234_567_890_123),
            ] {
                let mut b = body(EventKind::Given);
                b.purpose = purpose.into();
                let t = EventTemplate::of(tenant, b.clone()).unwrap();
                assert_eq!(
                    t.render(&prev, seq).len(),
                    t.clone()
                        .chain((seq > 1).then_some((seq - 1, prev.as_str())))
                        .1
                        .len()
                );
                let expected = append(tenant, (seq > 1).then_some((seq - 1, prev.as_str())), b);
                let (chained, text) = t.chain((seq > 1).then_some((seq - 1, prev.as_str())));
                assert_eq!(text, expected.event.canonical_json());
                assert_eq!(chained, expected);
            }
        }
    }
}
