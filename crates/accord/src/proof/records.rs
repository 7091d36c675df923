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
//! facts the chain pass gathers (about 150 bytes an event, the fingerprints and data uses
//! shared the same way).
//!
//! The facts are kept in hash maps keyed by id, a million inserts and as many lookups at a
//! million events: they hash with foldhash, not std's `SipHash` (whose rounds on a 16-byte id
//! were most of the maps' cost), seeded at random per map as std's are, since the ids come
//! from a database that may have been tampered with; and they are sized once from the chain's
//! length ([`Recorder::with_capacity`]) rather than grown and rehashed along the way.

use accord_domain::catalog::DataUse;
use accord_domain::connection::ConnectionStatus;
use accord_domain::crypto::sha256_hex_is;
use accord_domain::ids::{
    CompanyId, ConnectionId, ConsentId, NdaAcceptanceId, NoticeVersionId, TenantId,
};
use accord_domain::ledger::{EventFacts, EventKind};
use accord_domain::nda::NdaAcceptance;
use accord_store::{ConnectionRecord, ConsentRecord, Pages, Spent, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;
use time::OffsetDateTime;

/// A map keyed by ids (see the module's comment for the hasher).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
/// A set hashed as [`Map`] is.
type Set<T> = HashSet<T, foldhash::fast::RandomState>;

/// Rows sent at a time by the store.
const PAGE: u32 = 2_000;

/// Pages the store reads ahead of the one being reduced.
const PAGES_AHEAD: usize = 2;

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

/// What a `given`, `reconsented` or `nda_accepted` event says of its record, as far as it is
/// compared: its fingerprint and data uses shared with every event that has equal ones (a
/// chain's million events name a few notices).
#[derive(Debug, Clone)]
struct Said {
    company_id: CompanyId,
    connection_id: Option<ConnectionId>,
    notice_version_id: Option<NoticeVersionId>,
    text_sha256: Arc<str>,
    data_uses: Arc<[DataUse]>,
}

/// The events of one consent, as far as the records are concerned.
#[derive(Debug, Default)]
struct Trail {
    /// Its `given` or `reconsented` event.
    recorded: Option<(i64, Said)>,
    /// A second one (a consent is recorded once).
    recorded_again: Option<i64>,
    /// The first event that ended it, with its time (unix microseconds).
    ended: Option<(i64, EventKind, i64)>,
    /// A row was compared with it (set by [`Recorder::compare`]): a second row with the same
    /// id is compared as a row the ledger does not record.
    matched: bool,
}

/// The last consent event on a connection, as far as its row is concerned.
#[derive(Debug, Clone, Copy)]
struct LastEvent {
    seq: i64,
    kind: EventKind,
    consent: ConsentId,
    /// A row was compared with it (as [`Trail::matched`]).
    matched: bool,
}

/// When consents were recorded on each connection (connection, unix microseconds): before
/// `superseded` events existed, a consent replaced on its connection ended at the instant the
/// newer one was recorded there, and that event was the record of its end. Only a consent that
/// ended with no event of its end asks, so the pairs are appended in chain order (no hashing
/// per event) and sorted once, when first asked.
#[derive(Debug, Default)]
struct Recordings {
    all: Vec<(ConnectionId, i64)>,
    sorted: bool,
}

impl Recordings {
    fn push(&mut self, connection: ConnectionId, at_micros: i64) {
        self.all.push((connection, at_micros));
        self.sorted = false;
    }

    /// Whether a consent was recorded on `connection` at `at_micros`.
    fn contains(&mut self, connection: ConnectionId, at_micros: i64) -> bool {
        if !self.sorted {
            self.all.sort_unstable();
            self.sorted = true;
        }
        self.all.binary_search(&(connection, at_micros)).is_ok()
    }
}

/// The facts of a tenant's events, gathered while its chain is verified.
#[derive(Debug, Default)]
pub struct Recorder {
    consents: Map<ConsentId, Trail>,
    /// The last consent event on each connection: position, kind, consent.
    connections: Map<ConnectionId, LastEvent>,
    ndas: Map<ConsentId, (i64, Said)>,
    recorded_on: Recordings,
    fingerprints: Shared<str>,
    uses: Shared<[DataUse]>,
}

impl Recorder {
    /// A recorder whose maps hold `events` consents and connections without growing: the
    /// chain's length is the most either can reach.
    pub fn with_capacity(events: usize) -> Self {
        Recorder {
            consents: Map::with_capacity_and_hasher(events, foldhash::fast::RandomState::default()),
            connections: Map::with_capacity_and_hasher(
                events,
                foldhash::fast::RandomState::default(),
            ),
            recorded_on: Recordings {
                all: Vec::with_capacity(events),
                sorted: false,
            },
            ..Recorder::default()
        }
    }

    /// What `facts` say of their record, the fingerprint and data uses shared.
    fn said(&mut self, facts: &EventFacts) -> Said {
        Said {
            company_id: facts.company_id,
            connection_id: facts.connection_id,
            notice_version_id: facts.notice_version_id,
            text_sha256: self.fingerprints.get(&facts.text_sha256),
            data_uses: self.uses.get(&facts.data_uses),
        }
    }

    /// The next event of the chain (verified), its facts and time.
    pub fn push(&mut self, seq: i64, at_micros: i64, facts: &EventFacts) {
        if let Some(connection) = facts.connection_id {
            self.connections.insert(
                connection,
                LastEvent {
                    seq,
                    kind: facts.kind,
                    consent: facts.consent_id,
                    matched: false,
                },
            );
        }
        match facts.kind {
            EventKind::NdaAccepted => {
                let said = self.said(facts);
                self.ndas.insert(facts.consent_id, (seq, said));
            }
            EventKind::Given | EventKind::Reconsented => {
                if let Some(connection) = facts.connection_id {
                    self.recorded_on.push(connection, at_micros);
                }
                // Shared before the lookup: the entry borrows the map until it is filled.
                let said = self.said(facts);
                let trail = self.consents.entry(facts.consent_id).or_default();
                if trail.recorded.is_some() {
                    trail.recorded_again.get_or_insert(seq);
                } else {
                    trail.recorded = Some((seq, said));
                }
            }
            EventKind::Withdrawn | EventKind::Expired | EventKind::Superseded => {
                let trail = self.consents.entry(facts.consent_id).or_default();
                trail.ended.get_or_insert((seq, facts.kind, at_micros));
            }
        }
    }

    /// Compares every consent, connection and NDA row read with the events gathered, in the
    /// order of the events concerned. It runs after the whole chain is read, on one core unless
    /// split: the consents are compared on a thread of their own beside the connections and
    /// NDAs, each row looking its events up (a million lookups in maps of a million), and the
    /// maps are freed on another thread, which nothing waits for.
    pub fn compare(self, records: &Records) -> Vec<Disagreement> {
        let Self {
            mut consents,
            mut connections,
            ndas,
            mut recorded_on,
            ..
        } = self;
        let mut found = std::thread::scope(|scope| {
            let of_consents = scope
                .spawn(|| compare_consents(&mut consents, &records.consents, &mut recorded_on));
            let mut others = compare_connections(&mut connections, &records.connections);
            others.extend(compare_ndas(ndas, &records.ndas));
            let mut found = of_consents
                .join()
                .expect("comparing consents does not panic");
            found.append(&mut others);
            found
        });
        drop_aside((consents, connections, recorded_on));
        found.sort_by_key(|d| d.position.unwrap_or(i64::MAX));
        found
    }
}

/// Frees `value` (a million entries and more) on a thread of its own, which nothing waits
/// for; in place if no thread can be started.
pub(super) fn drop_aside<T: Send + 'static>(value: T) {
    // On failure the closure, and `value` with it, is dropped here.
    let _ = std::thread::Builder::new()
        .name("verify-free".into())
        .spawn(move || drop(value));
}

