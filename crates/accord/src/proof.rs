//! Proof of consent from the command line: `accord ledger verify` recomputes every tenant's
//! hash chain, `accord receipt verify` checks a signed receipt offline, `accord keys rotate`
//! adds a new current key to the key file (old receipts keep verifying: retired keys stay in
//! the JWKS).
//!
//! `ledger verify --checkpoints` compares the chains with checkpoints kept outside the
//! database ([`checkpoints`]), and every `ledger verify` compares the consent, connection and
//! NDA rows with their events ([`records`]).
//!
//! Exit codes: 0 all verified; 1 a verification failed (tampered ledger, bad receipt); 2 the
//! verification could not run (configuration, database or key file missing or unreadable).

mod chain;
pub mod checkpoints;
pub mod records;

use crate::config::Settings;
use accord_domain::crypto::Keyring;
use accord_domain::ids::TenantId;
use accord_domain::ledger::merkle::Hash;
use accord_domain::ledger::ChainBreak;
use accord_domain::receipt::{verify_compact, JwsError, Receipt};
use accord_store::{LedgerStore, Pages, Store, StoreError};
use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use checkpoints::{Expected, Outcome, Witness};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use records::{Recorder, Records};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;

/// Everything verified.
pub const OK: i32 = 0;
/// A verification failed: the ledger was tampered with, or a receipt does not verify.
pub const FAILED: i32 = 1;
/// The verification could not run.
pub const CANNOT_RUN: i32 = 2;

/// Events read per store call while verifying.
const PAGE: u32 = 5_000;

// ---------------------------------------------------------------------------------------------
// accord ledger verify

/// The outcome of verifying one tenant's chain.
#[derive(Debug)]
pub struct ChainReport {
    pub tenant: TenantId,
    pub events: i64,
    pub head: String,
    /// Signed checkpoints whose signatures verified.
    pub checkpoints: usize,
    /// The positions of every checkpoint the database holds for the tenant.
    pub stored_checkpoints: Vec<i64>,
    /// The last position a verified checkpoint seals (0: none).
    pub sealed_until: i64,
    pub broken: Option<ChainBreak>,
    /// The storage failed while the chain was read (not an event that cannot be read, which
    /// is `broken`): the events after `events` were not verified.
    pub unreadable: Option<StoreError>,
    /// The Merkle tree recomputed from the events, with the chain hash and root at the sizes
    /// asked for.
    pub witness: Witness,
    /// What the events say of the consent, connection and NDA records.
    pub recorder: Recorder,
}

/// Opens the configured store for reading only ([`crate::open_store_read_only`]): a
/// verification changes nothing of what it checks (no migration, no tree built, no checkpoint,
/// every write refused), reads a read-only copy, and refuses a database at another schema
/// version than this build's. A SQLite file that does not exist is an error rather than a new,
/// empty (and trivially intact) database.
async fn open_existing_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    crate::open_store_read_only(settings).await
}

/// The database's checkpoints of `tenant`, checked against `key_set`.
struct StoredCheckpoints {
    /// The (position, hash) pairs the chain must pass through.
    valid: Vec<(i64, String)>,
    /// The (size, root) pairs the chain's tree must have at those positions.
    roots: Vec<(i64, Hash)>,
    /// The first checkpoint that does not verify, if any.
    invalid: Option<ChainBreak>,
    /// Every position the database holds a checkpoint for.
    positions: Vec<i64>,
}

