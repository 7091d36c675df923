//! One pass over a tenant's chain for `accord ledger verify`, on both cores.
//!
//! Each event costs a SHA-256 over its stored text and a parse of that text, and neither needs
//! the events before it: only the link (its `prev_hash` against the hash before it), its position
//! and the signed checkpoints do. So each page is cut in two halves checked at once, each by a
//! [`ChainVerifier`] resumed where its half starts: the first from the chain verified so far,
//! the second from the first half's last event *as stored*. That second start is the chain's
//! only if the first half verifies, since the first half checks that event's position and its
//! hash over its text; the second half's result counts only then, so the first broken event
//! and its reason are the ones a single verifier reading event after event would name. Each
//! half's verifier is given the signed checkpoints of its own positions.
//!
//! The Merkle tree and the records' facts need the events in order: they are folded in, a page
//! at a time, while the next page's halves are checked ([`check_pages`]). Each event's leaf
//! hash is computed with its check, in its half; only the tree's inner nodes wait for the order.

use super::checkpoints::Witness;
use super::records::Recorder;
use accord_domain::ledger::merkle::{event_leaf, Hash};
use accord_domain::ledger::{ChainBreak, ChainVerifier, EventFacts, StoredEvent, GENESIS};
use accord_store::{Spent, StoreError};
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;

/// What is folded in event by event, in chain order: the Merkle tree and the records' facts.
pub(super) struct Pass {
    pub(super) witness: Witness,
    pub(super) recorder: Recorder,
}

/// The chain as verified so far, and the signed checkpoints (position, hash, signatures
/// verified) it must pass through.
pub(super) struct Chain {
    /// Events verified: the chain's last verified position.
    pub(super) count: i64,
    /// The hash of the last verified event.
    pub(super) head: String,
    /// By position, without repeats (as `ChainVerifier::expect_checkpoints` keeps them).
    sealed: Vec<(i64, String)>,
}

impl Chain {
    /// A chain with no event verified yet, which must pass through `sealed`.
    pub(super) fn new(mut sealed: Vec<(i64, String)>) -> Self {
        sealed.sort_by_key(|(seq, _)| *seq);
        sealed.dedup();
        Chain {
            count: 0,
            head: GENESIS.to_owned(),
            sealed,
        }
    }

    /// The signed checkpoints at positions after `from`, up to `to`.
    fn sealed_between(&self, from: i64, to: i64) -> Vec<(i64, String)> {
        let first = self.sealed.partition_point(|(seq, _)| *seq <= from);
        let end = self.sealed.partition_point(|(seq, _)| *seq <= to);
        self.sealed[first..end.max(first)].to_vec()
    }

    /// The last position a signed checkpoint seals among those the verified events reached.
    pub(super) fn sealed_until(&self) -> i64 {
        let reached = self.sealed.partition_point(|(seq, _)| *seq <= self.count);
        reached.checked_sub(1).map_or(0, |i| self.sealed[i].0)
    }

    /// Called after the last event: a signed checkpoint beyond it means sealed events were
    /// removed from the end (`ChainVerifier::finish`'s finding and words).
    fn finish(&self) -> Result<(), ChainBreak> {
        let mut verifier = ChainVerifier::resume(self.count, &self.head);
        verifier.expect_checkpoints(self.sealed_between(self.count, i64::MAX));
        verifier.finish()
    }
}

/// What is known of an event once verified: what it says of its records, and its leaf hash in
/// the Merkle tree (or why its hash has none).
struct Verified {
    facts: EventFacts,
    leaf: Result<Hash, String>,
}

/// A page's events checked but not folded yet: its rows, those that verified (the first ones,
/// in order), and the first that did not.
struct Checked {
    rows: Vec<StoredEvent>,
    facts: Vec<Verified>,
    broken: Option<ChainBreak>,
}

/// Checks `rows` as the events after position `start`, whose hash is `head`, passing through
/// `sealed`: the events that verify, up to the first that does not.
fn check_events(
    start: i64,
    head: &str,
    sealed: Vec<(i64, String)>,
    rows: &[StoredEvent],
) -> (Vec<Verified>, Option<ChainBreak>) {
    let mut verifier = ChainVerifier::resume(start, head);
    verifier.expect_checkpoints(sealed);
    let mut passed = Vec::with_capacity(rows.len());
    for e in rows {
        match verifier.push_stored_facts(e) {
            Ok(facts) => passed.push(Verified {
                facts,
                leaf: event_leaf(&e.hash).map_err(|why| why.to_string()),
            }),
            Err(broken) => return (passed, Some(broken)),
        }
    }
    (passed, None)
}

