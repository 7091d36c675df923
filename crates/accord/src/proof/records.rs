//! Records against the ledger, for `accord ledger verify`: the chain proves the events were not
//! changed, but the API serves the consent, connection and NDA rows, which an edit behind
//! Accord's back could change without touching a single event. Every row is compared with the
//! events that recorded it, and each disagreement is named (tenant, record, event position,
//! what differs):
//!
//! - a consent: its text hashes to its fingerprint, which is the one its `given` or
//!   `reconsented` event recorded, with the same connection, company, notice version and data
//!   uses; it is in force exactly when no `withdrawn`, `expired` or `superseded` event ended it,
//!   and it ended at the time that event says;
//! - a connection: the consent it names is the one of the last consent event on it, and its
//!   status agrees with that event (`disconnected` only after a withdrawal or an expiry, never
//!   after a withdrawal anything but `disconnected`);
//! - an NDA acceptance: its document hashes to its fingerprint, which its `nda_accepted` event
//!   recorded for the same company, at the position the row names;
//! - and each event's record exists: a row deleted leaves its events without one.
//!
//! The events' facts are gathered while the chain is verified ([`Recorder::push`]), then the
//! rows are read page by page along their primary key (one query a page) and matched, the
//! consents, connections and NDAs at the same time. Consents and connections are read as
//! `LedgerStore::consent_records` and `connection_records`: only the compared columns.

use accord_domain::connection::ConnectionStatus;
use accord_domain::crypto::sha256_hex;
use accord_domain::ids::{ConnectionId, ConsentId, TenantId};
use accord_domain::ledger::{EventFacts, EventKind};
use accord_domain::nda::NdaAcceptance;
use accord_store::{ConnectionRecord, ConsentRecord, Store, StoreError};
use std::collections::{HashMap, HashSet};

/// Rows read per store call.
const PAGE: u32 = 2_000;

/// A record that disagrees with the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// `consent <id>`, `connection <id>`, `NDA <id>`.
    pub record: String,
    /// The ledger position concerned, when there is one.
    pub position: Option<i64>,
    pub what: String,
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some(p) => write!(f, "{} (event {p}): {}", self.record, self.what),
            None => write!(f, "{}: {}", self.record, self.what),
        }
    }
}

/// The events of one consent, as far as the records are concerned.
#[derive(Debug, Default)]
struct Trail {
    /// Its `given` or `reconsented` event.
    recorded: Option<(i64, EventFacts)>,
    /// A second one (a consent is recorded once).
    recorded_again: Option<i64>,
    /// The first event that ended it, with its time (unix microseconds).
    ended: Option<(i64, EventKind, i64)>,
}

/// The facts of a tenant's events, gathered while its chain is verified.
#[derive(Debug, Default)]
pub struct Recorder {
    consents: HashMap<ConsentId, Trail>,
    /// The last consent event on each connection: position, kind, consent.
    connections: HashMap<ConnectionId, (i64, EventKind, ConsentId)>,
    ndas: HashMap<ConsentId, (i64, EventFacts)>,
    /// When a consent was recorded on each connection (unix microseconds): before `superseded`
    /// events existed, a consent replaced on its connection ended at the instant the newer one
    /// was recorded there, and that event was the record of its end.
    recorded_on: HashSet<(ConnectionId, i64)>,
}

impl Recorder {
    /// The next event of the chain (verified), its facts and time.
    pub fn push(&mut self, seq: i64, at_micros: i64, facts: EventFacts) {
        if let Some(connection) = facts.connection_id {
            self.connections
                .insert(connection, (seq, facts.kind, facts.consent_id));
        }
        match facts.kind {
            EventKind::NdaAccepted => {
                self.ndas.insert(facts.consent_id, (seq, facts));
            }
            EventKind::Given | EventKind::Reconsented => {
                if let Some(connection) = facts.connection_id {
                    self.recorded_on.insert((connection, at_micros));
                }
                let trail = self.consents.entry(facts.consent_id).or_default();
                if trail.recorded.is_some() {
                    trail.recorded_again.get_or_insert(seq);
                } else {
                    trail.recorded = Some((seq, facts));
                }
            }
            EventKind::Withdrawn | EventKind::Expired | EventKind::Superseded => {
                let trail = self.consents.entry(facts.consent_id).or_default();
                trail.ended.get_or_insert((seq, facts.kind, at_micros));
            }
        }
    }