/// Checks the signatures of `tenant`'s checkpoints against `key_set`.
async fn verified_checkpoints(
    store: &dyn LedgerStore,
    tenant: TenantId,
    key_set: &Value,
) -> Result<StoredCheckpoints, ChainBreak> {
    let checkpoints = store
        .ledger_checkpoints(tenant)
        .await
        .map_err(|e| ChainBreak {
            seq: 1,
            reason: format!("the signed checkpoints cannot be read ({e})"),
        })?;
    let key_set = key_set.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let mut out = StoredCheckpoints {
            valid: Vec::with_capacity(checkpoints.len()),
            roots: Vec::new(),
            invalid: None,
            positions: checkpoints.iter().map(|c| c.checkpoint.seq).collect(),
        };
        for c in checkpoints {
            match c.verify(&key_set) {
                Ok(()) => {
                    out.roots.extend(c.root().map(|r| (c.checkpoint.seq, r)));
                    out.valid.push((c.checkpoint.seq, c.checkpoint.hash));
                }
                Err(why) => {
                    out.invalid.get_or_insert(ChainBreak {
                        seq: c.checkpoint.seq,
                        reason: format!("the signed checkpoint at this position is invalid: {why}"),
                    });
                }
            }
        }
        out
    })
    .await
    .expect("checkpoint verification does not panic");
    Ok(checked)
}

/// Verifies `tenant`'s chain from its first event, page by page, calling `progress` with the
/// number of events read: every link and hash over the stored text, every row's columns against
/// its text, and every signed checkpoint of the database (signature against `key_set`, and the
/// chain passing through the position and hash it signed; one beyond the chain's end means
/// events were removed; the tree of the events up to it having the root it signed). It
/// recomputes the Merkle tree as it goes, in one pass (keeping the chain hash and root at each
/// of `sizes`), and gathers what each event says of its records. Stops at the first broken
/// event. The store reads the whole chain in one call (`LedgerStore::send_ledger_rows`), a few
/// pages ahead of the verifier, which checks each page's two halves at once on blocking threads
/// (hashing and parsing are CPU work) while folding the page before into the tree and the
/// facts (`proof/chain.rs`); an event the store cannot read is named as the one after the last
/// it sent.
pub async fn verify_chain(
    store: &dyn LedgerStore,
    tenant: TenantId,
    key_set: &Value,
    sizes: &[i64],
    progress: &dyn Fn(u64),
) -> ChainReport {
    let report = |pass: chain::Pass,
                  verified: &chain::Chain,
                  stored: Option<&StoredCheckpoints>,
                  broken,
                  unreadable| ChainReport {
        tenant,
        events: verified.count,
        head: verified.head.clone(),
        checkpoints: stored.map_or(0, |s| s.valid.len()),
        stored_checkpoints: stored.map(|s| s.positions.clone()).unwrap_or_default(),
        sealed_until: verified.sealed_until(),
        broken,
        unreadable,
        witness: pass.witness,
        recorder: pass.recorder,
    };
    let stored = match verified_checkpoints(store, tenant, key_set).await {
        Ok(checked) => checked,
        Err(broken) => {
            let pass = chain::Pass {
                witness: Witness::default(),
                recorder: Recorder::default(),
            };
            return report(
                pass,
                &chain::Chain::new(Vec::new()),
                None,
                Some(broken),
                None,
            );
        }
    };
    let mut verified = chain::Chain::new(stored.valid.clone());
    // The facts' maps are sized once for the whole chain, not grown (and rehashed) as it is
    // read. The tree's size is the chain's length unless the database was tampered with, so it
    // is only a hint, and bounded.
    let hint = store.tree_head(tenant).await.map_or(0, |h| h.size);
    let pass = chain::Pass {
        witness: Witness::new(sizes.iter().copied(), stored.roots.iter().copied()),
        recorder: Recorder::with_capacity(usize::try_from(hint.min(MAX_SIZED)).unwrap_or(0)),
    };
    let (to, pages) = tokio::sync::mpsc::channel(PAGES_AHEAD);
    // Pages folded are handed back to the reader, which reads the next rows into them.
    let spent = accord_store::Spent::default();
    let read = store.send_ledger_rows(tenant, 0, PAGE, Pages::recycled(to, spent.clone()));
    let ((), (pass, checked)) = tokio::join!(
        read,
        chain::check_pages(pass, &mut verified, pages, spent, progress)
    );
    let (broken, unreadable) = match checked {
        Ok(broken) => (broken, None),
        Err(e) => (None, Some(e)),
    };
    // The first broken event: in the chain, or a checkpoint whose signature fails.
    let broken = match (broken, stored.invalid.clone()) {
        (Some(b), Some(i)) => Some(if i.seq < b.seq { i } else { b }),
        (b, i) => b.or(i),
    };
    report(pass, &verified, Some(&stored), broken, unreadable)
}