/// Checks a page's two halves at once (see the module's comment) and moves `chain` past the
/// events that verified.
async fn check_page(chain: &mut Chain, mut rows: Vec<StoredEvent>) -> Checked {
    let half = rows.len().div_ceil(2);
    let tail = rows.split_off(half);
    let start = (chain.count, chain.head.clone());
    let half_len = i64::try_from(half).expect("a page fits in i64");
    // Where the second half starts if the first verifies: its last event is then at this position.
    let second_start = rows
        .last()
        .filter(|e| Some(e.seq) == start.0.checked_add(half_len))
        .map(|e| (e.seq, e.hash.clone()));
    let second = second_start.map(|(seq, hash)| {
        let tail_len = i64::try_from(tail.len()).expect("a page fits in i64");
        let sealed = chain.sealed_between(seq, seq.saturating_add(tail_len));
        tokio::task::spawn_blocking(move || {
            let checked = check_events(seq, &hash, sealed, &tail);
            (tail, checked)
        })
    });
    let sealed = chain.sealed_between(start.0, start.0.saturating_add(half_len));
    let first = tokio::task::spawn_blocking(move || {
        let checked = check_events(start.0, &start.1, sealed, &rows);
        (rows, checked)
    });
    let second = async move {
        match second {
            Some(task) => Some(task.await.expect("chain verification does not panic")),
            None => None,
        }
    };
    let (first, second) = tokio::join!(first, second);
    let (rows, (facts, broken)) = first.expect("chain verification does not panic");
    let mut checked = Checked {
        rows,
        facts,
        broken,
    };
    // The second half counts only when the first verified: its start was then the chain's.
    if checked.broken.is_none() {
        if let Some((tail, (facts, broken))) = second {
            checked.rows.extend(tail);
            checked.facts.extend(facts);
            checked.broken = broken;
        }
    }
    let verified = checked.facts.len();
    chain.count += i64::try_from(verified).expect("a page fits in i64");
    if let Some(last) = verified.checked_sub(1) {
        chain.head.clone_from(&checked.rows[last].hash);
    }
    checked
}

/// A fold that stopped: the event whose signed tree root disagrees, and its hash (the chain's
/// head: its links and hash were verified before its root was found wrong).
type Stopped = (ChainBreak, String);

/// Folds a page's verified events into the tree and the facts, in order; stops at the first
/// whose position a signed checkpoint sealed with another tree root.
/// The page's rows are handed back to the reader (`spent`) once folded.
fn fold(
    mut pass: Pass,
    checked: Checked,
    spent: &Spent<StoredEvent>,
) -> (Pass, Result<u64, Stopped>) {
    let Checked { rows, facts, .. } = checked;
    let n = facts.len() as u64;
    for (e, verified) in rows.iter().zip(facts) {
        let Verified { facts, leaf } = verified;
        if let Err(reason) = leaf.and_then(|leaf| pass.witness.push_leaf(e.seq, &e.hash, leaf)) {
            let broken = ChainBreak { seq: e.seq, reason };
            return (pass, Err((broken, e.hash.clone())));
        }
        pass.recorder.push(e.seq, e.at_micros, &facts);
    }
    spent.give(rows);
    (pass, Ok(n))
}

/// Waits for a page's fold; on a stop, the chain ends at the event it stopped at.
async fn folded(
    task: JoinHandle<(Pass, Result<u64, Stopped>)>,
    chain: &mut Chain,
    progress: &dyn Fn(u64),
) -> (Pass, Option<ChainBreak>) {
    let (pass, result) = task.await.expect("folding the chain does not panic");
    match result {
        Ok(n) => {
            progress(n);
            (pass, None)
        }
        Err((broken, head)) => {
            chain.count = broken.seq;
            chain.head = head;
            (pass, Some(broken))
        }
    }
}