/// Each consent row against its events, then the consents the ledger records with no row. A
/// row is compared with its consent's events once: a second row with the same id (the table
/// keeps ids as text, and one id has several spellings) is compared as a row the ledger does
/// not record.
fn compare_consents(
    trails: &mut Map<ConsentId, Trail>,
    rows: &[ConsentRow],
    recorded_on: &mut Recordings,
) -> Vec<Disagreement> {
    let mut found = Vec::new();
    let none = Trail::default();
    let mut matched = 0;
    for k in rows {
        let trail = match trails.get_mut(&k.id) {
            Some(trail) if !trail.matched => {
                trail.matched = true;
                matched += 1;
                &*trail
            }
            _ => &none,
        };
        found.extend(consent_disagreement(k, trail, recorded_on));
    }
    if matched < trails.len() {
        found.extend(
            trails
                .iter()
                .filter(|(_, trail)| !trail.matched)
                .filter_map(|(id, trail)| {
                    let (seq, _) = trail.recorded.as_ref()?;
                    Some(Disagreement {
                        record: format!("consent {id}"),
                        position: Some(*seq),
                        what: "the ledger records it, but the database holds no such consent (its row was deleted)".into(),
                    })
                }),
        );
    }
    found
}

/// Each connection row against the last consent event on it, then the connections the ledger
/// names with no row; a second row with the same id is compared as [`compare_consents`] does.
fn compare_connections(
    last: &mut Map<ConnectionId, LastEvent>,
    rows: &[ConnectionRecord],
) -> Vec<Disagreement> {
    let mut found = Vec::new();
    let mut matched = 0;
    for c in rows {
        let event = match last.get_mut(&c.id) {
            Some(event) if !event.matched => {
                event.matched = true;
                matched += 1;
                Some((event.seq, event.kind, event.consent))
            }
            _ => None,
        };
        found.extend(connection_disagreement(c, event));
    }
    if matched < last.len() {
        found.extend(
            last.iter()
                .filter(|(_, event)| !event.matched)
                .map(|(id, event)| Disagreement {
                    record: format!("connection {id}"),
                    position: Some(event.seq),
                    what: "the ledger records consent events on it, but the database holds no such connection (its row was deleted)".into(),
                }),
        );
    }
    found
}