/// Pages the store reads ahead of the one being checked.
const PAGES_AHEAD: usize = 2;

/// The most events the facts' maps are sized for up front (a larger chain grows them). The
/// hint is the stored tree's size, which whoever holds the database can change: the bound keeps
/// what a forged size can make verification reserve to a few hundred MiB, not gigabytes.
pub(super) const MAX_SIZED: u64 = 1 << 21;

/// About how many events `tenant`'s chain holds (for the progress bar): the last position
/// found by probing, a few dozen small reads whatever the chain's length.
async fn approximate_len(store: &dyn LedgerStore, tenant: TenantId) -> u64 {
    // Whether an event exists at position `seq` (an unreadable one counts as existing).
    let exists = |seq: i64| async move {
        store
            .ledger_rows(tenant, seq - 1, 1)
            .await
            .map_or(true, |p| !p.is_empty())
    };
    if !exists(1).await {
        return 0;
    }
    let mut low = 1_i64;
    let mut high = 2_i64;
    while exists(high).await {
        low = high;
        if high > i64::MAX / 4 {
            break;
        }
        high *= 2;
    }
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if exists(mid).await {
            low = mid;
        } else {
            high = mid;
        }
    }
    u64::try_from(low).unwrap_or(0)
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} verifying {bar:30} {human_pos}/{human_len} events, {eta} left",
        )
        .expect("the progress template is valid"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// What `accord ledger verify` is asked to do.
#[derive(Debug, Default, Clone)]
pub struct VerifyOptions {
    /// Only this tenant (its id).
    pub tenant: Option<String>,
    /// The key set: a JWKS file or URL (default: the configured key file's).
    pub jwks: Option<String>,
    /// Checkpoints kept outside the database: files or URLs.
    pub checkpoints: Vec<String>,
    pub quiet: bool,
}

/// `accord ledger verify [--tenant ID] [--jwks FILE|URL] [--checkpoints FILE|URL…] [--quiet]`:
/// prints a line per tenant (events, head hash, checkpoints, or the first broken event), a
/// line per checkpoint given that does not hold and per record that disagrees with the ledger;
/// returns the exit code.
pub async fn ledger_verify(settings: &Settings, options: &VerifyOptions) -> i32 {
    match ledger_verify_inner(settings, options).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("accord ledger verify: {e:#}");
            CANNOT_RUN
        }
    }
}

/// The tenants to verify: `only`, or every tenant and every ledger (a tenant whose row was
/// removed keeps its chain; one whose chain was removed whole shows as empty).
async fn tenants_to_verify(
    store: &dyn Store,
    only: Option<&str>,
) -> anyhow::Result<(Vec<TenantId>, BTreeMap<TenantId, String>)> {
    let names: BTreeMap<TenantId, String> = store
        .tenants()
        .await
        .context("cannot list the tenants")?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let mut all: BTreeSet<TenantId> = store
        .ledger_tenants()
        .await
        .context("cannot list the ledgers")?
        .into_iter()
        .collect();
    all.extend(names.keys().copied());
    let tenants = if let Some(id) = only {
        let id: TenantId = id
            .trim()
            .parse()
            .map_err(|_| anyhow!("--tenant {id:?}: not a tenant id (a UUID)"))?;
        if !all.contains(&id) {
            bail!("--tenant {id}: no such tenant");
        }
        vec![id]
    } else {
        all.into_iter().collect()
    };
    Ok((tenants, names))
}