/// Checks the pages received on `pages` in order until the chain ends (the sender is done) or
/// breaks, folding each page's events into `pass` while the next page is checked, and handing
/// each page folded back to the reader through `spent`; calls `progress` with each page's
/// number of events once folded. Returns the pass and the first broken event. Returning drops
/// `pages`, which stops the read.
///
/// An event whose row cannot be read as one ([`StoreError::is_corrupt_value`]) breaks the chain
/// there. Any other error of the read is the storage's, not the ledger's: it is returned as
/// the error, and the chain is then neither intact nor broken, only unverified past the events
/// before it (unless a page before it already broke).
pub(super) async fn check_pages(
    pass: Pass,
    chain: &mut Chain,
    mut pages: Receiver<Result<Vec<StoredEvent>, StoreError>>,
    spent: Spent<StoredEvent>,
    progress: &dyn Fn(u64),
) -> (Pass, Result<Option<ChainBreak>, StoreError>) {
    let mut idle = Some(pass);
    let mut folding = None;
    let mut failed = None;
    let broken = loop {
        let page = match pages.recv().await {
            None => break None,
            Some(Ok(page)) => page,
            Some(Err(e)) if e.is_corrupt_value() => {
                let what = e
                    .corrupt_value()
                    .map_or_else(|| e.to_string(), ToString::to_string);
                break Some(ChainBreak {
                    seq: chain.count + 1,
                    reason: format!("the stored event cannot be read as a ledger event ({what})"),
                });
            }
            Some(Err(e)) => {
                failed = Some(e);
                break None;
            }
        };
        let checked = check_page(chain, page).await;
        let pass = match folding.take() {
            Some(task) => match folded(task, chain, progress).await {
                (pass, None) => pass,
                (pass, stopped) => {
                    idle = Some(pass);
                    break stopped;
                }
            },
            None => idle
                .take()
                .expect("the pass is idle when nothing is folded"),
        };
        let broken = checked.broken.clone();
        let spent = spent.clone();
        folding = Some(tokio::task::spawn_blocking(move || {
            fold(pass, checked, &spent)
        }));
        if broken.is_some() {
            break broken;
        }
    };
    drop(pages);
    // The page before the break (or the last page) is still being folded: a root it finds
    // wrong is earlier in the chain than any break found since.
    let broken = match folding {
        Some(task) => {
            let (pass, stopped) = folded(task, chain, progress).await;
            idle = Some(pass);
            stopped.or(broken)
        }
        None => broken,
    };
    let pass = idle.expect("the pass is back once folded");
    match failed {
        Some(e) if broken.is_none() => (pass, Err(e)),
        _ => {
            let broken = broken.or_else(|| chain.finish().err());
            (pass, Ok(broken))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain_of(sealed: &[(i64, &str)]) -> Chain {
        Chain::new(sealed.iter().map(|(s, h)| (*s, (*h).to_owned())).collect())
    }

    /// Checks a chain whose read sends `error` first.
    async fn read_failing_with(error: StoreError) -> Result<Option<ChainBreak>, StoreError> {
        let pass = Pass {
            witness: Witness::default(),
            recorder: Recorder::default(),
        };
        let (to, pages) = tokio::sync::mpsc::channel(1);
        to.send(Err(error)).await.unwrap();
        drop(to);
        let mut chain = chain_of(&[(3, "c")]);
        check_pages(pass, &mut chain, pages, Spent::default(), &|_| {})
            .await
            .1
    }

    #[tokio::test]
    async fn an_unreadable_event_breaks_the_chain_and_a_failing_disk_leaves_it_unverified() {
        let corrupt = StoreError::corrupt("ledger_events.consent_id", "not a uuid");
        let broken = read_failing_with(corrupt).await.unwrap().unwrap();
        assert_eq!(broken.seq, 1);
        assert!(
            broken.reason.contains("cannot be read as a ledger event"),
            "{}",
            broken.reason
        );

        // Neither broken nor intact, and not "sealed events removed" at the checkpoint either.
        let disk = StoreError::Backend("disk I/O error".into());
        let failed = read_failing_with(disk).await.unwrap_err();
        assert!(failed.to_string().contains("disk I/O error"), "{failed}");
    }

    #[test]
    fn each_checkpoint_falls_in_one_stretch_and_seals_once_reached() {
        let mut chain = chain_of(&[(5, "e"), (2, "b"), (2, "b"), (9, "i")]);
        assert_eq!(chain.sealed_between(0, 2), [(2, "b".to_owned())]);
        assert_eq!(chain.sealed_between(2, 5), [(5, "e".to_owned())]);
        assert!(chain.sealed_between(5, 8).is_empty());
        assert!(chain.sealed_between(9, 3).is_empty());
        assert_eq!(chain.sealed_until(), 0);
        chain.count = 8;
        assert_eq!(chain.sealed_until(), 5);
        let missing = chain.finish().unwrap_err();
        assert_eq!(missing.seq, 9);
        assert!(
            missing.reason.contains("ends at position 8"),
            "{}",
            missing.reason
        );
        chain.count = 9;
        assert_eq!(chain.sealed_until(), 9);
        assert!(chain.finish().is_ok());
    }
}