    /// Compares every consent, connection and NDA row of `tenant` with the events gathered.
    /// The three kinds are read at once (each on a read connection of its own), each along its
    /// primary key a page at a time, the next page read while the current one is compared.
    pub async fn compare(
        self,
        store: &dyn Store,
        tenant: TenantId,
    ) -> Result<Vec<Disagreement>, StoreError> {
        let Self {
            mut consents,
            mut connections,
            mut ndas,
            recorded_on,
        } = self;
        let consents_checked = async {
            let mut found = Vec::new();
            let mut texts = Texts::default();
            let read = |after| store.consent_records(tenant, after, PAGE);
            each_page(
                read,
                |k: &ConsentRecord| k.id,
                |page| {
                    for k in page {
                        let trail = consents.remove(&k.id).unwrap_or_default();
                        found.extend(consent_disagreement(k, &trail, &recorded_on, &mut texts));
                    }
                },
            )
            .await?;
            found.extend(consents.into_iter().filter_map(|(id, trail)| {
                let (seq, _) = trail.recorded?;
                Some(Disagreement {
                    record: format!("consent {id}"),
                    position: Some(seq),
                    what: "the ledger records it, but the database holds no such consent (its row was deleted)".into(),
                })
            }));
            Ok::<_, StoreError>(found)
        };
        let connections_checked = async {
            let mut found = Vec::new();
            let read = |after| store.connection_records(tenant, after, PAGE);
            each_page(
                read,
                |c: &ConnectionRecord| c.id,
                |page| {
                    for c in page {
                        let last = connections.remove(&c.id);
                        found.extend(connection_disagreement(c, last));
                    }
                },
            )
            .await?;
            found.extend(connections.into_iter().map(|(id, (seq, _, _))| Disagreement {
                record: format!("connection {id}"),
                position: Some(seq),
                what: "the ledger records consent events on it, but the database holds no such connection (its row was deleted)".into(),
            }));
            Ok::<_, StoreError>(found)
        };
        let ndas_checked = async {
            let mut found = Vec::new();
            for n in store.ndas(tenant).await? {
                let event = ndas.remove(&n.consent_id());
                found.extend(nda_disagreement(&n, event));
            }
            found.extend(ndas.into_iter().map(|(id, (seq, _))| Disagreement {
                record: format!("NDA {id}"),
                position: Some(seq),
                what: "the ledger records its acceptance, but the database holds no such NDA (its row was deleted)".into(),
            }));
            Ok::<_, StoreError>(found)
        };
        let (mut found, on_connections, on_ndas) =
            tokio::try_join!(consents_checked, connections_checked, ndas_checked)?;
        found.extend(on_connections);
        found.extend(on_ndas);
        found.sort_by_key(|d| d.position.unwrap_or(i64::MAX));
        Ok(found)
    }
}

/// Reads rows a page at a time with `read` (given the id of the last row read, `None` at
/// first) until a page comes back empty, handing each page to `each` while the next one is
/// read.
async fn each_page<T, Id, Read, Fut>(
    mut read: Read,
    id_of: impl Fn(&T) -> Id,
    mut each: impl FnMut(&[T]),
) -> Result<(), StoreError>
where
    Read: FnMut(Option<Id>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, StoreError>>,
{
    let mut page = read(None).await?;
    while let Some(last) = page.last() {
        let next = read(Some(id_of(last)));
        let (next, ()) = tokio::join!(next, async { each(&page) });
        page = next?;
    }
    Ok(())
}

/// How many distinct notice texts [`Texts`] keeps (a tenant has a few notice versions).
const TEXTS_KEPT: usize = 256;

/// Notice texts already hashed, each under the fingerprint it hashes to. A tenant's consents
/// share a handful of notice versions, so most texts are one already hashed: comparing the
/// bytes costs a fraction of SHA-256 over a notice. Only a text that did hash to its
/// fingerprint is kept, so a text equal to it hashes to the same fingerprint.
#[derive(Debug, Default)]
struct Texts {
    hashed: HashMap<String, String>,
}

impl Texts {
    /// Whether `text` hashes (SHA-256, hex) to `fingerprint`.
    fn hash_to(&mut self, text: &str, fingerprint: &str) -> bool {
        if self.hashed.get(fingerprint).is_some_and(|t| t == text) {
            return true;
        }
        let agrees = sha256_hex(text.as_bytes()) == fingerprint;
        if agrees && self.hashed.len() < TEXTS_KEPT {
            self.hashed.insert(fingerprint.to_owned(), text.to_owned());
        }
        agrees
    }
}

fn micros(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MIN)
}