/// The line saying a chain is intact, or where it breaks.
fn chain_line(report: &ChainReport, name: &str) -> String {
    let t = report.tenant;
    match &report.broken {
        None => format!(
            "tenant {t}{name}: {} events intact, head {}; {} signed checkpoint(s) verified, sealed to event {}{}",
            report.events,
            report.head,
            report.checkpoints,
            report.sealed_until,
            match report.events - report.sealed_until {
                0 => String::new(),
                n => format!(" ({n} newer event(s) not sealed yet)"),
            }
        ),
        Some(b) => format!("tenant {t}{name}: event {}: {}", b.seq, b.reason),
    }
}

/// Checks `report`'s chain against the checkpoints given for its tenant and the database's
/// own Merkle tree; returns the lines to print and how many of them are failures.
async fn external_findings(
    store: &dyn LedgerStore,
    report: &ChainReport,
    given: &[&Expected],
) -> (Vec<String>, usize) {
    let t = report.tenant;
    let mut lines = Vec::new();
    let mut failed = 0;
    let broken_at = report.broken.as_ref().map(|b| b.seq);
    let outcomes: Vec<Outcome> = given
        .iter()
        .map(|e| checkpoints::compare(e, &report.witness, report.events, broken_at))
        .collect();
    for (e, outcome) in given.iter().zip(&outcomes) {
        let agreed = given
            .iter()
            .zip(&outcomes)
            .filter(|(o, held)| **held == Outcome::Holds && o.size < e.size)
            .map(|(o, _)| o.size)
            .max();
        if let Some(line) = checkpoints::describe(e, outcome, agreed) {
            failed += usize::from(!matches!(outcome, Outcome::NotReached { .. }));
            lines.push(line);
        }
    }
    let held = outcomes.iter().filter(|o| **o == Outcome::Holds).count();
    if !given.is_empty() {
        lines.push(format!(
            "tenant {t}: {held} of {} checkpoint(s) given hold: the database still holds each signed tree, and its current tree extends it",
            given.len()
        ));
    }
    // The database's own checkpoints against the file's copies.
    let stored: BTreeSet<i64> = report.stored_checkpoints.iter().copied().collect();
    let missing: BTreeSet<i64> = given
        .iter()
        .filter(|e| e.stored_form && !stored.contains(&e.size))
        .map(|e| e.size)
        .collect();
    if !missing.is_empty() {
        let listed: Vec<String> = missing.iter().map(ToString::to_string).collect();
        lines.push(format!(
            "tenant {t}: the database holds fewer checkpoints than given: {} signed checkpoint(s) stored, none at position(s) {} (deleted from the database, or lost between signing and storing; the events were checked against the copies given)",
            stored.len(),
            listed.join(", ")
        ));
    }
    // The stored tree, which the public proofs are made from, against the recomputed one.
    if broken_at.is_none() {
        let mut sizes: Vec<i64> = given
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| **o == Outcome::Holds)
            .map(|(e, _)| e.size)
            .collect();
        sizes.push(report.events);
        sizes.sort_unstable();
        sizes.dedup();
        for size in sizes.into_iter().filter(|s| *s > 0) {
            let recomputed = report
                .witness
                .at(size)
                .map(|(_, r)| *r)
                .or_else(|| (size == report.events).then(|| report.witness.root()));
            let stored = store.tree_root(t, size.unsigned_abs()).await;
            if let (Some(want), Ok(got)) = (recomputed, &stored) {
                if *got == Some(want) {
                    continue;
                }
            }
            failed += 1;
            lines.push(format!(
                "tenant {t}: the stored Merkle tree at size {size} disagrees with the events (its nodes were altered or removed: the proofs it serves are false){}",
                stored.err().map(|e| format!(" ({e})")).unwrap_or_default()
            ));
        }
    }
    (lines, failed)
}

