//! The conformance suite: what every [`Store`](crate::Store) backend must do, written once and
//! run against each backend, so that SQLite and PostgreSQL cannot drift apart in behaviour.
//! Each case is a `pub async fn` taking a fresh, empty store;
//! [`conformance_tests!`](crate::conformance_tests) turns them into one named `#[tokio::test]`
//! each in the backend's own test binary:
//!
//! ```ignore
//! async fn fresh_store() -> (Arc<dyn Store>, TempDir) { … }
//! mod conformance {
//!     accord_store::conformance_tests!(super::fresh_store);
//! }
//! ```
//!
//! A backend that needs a service (PostgreSQL) uses the `optional:` form: its maker returns
//! `Option<(store, guard)>`, and `None` (the service is not configured) makes each test print
//! why it did nothing and pass, so a plain `cargo test` needs no services:
//!
//! ```ignore
//! async fn fresh_store() -> Option<(Arc<dyn Store>, TestDatabase)> { … }
//! mod conformance {
//!     accord_store::conformance_tests!(optional: super::fresh_store);
//! }
//! ```
//!
//! Times are whole seconds from a fixed instant, so backends may keep microseconds only.
//!
//! The cases are grouped like the storage traits, one module per role: [`tenants`],
//! [`settings`], [`companies`], [`notices`], [`flow`], [`connections`] (with its token refresh
//! and deauthorization sub-group), [`consents`], [`ledger`], [`support`], [`funnel`], [`jobs`],
//! [`nda`], [`webhooks`], [`access`]; then two that cut across every role: [`isolation`] (another tenant's
//! ids are not found) and [`races`] (many callers at once, as several instances would be).
//! [`fixtures`] builds their rows. A case that needs only a few roles takes a store bounded by
//! just those; the others take `&dyn Store`.

pub mod fixtures;

mod access;
mod companies;
mod connections;
mod consents;
mod console;
mod flow;
mod funnel;
mod isolation;
mod jobs;
mod ledger;
mod ledger_records;
mod nda;
mod notices;
mod races;
mod settings;
mod support;
mod tenants;
mod webhooks;

pub use access::*;
pub use companies::*;
pub use connections::*;
pub use consents::*;
pub use console::*;
pub use flow::*;
pub use funnel::*;
pub use isolation::*;
pub use jobs::*;
pub use ledger::*;
pub use ledger_records::*;
pub use nda::*;
pub use notices::*;
pub use races::*;
pub use settings::*;
pub use support::*;
pub use tenants::*;
pub use webhooks::*;

use crate::Page;