/// Where a consent row disagrees with its events.
fn consent_disagreement(
    k: &ConsentRecord,
    trail: &Trail,
    recorded_on: &HashSet<(ConnectionId, i64)>,
    texts: &mut Texts,
) -> Vec<Disagreement> {
    let mut out = Vec::new();
    let mut say = |position: Option<i64>, what: String| {
        out.push(Disagreement {
            record: format!("consent {}", k.id),
            position,
            what,
        });
    };
    let Some((seq, given)) = &trail.recorded else {
        say(
            trail.ended.map(|(p, _, _)| p),
            "no `given` or `reconsented` event records it".into(),
        );
        return out;
    };
    let at = Some(*seq);
    if !texts.hash_to(&k.notice_text, &k.notice_sha256) {
        say(
            at,
            "its text does not hash to its recorded fingerprint (the text was edited)".into(),
        );
    }
    if given.text_sha256 != k.notice_sha256 {
        say(
            at,
            format!(
                "its text fingerprint {} differs from the {} its event recorded",
                k.notice_sha256, given.text_sha256
            ),
        );
    }
    let fields = [
        ("connection", given.connection_id != Some(k.connection_id)),
        ("company", given.company_id != k.company_id),
        (
            "notice version",
            given.notice_version_id != Some(k.notice_version_id),
        ),
        ("data uses", given.data_uses != k.data_uses),
    ];
    for (field, differs) in fields {
        if differs {
            say(at, format!("its {field} differs from its event's"));
        }
    }
    if let Some(again) = trail.recorded_again {
        say(
            Some(again),
            "a second event records it as given again".into(),
        );
    }
    match (k.withdrawn_at, trail.ended) {
        (None, Some((p, kind, _))) => say(
            Some(p),
            format!(
                "it is in force, but the ledger records it {}",
                kind.as_str()
            ),
        ),
        // Superseded before its own event existed: the newer consent's event records the end.
        (Some(w), None) if recorded_on.contains(&(k.connection_id, micros(w))) => {}
        (Some(w), None) => say(at, format!("it ended at {w}, but no event records its end")),
        (Some(w), Some((p, kind, ended_at))) if micros(w) != ended_at => say(
            Some(p),
            format!(
                "it ended at {w}, but its `{}` event is at another time",
                kind.as_str()
            ),
        ),
        _ => {}
    }
    out
}

/// Where a connection row disagrees with the last consent event on it.
fn connection_disagreement(
    c: &ConnectionRecord,
    last: Option<(i64, EventKind, ConsentId)>,
) -> Vec<Disagreement> {
    let record = || format!("connection {}", c.id);
    let Some((seq, kind, consent)) = last else {
        return vec![Disagreement {
            record: record(),
            position: None,
            what: "no consent event names it".into(),
        }];
    };
    let mut out = Vec::new();
    if c.consent_id != Some(consent) {
        out.push(Disagreement {
            record: record(),
            position: Some(seq),
            what: format!(
                "it names consent {} but the last consent event on it is about consent {consent}",
                c.consent_id
                    .map_or_else(|| "none".to_owned(), |k| k.to_string())
            ),
        });
    }
    let agrees = match kind {
        EventKind::Given | EventKind::Reconsented => c.status != ConnectionStatus::Disconnected,
        EventKind::Withdrawn => c.status == ConnectionStatus::Disconnected,
        EventKind::Expired => matches!(
            c.status,
            ConnectionStatus::ReconsentRequired | ConnectionStatus::Disconnected
        ),
        // A superseded consent is followed by the one that replaced it.
        EventKind::Superseded | EventKind::NdaAccepted => false,
    };
    if !agrees {
        out.push(Disagreement {
            record: record(),
            position: Some(seq),
            what: format!(
                "its status is {} but the last consent event on it is `{}`",
                c.status,
                kind.as_str()
            ),
        });
    }
    out
}