async fn ledger_verify_inner(settings: &Settings, options: &VerifyOptions) -> anyhow::Result<i32> {
    let store = open_existing_store(settings).await?;
    let key_set = key_set(options.jwks.as_deref(), || existing_keyring(settings)).await?;
    let (given, invalid) = checkpoints::read_all(&options.checkpoints, &key_set).await?;
    let (tenants, names) = tenants_to_verify(store.as_ref(), options.tenant.as_deref()).await?;
    let mut failed = invalid.len();
    for line in &invalid {
        println!("{line}");
    }
    if options.checkpoints.is_empty() {
        println!(
            "no checkpoint given (--checkpoints FILE|URL): the chains are checked against the database's own checkpoints only, so removing the newest events with their checkpoints, or rewriting a whole chain consistently, would not be seen; pass the sealer's checkpoint file or checkpoints the tenant kept"
        );
    }
    // Checkpoints of tenants the database no longer knows: their ledgers were removed whole.
    let known: BTreeSet<TenantId> = tenants.iter().copied().collect();
    if options.tenant.is_none() {
        let mut gone: BTreeMap<TenantId, &Expected> = BTreeMap::new();
        for e in given.iter().filter(|e| !known.contains(&e.tenant)) {
            let last = gone.entry(e.tenant).or_insert(e);
            if e.size > last.size {
                *last = e;
            }
        }
        for (t, e) in gone {
            failed += 1;
            println!(
                "tenant {t}: DELETED: {} seals {} event(s) of its ledger, but the database holds neither the tenant nor its ledger",
                e.at, e.size
            );
        }
    }

    let bar = progress_bar(options.quiet);
    if !bar.is_hidden() {
        let mut total = 0;
        for t in &tenants {
            total += approximate_len(store.as_ref(), *t).await;
        }
        bar.set_length(total);
    }
    let mut broken = 0_usize;
    // Tenants whose chain or records could not be read to their end.
    let mut unverified = 0_usize;
    let mut events = 0_i64;
    for t in &tenants {
        let mine: Vec<&Expected> = given.iter().filter(|e| e.tenant == *t).collect();
        let sizes: Vec<i64> = mine.iter().map(|e| e.size).collect();
        // The records are read (and reduced to what is compared) while the chain is verified:
        // the two keep both cores at work, and only the comparison needs the chain's facts.
        let progress = |n| bar.inc(n);
        let (report, records) = tokio::join!(
            verify_chain(store.as_ref(), *t, &key_set, &sizes, &progress),
            Records::read(store.as_ref(), *t),
        );
        let name = names.get(t).map_or_else(String::new, |n| format!(" ({n})"));
        // The chain could not be read to its end: not intact, and nothing is said of the
        // events after the last one read (a damaged or altered file, or failing storage), nor
        // of the records or the checkpoints given, which need the whole chain.
        if let Some(e) = &report.unreadable {
            unverified += 1;
            events += report.events;
            let mut lines = vec![format!(
                "tenant {t}{name}: UNVERIFIED after event {}: the ledger could not be read further ({e}); the file is damaged or was altered, or its storage is failing; nothing is concluded about the events after it, the records or the checkpoints given",
                report.events
            )];
            // A checkpoint whose signature fails is a finding whatever the rest.
            if report.broken.is_some() {
                broken += 1;
                lines.push(chain_line(&report, &name));
            }
            bar.suspend(|| lines.iter().for_each(|l| println!("{l}")));
            continue;
        }
        let mut lines = vec![chain_line(&report, &name)];
        broken += usize::from(report.broken.is_some());
        let (found, n) = external_findings(store.as_ref(), &report, &mine).await;
        lines.extend(found);
        failed += n;
        events += report.events;
        if report.broken.is_some() {
            lines.push(format!(
                "tenant {t}: records not compared with the ledger: its chain is broken"
            ));
        } else {
            let (found, n, unread) = records_lines(*t, report.recorder, records);
            lines.extend(found);
            failed += n;
            unverified += unread;
        }
        bar.suspend(|| lines.iter().for_each(|l| println!("{l}")));
    }
    bar.finish_and_clear();
    Ok(verdict(&Tally {
        tenants: tenants.len(),
        events,
        given: given.len(),
        broken,
        failed,
        unverified,
    }))
}

