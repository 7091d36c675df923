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
//! The rows are read while the chain is verified, not after it ([`Records::read`]): reading
//! them does not need the events, only comparing them does. Each kind is read page by page
//! along its primary key (one query a page), the consents, connections and NDAs at the same
//! time, and each row is reduced at once to what is compared (a text is checked against its
//! fingerprint as it is read, then dropped). Meanwhile the events' facts are gathered by the
//! chain pass ([`Recorder::push`]); the two meet at the end ([`Recorder::compare`]). Consents
//! and connections are read as `LedgerStore::consent_records` and `connection_records`: only
//! the compared columns.
//!
//! Memory: a consent is kept as about 120 bytes (four ids, its end, whether its text hashes to
//! its fingerprint, and the fingerprint and data uses shared with every consent that has the
//! same ones), so a million consents hold about 120 MB until compared, beside the events'
//! facts the chain pass gathers.

use accord_domain::catalog::DataUse;
use accord_domain::connection::ConnectionStatus;
use accord_domain::crypto::sha256_hex;
use accord_domain::ids::{
    CompanyId, ConnectionId, ConsentId, NdaAcceptanceId, NoticeVersionId, TenantId,
};
use accord_domain::ledger::{EventFacts, EventKind};
use accord_domain::nda::NdaAcceptance;
use accord_store::{ConnectionRecord, ConsentRecord, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;
use time::OffsetDateTime;

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

    /// Compares every consent, connection and NDA row read with the events gathered, in the
    /// order of the events concerned.
    pub fn compare(self, records: &Records) -> Vec<Disagreement> {
        let Self {
            mut consents,
            mut connections,
            mut ndas,
            recorded_on,
        } = self;
        let mut found = Vec::new();
        for k in &records.consents {
            let trail = consents.remove(&k.id).unwrap_or_default();
            found.extend(consent_disagreement(k, &trail, &recorded_on));
        }
        found.extend(consents.into_iter().filter_map(|(id, trail)| {
            let (seq, _) = trail.recorded?;
            Some(Disagreement {
                record: format!("consent {id}"),
                position: Some(seq),
                what: "the ledger records it, but the database holds no such consent (its row was deleted)".into(),
            })
        }));
        for c in &records.connections {
            let last = connections.remove(&c.id);
            found.extend(connection_disagreement(c, last));
        }
        found.extend(connections.into_iter().map(|(id, (seq, _, _))| Disagreement {
            record: format!("connection {id}"),
            position: Some(seq),
            what: "the ledger records consent events on it, but the database holds no such connection (its row was deleted)".into(),
        }));
        for n in &records.ndas {
            let event = ndas.remove(&n.consent_id);
            found.extend(nda_disagreement(n, event));
        }
        found.extend(ndas.into_iter().map(|(id, (seq, _))| Disagreement {
            record: format!("NDA {id}"),
            position: Some(seq),
            what: "the ledger records its acceptance, but the database holds no such NDA (its row was deleted)".into(),
        }));
        found.sort_by_key(|d| d.position.unwrap_or(i64::MAX));
        found
    }
}

/// A tenant's consent, connection and NDA rows, each reduced to what is compared with the
/// events, in primary key order.
#[derive(Debug, Default)]
pub struct Records {
    consents: Vec<ConsentRow>,
    connections: Vec<ConnectionRecord>,
    ndas: Vec<NdaRow>,
}

impl Records {
    /// Reads every consent, connection and NDA row of `tenant`. The three kinds are read at
    /// once (each on a read connection of its own), each along its primary key a page at a
    /// time, the next page read while the current one is reduced.
    pub async fn read(store: &dyn Store, tenant: TenantId) -> Result<Records, StoreError> {
        let consents = async {
            let mut rows = Vec::new();
            let mut reduce = Reduce::default();
            let read = |after| store.consent_records(tenant, after, PAGE);
            each_page(
                read,
                |k: &ConsentRecord| k.id,
                |page| rows.extend(page.iter().map(|k| reduce.consent(k))),
            )
            .await?;
            Ok::<_, StoreError>(rows)
        };
        let connections = async {
            let mut rows = Vec::new();
            let read = |after| store.connection_records(tenant, after, PAGE);
            each_page(
                read,
                |c: &ConnectionRecord| c.id,
                |page| rows.extend_from_slice(page),
            )
            .await?;
            Ok::<_, StoreError>(rows)
        };
        let ndas = async {
            let read = store.ndas(tenant).await?;
            Ok::<_, StoreError>(read.iter().map(NdaRow::of).collect())
        };
        let (consents, connections, ndas) = tokio::try_join!(consents, connections, ndas)?;
        Ok(Records {
            consents,
            connections,
            ndas,
        })
    }
}

/// What is compared of a consent row.
#[derive(Debug, Clone)]
struct ConsentRow {
    id: ConsentId,
    company_id: CompanyId,
    connection_id: ConnectionId,
    notice_version_id: NoticeVersionId,
    data_uses: Arc<[DataUse]>,
    notice_sha256: Arc<str>,
    /// Whether its text hashes to `notice_sha256` (the text itself is not kept).
    text_hashes: bool,
    withdrawn_at: Option<OffsetDateTime>,
}