/// Expands into one `#[tokio::test]` per conformance case. `$make` is called as `$make()` and
/// must return a future of `(store, guard)`: `&*store` must give a `&dyn Store` (or a type
/// that coerces to it) and `guard` lives until the test ends (a temporary directory, a
/// database to drop…). With `optional:`, the future gives `Option<(store, guard)>` and `None`
/// skips the case (the maker prints why). The calling crate needs `tokio` with `macros` and
/// `rt-multi-thread`.
///
/// The cases are listed by hand, grouped by role as the modules are, because a `macro_rules!`
/// cannot discover functions; the `listed` unit test below fails when a case is missing from
/// the list or the list names one that does not exist.
#[macro_export]
macro_rules! conformance_tests {
    (optional: $make:expr) => {
        $crate::conformance_tests!(@all optional $make);
    };
    ($make:expr) => {
        $crate::conformance_tests!(@all required $make);
    };
    (@all $mode:ident $make:expr) => {
        $crate::conformance_tests!(@cases $mode $make;
            // The store itself, and TenantStore
            ping_answers,
            tenants_and_api_keys,
            tenant_platforms_are_upserted,
            tenant_data_keys_and_deletion,
            stored_secrets_are_paged_and_replaced_if_unchanged,
            api_keys_are_named_listed_touched_and_revoked,
            api_keys_are_paged_in_creation_order,
            sign_in_failures_lock_in_the_store_for_every_instance,
            a_totp_step_is_accepted_once_per_user,
            a_companys_ledger_positions_are_read_at_once,
            console_users_are_unique_by_email_and_updated,
            set_password_links_are_used_once_before_expiry,
            racing_set_password_uses_spend_the_link_once,
            console_sessions_are_live_until_ended_or_expired,
            audit_entries_are_paged_newest_first_per_tenant,
            // SettingsStore
            link_settings_are_replaced,
            link_settings_are_versioned_with_their_author,
            concurrent_settings_saves_are_numbered_apart,
            logos_are_stored_replaced_and_deleted,
            connected_companies_are_counted,
            // CompanyStore
            external_id_is_unique_per_tenant,
            companies_page_by_id,
            delete_company_disconnects_its_connections,
            // NoticeStore
            notice_versions_are_numbered_and_kept,
            notice_versions_are_numbered_atomically,
            a_published_version_names_the_one_it_follows,
            a_non_material_change_marks_no_connection,
            a_material_notice_change_requires_reconsent,
            only_connections_consented_to_that_notice_are_marked,
            the_new_version_and_its_reconsents_are_seen_together,
            // FlowStore
            link_session_is_consumed_once,
            expired_or_other_kind_link_session_is_refused,
            browser_sessions_match_kind_and_expiry,
            an_ended_browser_session_frees_its_link,
            oauth_flow_is_consumed_once_by_its_session,
            expired_oauth_flow_is_refused,
            a_manage_link_is_used_once_and_revoked_per_company,
            a_deleted_companys_manage_link_opens_nothing,
            // ConnectionStore: linking, failing, disconnecting
            connection_is_linked_and_failed,
            a_link_stores_its_manage_link_with_it,
            disconnect_destroys_tokens_and_queues_one_revocation,
            disconnect_without_tokens_or_revoke_queues_nothing,
            the_access_view_reads_connection_tokens_and_consent_together,
            the_access_fence_reads_status_consent_and_its_end,
            // ConnectionStore: who was connected at the platform
            a_link_keeps_the_upstream_identity,
            relinking_the_same_upstream_replaces_the_earlier_connection,
            a_different_upstream_is_a_second_connection,
            // ConnectionStore: token refresh and deauthorization
            a_link_queues_one_refresh_and_a_refresh_replaces_the_tokens,
            a_refresh_of_tokens_no_longer_held_changes_nothing,
            a_refresh_never_revives_or_overwrites_a_disconnected_connection,
            deauthorization_destroys_the_tokens_with_its_event,
            a_failing_refresh_is_told_and_a_later_success_clears_it,
            a_reconsent_required_connection_keeps_refreshing,
            racing_refreshes_and_links_leave_one_refresh_pending,
            // ConnectionStore: one refresh at a time, and refreshes on demand
            a_refresh_lease_is_taken_by_one_caller_at_a_time,
            a_refresh_lease_is_given_back_only_by_its_holder,
            a_refresh_lease_needs_tokens_and_an_owner,
            an_on_demand_refresh_stores_its_tokens_without_a_job,
            // ConsentStore
            record_consent_inserts_then_updates,
            record_consent_is_all_or_nothing,
            concurrent_consents_all_land,
            a_new_consent_supersedes_the_one_in_force,
            superseded_consents_get_their_event_in_any_batch,
            tenant_consents_page_by_id,
            tenant_connections_page_by_id,
            a_disconnected_connection_is_not_revived_by_a_consent,
            expired_consents_end_with_an_event,
            expiring_consents_are_warned_once_with_their_event,
            // LedgerStore
            consent_and_withdrawal_are_chained,
            stored_rows_are_the_exact_text_hashed,
            checkpoints_are_kept_once_and_show_unsealed_chains,
            tree_checkpoints_are_listed_and_sent_to_listing_endpoints,
            the_first_tree_checkpoint_at_or_after_a_position_is_found,
            concurrent_appends_neither_fork_nor_skip,
            tree_roots_follow_the_chain,
            merkle_proofs_verify_for_every_size,
            inclusion_evidence_matches_the_tree,
            concurrent_consent_batches_keep_one_tree,
            every_event_source_extends_the_tree,
            verification_reads_hold_the_compared_columns_of_every_row,
            // SupportStore
            support_requests_are_listed_per_tenant,
            a_support_request_and_its_email_job_commit_together,
            support_requests_are_resolved_reopened_and_listed_by_status,
            // FunnelStore
            funnel_counts_are_summed_per_step_and_platform,
            funnel_steps_count_once_per_session,
            // JobStore
            jobs_are_claimed_once_under_a_lease,
            failed_jobs_retry_then_give_up,
            purge_deletes_only_what_can_never_be_used,
            queue_stats_count_what_waits,
            a_link_email_is_queued_with_its_manage_link,
            // NdaStore
            an_nda_is_recorded_once_with_its_event,
            ndas_are_isolated_per_tenant,
            // WebhookStore
            every_change_writes_its_outbox_event,
            reconsent_and_expiry_events_are_written_with_the_change,
            a_refused_change_writes_no_event,
            concurrent_consents_each_write_their_events,
            webhook_endpoints_are_owner_scoped_and_rotate_atomically,
            events_fan_out_once_to_subscribed_endpoints,
            deliveries_are_claimed_once_per_attempt_and_kept,
            // AccessLogStore
            access_records_are_kept_and_paged_newest_first,
            the_access_log_is_owner_scoped,
            the_access_log_is_purged_by_age,
            concurrent_access_records_all_land,
            // Every role: another tenant's ids are not found
            another_tenants_ids_are_not_found,
            // Every role: many instances at once
            racing_link_session_opens_consume_it_once,
            racing_callbacks_consume_the_state_once,
            racing_disconnects_queue_one_revocation,
            racing_claims_hand_each_job_out_once,
        );
    };
    (@cases required $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = ($make)().await;
                $crate::conformance::$case(&*store).await;
            }
        )+
    };
    (@cases optional $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((store, _guard)) = ($make)().await else {
                    return;
                };
                $crate::conformance::$case(&*store).await;
            }
        )+
    };
}