/// The lines saying how `t`'s records compare with its events, with the number of findings
/// and whether the records could not be read for a failure of the storage (1) or could (0). A
/// row that cannot be read as what its table holds is a finding: it was written behind
/// Accord's back.
fn records_lines(
    t: TenantId,
    recorder: Recorder,
    records: Result<Records, StoreError>,
) -> (Vec<String>, usize, usize) {
    match records {
        Ok(records) => {
            let disagreements = recorder.compare(&records);
            // A million rows and more: freed on a thread of their own, which nothing waits for.
            records::drop_aside(records);
            let lines = disagreements
                .iter()
                .map(|d| format!("tenant {t}: RECORD DISAGREES: {d}"))
                .collect();
            (lines, disagreements.len(), 0)
        }
        Err(e) if e.is_corrupt_value() => {
            let what = e.corrupt_value().map_or_else(|| e.to_string(), ToString::to_string);
            let line = format!(
                "tenant {t}: RECORD UNREADABLE: {what}; the records were not compared with the ledger"
            );
            (vec![line], 1, 0)
        }
        Err(e) => (
            vec![format!(
                "tenant {t}: UNVERIFIED records: they could not be read ({e}); the file is damaged or was altered, or its storage is failing; the records were not compared with the ledger"
            )],
            0,
            1,
        ),
    }
}

/// What a verification found over every tenant.
struct Tally {
    tenants: usize,
    /// Events verified.
    events: i64,
    /// Checkpoints given (`--checkpoints`).
    given: usize,
    /// Chains broken.
    broken: usize,
    /// Other findings: checkpoints given that do not hold, records that disagree…
    failed: usize,
    /// Tenants whose chain or records could not be read to their end.
    unverified: usize,
}

/// Prints the last line and gives the exit code: intact (0); tampered, whatever else (1);
/// nothing found, but a chain could not be read to its end (2).
fn verdict(t: &Tally) -> i32 {
    if t.unverified > 0 {
        println!(
            "LEDGER NOT VERIFIED: {} of {} tenant(s) could not be read to the end",
            t.unverified, t.tenants
        );
    }
    if t.broken > 0 || t.failed > 0 {
        println!(
            "LEDGER TAMPERED: {} of {} tenant chain(s) broken, {} other finding(s)",
            t.broken, t.tenants, t.failed
        );
        FAILED
    } else if t.unverified > 0 {
        CANNOT_RUN
    } else {
        println!(
            "ledger intact: {} tenant(s), {} event(s) verified; {} checkpoint(s) given hold; every record agrees with the ledger",
            t.tenants, t.events, t.given
        );
        OK
    }
}

// ---------------------------------------------------------------------------------------------
// accord receipt verify

/// What a verified receipt says.
#[derive(Debug)]
pub struct VerifiedReceipt {
    pub kid: String,
    pub receipt: Receipt,
}