/// What is compared of an NDA acceptance row.
#[derive(Debug, Clone)]
struct NdaRow {
    id: NdaAcceptanceId,
    consent_id: ConsentId,
    company_id: CompanyId,
    document_sha256: String,
    /// Whether its document hashes to `document_sha256` (the document is not kept).
    document_hashes: bool,
    ledger_seq: i64,
}

impl NdaRow {
    fn of(n: &NdaAcceptance) -> NdaRow {
        NdaRow {
            id: n.id,
            consent_id: n.consent_id(),
            company_id: n.company_id,
            document_sha256: n.document_sha256.clone(),
            document_hashes: sha256_hex(n.document_text.as_bytes()) == n.document_sha256,
            ledger_seq: n.ledger_seq,
        }
    }
}

/// Reduces consent rows as they are read: the texts checked (see [`Texts`]), and fingerprints
/// and data uses shared between the consents that have equal ones, so a million consents of a
/// few notice versions hold a few copies of each, not a million.
#[derive(Debug, Default)]
struct Reduce {
    texts: Texts,
    fingerprints: Shared<str>,
    uses: Shared<[DataUse]>,
}

impl Reduce {
    fn consent(&mut self, k: &ConsentRecord) -> ConsentRow {
        ConsentRow {
            id: k.id,
            company_id: k.company_id,
            connection_id: k.connection_id,
            notice_version_id: k.notice_version_id,
            data_uses: self.uses.get(&k.data_uses),
            notice_sha256: self.fingerprints.get(&k.notice_sha256),
            text_hashes: self.texts.hash_to(&k.notice_text, &k.notice_sha256),
            withdrawn_at: k.withdrawn_at,
        }
    }
}

/// Values shared by equal ones: at most [`TEXTS_KEPT`] distinct values are kept for sharing,
/// further ones are each their own copy (a tenant whose every consent differs costs what it
/// would unshared).
#[derive(Debug)]
struct Shared<T: ?Sized> {
    kept: HashSet<Arc<T>>,
}

impl<T: ?Sized> Default for Shared<T> {
    fn default() -> Self {
        Shared {
            kept: HashSet::new(),
        }
    }
}

impl<T: ?Sized + Eq + Hash> Shared<T>
where
    for<'a> Arc<T>: From<&'a T>,
{
    fn get(&mut self, value: &T) -> Arc<T> {
        if let Some(kept) = self.kept.get(value) {
            return Arc::clone(kept);
        }
        let new: Arc<T> = Arc::from(value);
        if self.kept.len() < TEXTS_KEPT {
            self.kept.insert(Arc::clone(&new));
        }
        new
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
    k: &ConsentRow,
    trail: &Trail,
    recorded_on: &HashSet<(ConnectionId, i64)>,
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
    if !k.text_hashes {
        say(
            at,
            "its text does not hash to its recorded fingerprint (the text was edited)".into(),
        );
    }
    if given.text_sha256 != *k.notice_sha256 {
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
        ("data uses", *given.data_uses != *k.data_uses),
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
fn nda_disagreement(n: &NdaRow, event: Option<(i64, EventFacts)>) -> Vec<Disagreement> {
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
    if !n.document_hashes {
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

    /// A consent row reduced on its own.
    fn row(k: &ConsentRecord) -> ConsentRow {
        Reduce::default().consent(k)
    }

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
        let found = consent_disagreement(&row(&k), &trail, &none);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].what.contains("no event records its end"));
        // A newer consent recorded on the same connection at that instant: an old supersession.
        let replaced = HashSet::from([(k.connection_id, micros(ended))]);
        assert!(consent_disagreement(&row(&k), &trail, &replaced).is_empty());
        // In force, and agreeing with its event.
        let k = consent(None);
        assert!(consent_disagreement(&row(&k), &recorded(&k), &none).is_empty());
        let mut edited = k.clone();
        edited.notice_text.push('!');
        let found = consent_disagreement(&row(&edited), &recorded(&k), &none);
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
        let mut reduce = Reduce {
            texts,
            ..Reduce::default()
        };
        let found =
            consent_disagreement(&reduce.consent(&tampered), &recorded(&k), &HashSet::new());
        assert!(found[0].what.contains("does not hash"), "{found:?}");
    }

    #[test]
    fn consents_of_one_notice_share_its_fingerprint_and_a_wrong_text_is_still_known() {
        let mut reduce = Reduce::default();
        let k = consent(None);
        let mut other = consent(None);
        other.notice_text.push('!');
        let (a, b) = (reduce.consent(&k), reduce.consent(&other));
        assert!(Arc::ptr_eq(&a.notice_sha256, &b.notice_sha256));
        assert!(Arc::ptr_eq(&a.data_uses, &b.data_uses));
        assert!(a.text_hashes);
        assert!(
            !b.text_hashes,
            "the edited text does not hash to the shared fingerprint"
        );
        let found = consent_disagreement(&b, &recorded(&other), &HashSet::new());
        assert!(found[0].what.contains("does not hash"), "{found:?}");
    }
}