fn page<Id>(after: Option<Id>, limit: u32) -> Page<Id> {
    Page { after, limit }
}

/// The macro's hand-kept list against the cases the source files define: a case added without
/// listing it would never run on any backend, and a listed name without its case would only
/// fail to compile in the backends' test binaries, not here.
#[cfg(test)]
mod listed {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// Every source file of the suite, by its path under `conformance/`.
    const SOURCES: &[(&str, &str)] = &[
        ("access.rs", include_str!("access.rs")),
        ("companies.rs", include_str!("companies.rs")),
        ("console.rs", include_str!("console.rs")),
        ("connections.rs", include_str!("connections.rs")),
        ("connections/lease.rs", include_str!("connections/lease.rs")),
        (
            "connections/refresh.rs",
            include_str!("connections/refresh.rs"),
        ),
        (
            "connections/upstream.rs",
            include_str!("connections/upstream.rs"),
        ),
        ("consents.rs", include_str!("consents.rs")),
        ("fixtures.rs", include_str!("fixtures.rs")),
        ("flow.rs", include_str!("flow.rs")),
        ("funnel.rs", include_str!("funnel.rs")),
        ("isolation.rs", include_str!("isolation.rs")),
        ("jobs.rs", include_str!("jobs.rs")),
        ("ledger.rs", include_str!("ledger.rs")),
        ("ledger_records.rs", include_str!("ledger_records.rs")),
        ("mod.rs", include_str!("mod.rs")),
        ("nda.rs", include_str!("nda.rs")),
        ("notices.rs", include_str!("notices.rs")),
        ("races.rs", include_str!("races.rs")),
        ("settings.rs", include_str!("settings.rs")),
        ("support.rs", include_str!("support.rs")),
        ("tenants.rs", include_str!("tenants.rs")),
        ("webhooks.rs", include_str!("webhooks.rs")),
    ];