/// The compact JWS of a receipt file: the `.jws` download, or a JSON object with a `jws`
/// member (one entry of `GET /v1/consents/{id}/receipt`).
fn compact_jws(text: &str) -> anyhow::Result<String> {
    let text = text.trim();
    if text.starts_with('{') {
        let v: Value = serde_json::from_str(text).context("the file is JSON but not valid JSON")?;
        return v["jws"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the JSON file has no `jws` member holding the compact JWS"));
    }
    Ok(text.to_owned())
}

/// Verifies a compact JWS receipt against a JWKS; explains a failure in words.
pub fn verify_receipt(jws: &str, key_set: &Value) -> anyhow::Result<VerifiedReceipt> {
    let payload = verify_compact(jws, key_set).map_err(|e| match e {
        JwsError::Malformed => anyhow!("not a compact JWS (three base64url parts separated by dots)"),
        JwsError::Header => anyhow!("the JWS header is not an EdDSA signature Accord accepts"),
        JwsError::UnknownKey(kid) => anyhow!(
            "the signing key `{kid}` is not in the JWKS (a receipt of another Accord, or the wrong key set)"
        ),
        JwsError::Signature => anyhow!(
            "the signature does not verify: the receipt was altered, or not signed by this key"
        ),
    })?;
    let header: Value = jws
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let receipt: Receipt = serde_json::from_value(payload)
        .context("the signature is valid but the payload is not an Accord receipt")?;
    if receipt.schema != accord_domain::receipt::SCHEMA {
        bail!(
            "the signature is valid but the receipt schema `{}` is not `{}`",
            receipt.schema,
            accord_domain::receipt::SCHEMA
        );
    }
    Ok(VerifiedReceipt {
        kid: header["kid"].as_str().unwrap_or_default().to_owned(),
        receipt,
    })
}

/// Whether `url` may be fetched: https anywhere, http only on a loopback host.
fn allowed_jwks_url(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

async fn fetch_jwks(url: &str) -> anyhow::Result<Value> {
    let parsed = url::Url::parse(url).with_context(|| format!("--jwks {url}: not a URL"))?;
    if !allowed_jwks_url(&parsed) {
        bail!("--jwks {url}: only https URLs (or http on localhost) are fetched");
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let res = client
        .get(parsed)
        .send()
        .await
        .with_context(|| format!("--jwks {url}: cannot fetch"))?;
    if !res.status().is_success() {
        bail!("--jwks {url}: the server answered {}", res.status());
    }
    res.json()
        .await
        .with_context(|| format!("--jwks {url}: not a JSON key set"))
}

/// The JWKS to verify with: `--jwks` (a URL or a file), else the configured key file's.
async fn key_set(
    jwks: Option<&str>,
    keyring: impl FnOnce() -> anyhow::Result<Keyring>,
) -> anyhow::Result<Value> {
    match jwks {
        Some(src) if src.starts_with("http://") || src.starts_with("https://") => {
            fetch_jwks(src).await
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--jwks {path}: cannot read the file"))?;
            serde_json::from_str(&text)
                .with_context(|| format!("--jwks {path}: not a JSON key set"))
        }
        None => Ok(keyring()?.signing_keys().jwks()),
    }
}

fn describe(r: &VerifiedReceipt) -> String {
    let rec = &r.receipt;
    let ev = &rec.event;
    let str_of = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let contacts: Vec<&str> = [
        rec.controller.email.as_deref(),
        rec.controller.phone.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut out = vec![
        format!("receipt signature valid (EdDSA, key {})", r.kid),
        format!("event:      {}", str_of(&ev["type"])),
        format!("consent:    {}", str_of(&ev["consent_id"])),
        format!(
            "controller: {}{}",
            rec.controller.legal_name,
            if contacts.is_empty() {
                String::new()
            } else {
                format!(" ({})", contacts.join(", "))
            }
        ),
        format!(
            "company:    {} (id {})",
            str_of(&rec.principal["name"]),
            str_of(&rec.principal["company_id"])
        ),
    ];
    if let Some(p) = ev["platform"]["name"]
        .as_str()
        .or(ev["platform"]["key"].as_str())
    {
        out.push(format!("platform:   {p}"));
    }
    out.push(format!(
        "time:       {} (method {})",
        str_of(&ev["time"]),
        str_of(&ev["method"])
    ));
    for p in &rec.purposes {
        out.push(format!("purpose:    {}", str_of(&p["purpose"])));
        let uses: Vec<String> = p["data"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|u| format!("{} ({})", str_of(&u["type"]), str_of(&u["direction"])))
                    .collect()
            })
            .unwrap_or_default();
        if !uses.is_empty() {
            out.push(format!("data:       {}", uses.join(", ")));
        }
    }
    out.push(format!(
        "notice:     version {}, text SHA-256 {}",
        str_of(&rec.notice["version"]),
        str_of(&rec.notice["text_sha256"])
    ));
    out.push(format!(
        "ledger:     tenant {}, position {}, hash {}",
        str_of(&rec.ledger["tenant_id"]),
        str_of(&rec.ledger["position"]),
        str_of(&rec.ledger["hash"])
    ));
    out.join("\n")
}

/// `accord receipt verify FILE [--jwks FILE|URL] [--proof FILE]`; returns the exit code.
/// `settings` is asked for only when no `--jwks` is given (the key file of the configured data
/// dir is then used). The evidence beside the receipt is checked by `crate::receipt_proof`.
pub async fn receipt_verify(
    file: &Path,
    jwks: Option<&str>,
    proof: Option<&Path>,
    settings: impl FnOnce() -> Settings,
) -> i32 {
    let run = async {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let compact = compact_jws(&text)?;
        let keys = key_set(jwks, || existing_keyring(&settings())).await?;
        let v = verify_receipt(&compact, &keys)?;
        let evidence = crate::receipt_proof::check(&text, proof, &v.receipt, &keys)?;
        anyhow::Ok((v, evidence))
    };
    match run.await {
        Ok((v, evidence)) => {
            println!("{}\n{evidence}", describe(&v));
            OK
        }
        Err(e) => {
            eprintln!("accord receipt verify: {}: {e:#}", file.display());
            FAILED
        }
    }
}

// ---------------------------------------------------------------------------------------------
// accord keys rotate

/// The configured key file, which must exist (it is never created here).
fn existing_keyring(settings: &Settings) -> anyhow::Result<Keyring> {
    let (path, _) = settings.key_file();
    if !path.exists() {
        bail!(
            "no key file at {} (set database.data_dir, --data-dir or keys.file)",
            path.display()
        );
    }
    crate::load_keyring(settings)
}

/// Replaces `path`'s content atomically: a temporary file (mode 0600) in the same directory,
/// written and synced, renamed over `path`, then the directory synced.
pub fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file path", path.display()))?
        .to_string_lossy();
    let tmp = dir.join(format!(
        ".{file_name}.{}.tmp",
        accord_domain::crypto::random_token(9)
    ));
    let write = || -> anyhow::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        #[cfg(unix)]
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    };
    let result = write();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What `accord keys rotate` did.
#[derive(Debug)]
pub struct Rotated {
    pub path: std::path::PathBuf,
    pub key_id: String,
    pub signing_key_id: String,
    pub keys: usize,
}

/// `accord keys rotate`: the key file rewritten with its keys kept and a new current one.
pub fn keys_rotate(settings: &Settings) -> anyhow::Result<Rotated> {
    let (path, _) = settings.key_file();
    let old = existing_keyring(settings)?;
    let text = old.rotated_file();
    let new = Keyring::from_file_text(&text).map_err(|e| anyhow!("the rotated key file: {e}"))?;
    write_atomically(&path, &text)?;
    let signing = new.signing_keys();
    Ok(Rotated {
        path,
        key_id: new.current_key_id().to_owned(),
        signing_key_id: signing.current_kid().to_owned(),
        keys: signing.jwks()["keys"].as_array().map_or(0, Vec::len),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_urls_are_https_or_loopback_http() {
        let ok = |u: &str| allowed_jwks_url(&url::Url::parse(u).unwrap());
        assert!(ok("https://accord.example/.well-known/jwks.json"));
        assert!(ok("http://127.0.0.1:8080/.well-known/jwks.json"));
        assert!(ok("http://localhost/.well-known/jwks.json"));
        assert!(ok("http://[::1]:9/jwks"));
        assert!(!ok("http://accord.example/.well-known/jwks.json"));
        assert!(!ok("http://10.0.0.1/jwks"));
        assert!(!ok("file:///etc/passwd"));
    }

    #[test]
    fn receipt_files_hold_a_compact_jws_or_an_api_entry() {
        assert_eq!(compact_jws(" a.b.c\n").unwrap(), "a.b.c");
        assert_eq!(
            compact_jws(r#"{"event":"given","jws":"a.b.c"}"#).unwrap(),
            "a.b.c"
        );
        assert!(compact_jws(r#"{"event":"given"}"#).is_err());
    }

    #[test]
    fn rotation_writes_atomically_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }
}