/// Each NDA acceptance row against its event, then the acceptances with no row.
fn compare_ndas(mut events: Map<ConsentId, (i64, Said)>, rows: &[NdaRow]) -> Vec<Disagreement> {
    let mut found = Vec::new();
    for n in rows {
        let event = events.remove(&n.consent_id);
        found.extend(nda_disagreement(n, event));
    }
    found.extend(events.into_iter().map(|(id, (seq, _))| Disagreement {
        record: format!("NDA {id}"),
        position: Some(seq),
        what: "the ledger records its acceptance, but the database holds no such NDA (its row was deleted)".into(),
    }));
    found
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
    /// once (each on a read connection of its own), each along its primary key in one call
    /// (`LedgerStore::send_consent_records`, `send_connection_records`), the next pages read
    /// while the current one is reduced.
    pub async fn read(store: &dyn Store, tenant: TenantId) -> Result<Records, StoreError> {
        // Sized once, as the recorder's maps are (`verify_chain`): a tenant has at most as many
        // consents and connections as events, unless the database was tampered with.
        let hint = store.tree_head(tenant).await.map_or(0, |h| h.size);
        let rows = usize::try_from(hint.min(super::MAX_SIZED)).unwrap_or(0);
        let consents = async {
            let mut reduce = Reduce::default();
            let (to, pages) = tokio::sync::mpsc::channel(PAGES_AHEAD);
            // Each page reduced is handed back to the reader, which reads the next rows into it.
            let spent = Spent::default();
            let read = store.send_consent_records(tenant, PAGE, Pages::recycled(to, spent.clone()));
            let each = |page: Vec<ConsentRecord>, rows: &mut Vec<ConsentRow>| {
                rows.extend(page.iter().map(|k| reduce.consent(k)));
                spent.give(page);
            };
            let ((), rows) = tokio::join!(read, each_page(pages, rows, each));
            rows
        };
        let connections = async {
            let (to, pages) = tokio::sync::mpsc::channel(PAGES_AHEAD);
            let read = store.send_connection_records(tenant, PAGE, to.into());
            let each = |mut page: Vec<ConnectionRecord>, rows: &mut Vec<ConnectionRecord>| {
                rows.append(&mut page);
            };
            let ((), rows) = tokio::join!(read, each_page(pages, rows, each));
            rows
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
            document_hashes: sha256_hex_is(n.document_text.as_bytes(), &n.document_sha256),
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
/// The value asked for last is compared first: consecutive consents mostly name the same
/// notice, and a comparison costs less than hashing the value for the set.
#[derive(Debug)]
struct Shared<T: ?Sized> {
    kept: Set<Arc<T>>,
    last: Option<Arc<T>>,
}

impl<T: ?Sized> Default for Shared<T> {
    fn default() -> Self {
        Shared {
            kept: Set::default(),
            last: None,
        }
    }
}

impl<T: ?Sized + Eq + Hash> Shared<T>
where
    for<'a> Arc<T>: From<&'a T>,
{
    fn get(&mut self, value: &T) -> Arc<T> {
        if let Some(last) = self.last.as_ref().filter(|last| ***last == *value) {
            return Arc::clone(last);
        }
        let shared = if let Some(kept) = self.kept.get(value) {
            Arc::clone(kept)
        } else {
            let new: Arc<T> = Arc::from(value);
            if self.kept.len() < TEXTS_KEPT {
                self.kept.insert(Arc::clone(&new));
            }
            new
        };
        self.last = Some(Arc::clone(&shared));
        shared
    }
}

/// Receives the pages of a whole-table read (about `expected` rows), handing each to `each`
/// with the rows kept so far,
/// until the read ends; the first error ends it (returning drops `pages`, which stops the
/// read).
async fn each_page<T, R>(
    mut pages: tokio::sync::mpsc::Receiver<Result<Vec<T>, StoreError>>,
    expected: usize,
    mut each: impl FnMut(Vec<T>, &mut Vec<R>),
) -> Result<Vec<R>, StoreError> {
    let mut rows = Vec::with_capacity(expected);
    while let Some(page) = pages.recv().await {
        each(page?, &mut rows);
    }
    Ok(rows)
}

/// How many distinct notice texts [`Texts`] keeps (a tenant has a few notice versions).
const TEXTS_KEPT: usize = 256;

/// Notice texts already hashed, each under the fingerprint it hashes to. A tenant's consents
/// share a handful of notice versions, so most texts are one already hashed: comparing the
/// bytes costs a fraction of SHA-256 over a notice. Only a text that did hash to its
/// fingerprint is kept, so a text equal to it hashes to the same fingerprint.
/// The pair that hashed last is compared first (consecutive consents mostly share a notice).
#[derive(Debug, Default)]
struct Texts {
    hashed: Map<String, String>,
    last: Option<(String, String)>,
}

impl Texts {
    /// Whether `text` hashes (SHA-256, hex) to `fingerprint`.
    fn hash_to(&mut self, text: &str, fingerprint: &str) -> bool {
        if self
            .last
            .as_ref()
            .is_some_and(|(f, t)| f == fingerprint && t == text)
        {
            return true;
        }
        let agrees = self.hashed.get(fingerprint).is_some_and(|t| t == text)
            || sha256_hex_is(text.as_bytes(), fingerprint);
        if agrees {
            if self.hashed.len() < TEXTS_KEPT && !self.hashed.contains_key(fingerprint) {
                self.hashed.insert(fingerprint.to_owned(), text.to_owned());
            }
            let last = self.last.get_or_insert_with(Default::default);
            last.0.replace_range(.., fingerprint);
            last.1.replace_range(.., text);
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
    recorded_on: &mut Recordings,
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
    if *given.text_sha256 != *k.notice_sha256 {
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
        (Some(w), None) if recorded_on.contains(k.connection_id, micros(w)) => {}
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
fn nda_disagreement(n: &NdaRow, event: Option<(i64, Said)>) -> Vec<Disagreement> {
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
    if *facts.text_sha256 != *n.document_sha256 {
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
    use accord_domain::crypto::sha256_hex;

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

    /// The `given` event that recorded `k` exactly.
    fn given(k: &ConsentRecord) -> EventFacts {
        EventFacts {
            kind: EventKind::Given,
            consent_id: k.id,
            company_id: k.company_id,
            connection_id: Some(k.connection_id),
            notice_version_id: Some(k.notice_version_id),
            text_sha256: k.notice_sha256.clone(),
            data_uses: k.data_uses.clone(),
        }
    }

    fn recorded(k: &ConsentRecord) -> Trail {
        Trail {
            recorded: Some((1, Recorder::default().said(&given(k)))),
            ..Trail::default()
        }
    }

    fn none() -> Recordings {
        Recordings::default()
    }

    #[test]
    fn an_end_is_recorded_by_its_event_or_by_the_consent_that_replaced_it_before_superseded_events()
    {
        let ended = OffsetDateTime::from_unix_timestamp(1_800_000_100).unwrap();
        let k = consent(Some(ended));
        let trail = recorded(&k);
        let found = consent_disagreement(&row(&k), &trail, &mut none());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].what.contains("no event records its end"));
        // A newer consent recorded on the same connection at that instant: an old supersession.
        let mut replaced = none();
        replaced.push(ConnectionId::new(), micros(ended));
        replaced.push(k.connection_id, micros(ended) + 1);
        assert_eq!(
            consent_disagreement(&row(&k), &trail, &mut replaced).len(),
            1
        );
        replaced.push(k.connection_id, micros(ended));
        assert!(consent_disagreement(&row(&k), &trail, &mut replaced).is_empty());
        // In force, and agreeing with its event.
        let k = consent(None);
        assert!(consent_disagreement(&row(&k), &recorded(&k), &mut none()).is_empty());
        let mut edited = k.clone();
        edited.notice_text.push('!');
        let found = consent_disagreement(&row(&edited), &recorded(&k), &mut none());
        assert!(found[0].what.contains("does not hash"), "{found:?}");
    }

    #[test]
    fn equal_values_share_one_copy_whichever_came_last() {
        let mut shared = Shared::<str>::default();
        let a = shared.get("a");
        assert!(Arc::ptr_eq(&a, &shared.get("a")), "the last one");
        let b = shared.get("b");
        assert!(Arc::ptr_eq(&a, &shared.get("a")), "a kept one");
        assert!(Arc::ptr_eq(&b, &shared.get("b")));
        assert_eq!(&*shared.get("c"), "c");
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
        // Another notice in between: each pair is still judged by its own text.
        let other = format!("{} (second version)", k.notice_text);
        assert!(texts.hash_to(&other, &sha256_hex(other.as_bytes())));
        assert!(!texts.hash_to(&other, &k.notice_sha256));
        assert!(texts.hash_to(&k.notice_text, &k.notice_sha256));
        assert!(!texts.hash_to(&edited, &k.notice_sha256));
        // Through the comparison, after the true text was kept.
        let mut tampered = k.clone();
        tampered.notice_text = edited;
        let mut reduce = Reduce {
            texts,
            ..Reduce::default()
        };
        let found = consent_disagreement(&reduce.consent(&tampered), &recorded(&k), &mut none());
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
        let found = consent_disagreement(&b, &recorded(&other), &mut none());
        assert!(found[0].what.contains("does not hash"), "{found:?}");
    }

    #[test]
    fn events_gathered_are_compared_with_the_rows_and_each_difference_is_named_in_chain_order() {
        let ended = OffsetDateTime::from_unix_timestamp(1_800_000_100).unwrap();
        let (a, b, c) = (consent(None), consent(Some(ended)), consent(None));
        let mut recorder = Recorder::with_capacity(8);
        recorder.push(1, 10, &given(&a));
        recorder.push(2, 20, &given(&b));
        recorder.push(3, 30, &given(&c));
        // `b` ended with no event of its end, but a consent was recorded on its connection at
        // that instant (an old supersession): it agrees.
        let mut newer = consent(None);
        newer.connection_id = b.connection_id;
        recorder.push(4, micros(ended), &given(&newer));
        // `a` is withdrawn by the ledger but in force in its row; `c`'s row is gone.
        let mut withdrawn = given(&a);
        withdrawn.kind = EventKind::Withdrawn;
        recorder.push(5, 50, &withdrawn);
        let shared = |x: &Said, y: &Said| Arc::ptr_eq(&x.text_sha256, &y.text_sha256);
        let (ta, tb) = (&recorder.consents[&a.id], &recorder.consents[&b.id]);
        assert!(shared(
            &ta.recorded.as_ref().unwrap().1,
            &tb.recorded.as_ref().unwrap().1
        ));
        let mut reduce = Reduce::default();
        let records = Records {
            consents: [&a, &b, &newer].map(|k| reduce.consent(k)).to_vec(),
            connections: Vec::new(),
            ndas: Vec::new(),
        };
        let found: Vec<(Option<i64>, String)> = recorder
            .compare(&records)
            .into_iter()
            .filter(|d| d.record.starts_with("consent"))
            .map(|d| (d.position, d.what))
            .collect();
        assert_eq!(
            found,
            [
                (Some(3), "the ledger records it, but the database holds no such consent (its row was deleted)".to_owned()),
                (Some(5), "it is in force, but the ledger records it withdrawn".to_owned()),
            ]
        );
    }

    #[test]
    fn a_second_row_with_the_same_id_does_not_stand_in_for_a_deleted_one() {
        // The table keeps ids as text: one id has several spellings (upper case, braces…).
        let (a, b) = (consent(None), consent(None));
        let mut recorder = Recorder::with_capacity(4);
        recorder.push(1, 10, &given(&a));
        recorder.push(2, 20, &given(&b));
        let mut reduce = Reduce::default();
        let connection = |k: &ConsentRecord| ConnectionRecord {
            id: k.connection_id,
            consent_id: Some(k.id),
            status: ConnectionStatus::Linked,
        };
        // `b`'s consent and connection rows deleted, `a`'s copied in their place.
        let records = Records {
            consents: [&a, &a].map(|k| reduce.consent(k)).to_vec(),
            connections: vec![connection(&a), connection(&a)],
            ndas: Vec::new(),
        };
        let found: Vec<(Option<i64>, String)> = recorder
            .compare(&records)
            .into_iter()
            .map(|d| (d.position, format!("{}: {}", d.record, d.what)))
            .collect();
        let (a_id, a_conn) = (a.id, a.connection_id);
        let (b_id, b_conn) = (b.id, b.connection_id);
        assert_eq!(
            found,
            [
                (Some(2), format!("consent {b_id}: the ledger records it, but the database holds no such consent (its row was deleted)")),
                (Some(2), format!("connection {b_conn}: the ledger records consent events on it, but the database holds no such connection (its row was deleted)")),
                (None, format!("consent {a_id}: no `given` or `reconsented` event records it")),
                (None, format!("connection {a_conn}: no consent event names it")),
            ]
        );
    }
}