    /// Where the macro's list starts, split so that only the macro itself contains it whole.
    const LIST_START: &str = concat!("@cases $mode ", "$make;");

    /// The cases `src` defines: each top-level `pub async fn` whose one parameter is `store`.
    /// Builders that also take a store (the fixtures) take more than it.
    fn cases(src: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = src;
        while let Some(at) = rest.find("\npub async fn ") {
            rest = &rest[at + "\npub async fn ".len()..];
            let name_end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .expect("a name");
            let name = &rest[..name_end];
            let open = rest.find('(').expect("a parameter list");
            let mut depth = 0;
            let mut params = vec![String::new()];
            for c in rest[open..].chars() {
                match c {
                    '(' | '<' => depth += 1,
                    ')' | '>' => depth -= 1,
                    ',' if depth == 1 => params.push(String::new()),
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth > 1 || !matches!(c, '(' | ',') {
                    params.last_mut().expect("one").push(c);
                }
            }
            params.retain(|p| !p.trim().is_empty());
            if let [only] = params.as_slice() {
                if only.trim().starts_with("store:") {
                    out.push(name.to_owned());
                }
            }
        }
        out
    }

    /// The names in the macro's list, in order.
    fn listed() -> Vec<String> {
        let src = include_str!("mod.rs");
        let start = src.find(LIST_START).expect("the macro's list") + LIST_START.len();
        let end = start + src[start..].find(");").expect("the end of the list");
        src[start..end]
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .map(|l| {
                let name = l.trim_end_matches(',');
                assert!(
                    name.chars().all(|c| c.is_alphanumeric() || c == '_'),
                    "one case name per line in the macro's list: {l:?}"
                );
                name.to_owned()
            })
            .collect()
    }

    #[test]
    fn the_parser_finds_cases_and_only_cases() {
        let src = "//! x\npub async fn a(store: &dyn Store) {}\n\
                   pub async fn b(\n    store: &(impl X + Y<Z> + ?Sized),\n) {}\n\
                   pub async fn builder(store: &dyn Store, name: &str) -> T {}\n\
                   async fn helper(store: &dyn Store) {}\n\
                   pub fn plain(store: &dyn Store) {}\n    pub async fn new(store: &dyn Store) {}\n";
        assert_eq!(cases(src), ["a", "b"]);
    }

    #[test]
    fn every_case_is_listed_once_and_every_listed_case_exists() {
        let defined: Vec<String> = SOURCES.iter().flat_map(|(_, src)| cases(src)).collect();
        let listed = listed();
        let mut seen = BTreeSet::new();
        let twice: Vec<_> = listed.iter().filter(|n| !seen.insert(*n)).collect();
        assert!(twice.is_empty(), "listed more than once: {twice:?}");
        let defined_set: BTreeSet<_> = defined.iter().collect();
        assert_eq!(
            defined_set.len(),
            defined.len(),
            "a case name defined twice"
        );
        let missing: Vec<_> = defined.iter().filter(|n| !seen.contains(n)).collect();
        assert!(
            missing.is_empty(),
            "cases missing from conformance_tests!: {missing:?}"
        );
        let absent: Vec<_> = listed.iter().filter(|n| !defined_set.contains(n)).collect();
        assert!(absent.is_empty(), "listed but not defined: {absent:?}");
        assert!(listed.len() >= 60, "the suite only grows: {}", listed.len());
    }

    /// `SOURCES` names every file of the suite, so a new file's cases are checked too.
    #[test]
    fn every_source_file_is_read() {
        fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
            for entry in std::fs::read_dir(dir).expect("the suite's directory") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let rel = path.strip_prefix(base).expect("under the suite");
                    out.insert(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/conformance");
        let mut on_disk = BTreeSet::new();
        walk(&dir, &dir, &mut on_disk);
        let read: BTreeSet<String> = SOURCES.iter().map(|(p, _)| (*p).to_owned()).collect();
        assert_eq!(on_disk, read, "add the new file to SOURCES");
    }
}