/// Where an NDA acceptance row disagrees with its `nda_accepted` event.
fn nda_disagreement(n: &NdaAcceptance, event: Option<(i64, EventFacts)>) -> Vec<Disagreement> {
    let record = || format!("NDA {}", n.id);
    let Some((seq, facts)) = event else {
        return vec![Disagreement {
            record: record(),
            position: (n.ledger_seq > 0).then_some(n.ledger_seq),
            what: "no `nda_accepted` event records it".into(),
        }];
    };
    let mut out = Vec::new();
    let mut say = |what: String| {
        out.push(Disagreement {
            record: record(),
            position: Some(seq),
            what,
        });
    };
    if sha256_hex(n.document_text.as_bytes()) != n.document_sha256 {
        say("its document does not hash to its recorded fingerprint (the text was edited)".into());
    }
    if facts.text_sha256 != n.document_sha256 {
        say("its document fingerprint differs from the one its event recorded".into());
    }
    if facts.company_id != n.company_id {
        say("its company differs from its event's".into());
    }
    if n.ledger_seq != seq {
        say(format!(
            "it names ledger position {} but its event is at {seq}",
            n.ledger_seq
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_domain::ids::{CompanyId, NoticeVersionId};
    use time::OffsetDateTime;

    fn consent(withdrawn_at: Option<OffsetDateTime>) -> ConsentRecord {
        let text = "We read your invoices.".to_owned();
        ConsentRecord {
            id: ConsentId::new(),
            company_id: CompanyId::new(),
            connection_id: ConnectionId::new(),
            notice_version_id: NoticeVersionId::new(),
            data_uses: Vec::new(),
            notice_sha256: sha256_hex(text.as_bytes()),
            notice_text: text,
            withdrawn_at,
        }
    }

    fn recorded(k: &ConsentRecord) -> Trail {
        Trail {
            recorded: Some((
                1,
                EventFacts {
                    kind: EventKind::Given,
                    consent_id: k.id,
                    company_id: k.company_id,
                    connection_id: Some(k.connection_id),
                    notice_version_id: Some(k.notice_version_id),
                    text_sha256: k.notice_sha256.clone(),
                    data_uses: Vec::new(),
                },
            )),
            ..Trail::default()
        }
    }

    #[test]
    fn an_end_is_recorded_by_its_event_or_by_the_consent_that_replaced_it_before_superseded_events()
    {
        let ended = OffsetDateTime::from_unix_timestamp(1_800_000_100).unwrap();
        let k = consent(Some(ended));
        let trail = recorded(&k);
        let none = HashSet::new();
        let found = consent_disagreement(&k, &trail, &none, &mut Texts::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].what.contains("no event records its end"));
        // A newer consent recorded on the same connection at that instant: an old supersession.
        let replaced = HashSet::from([(k.connection_id, micros(ended))]);
        assert!(consent_disagreement(&k, &trail, &replaced, &mut Texts::default()).is_empty());
        // In force, and agreeing with its event.
        let k = consent(None);
        assert!(consent_disagreement(&k, &recorded(&k), &none, &mut Texts::default()).is_empty());
        let mut edited = k.clone();
        edited.notice_text.push('!');
        let found = consent_disagreement(&edited, &recorded(&k), &none, &mut Texts::default());
        assert!(found[0].what.contains("does not hash"), "{found:?}");
    }

    #[test]
    fn a_text_equal_to_one_hashed_is_not_hashed_again_and_an_edited_one_still_fails() {
        let mut texts = Texts::default();
        let k = consent(None);
        assert!(texts.hash_to(&k.notice_text, &k.notice_sha256));
        assert!(
            texts.hash_to(&k.notice_text, &k.notice_sha256),
            "from the kept text"
        );
        let edited = format!("{}!", k.notice_text);
        assert!(!texts.hash_to(&edited, &k.notice_sha256));
        // A wrong fingerprint is never kept: the same pair fails again.
        assert!(!texts.hash_to(&edited, &k.notice_sha256));
        // Through the comparison, after the true text was kept.
        let mut tampered = k.clone();
        tampered.notice_text = edited;
        let found = consent_disagreement(&tampered, &recorded(&k), &HashSet::new(), &mut texts);
        assert!(found[0].what.contains("does not hash"), "{found:?}");
    }
}
