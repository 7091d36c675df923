//! The conformance suite: what every [`Store`](crate::Store) backend must do, written once
//! (STYLE.md: one trait, two backends, one suite). Each case is a `pub async fn` taking a fresh,
//! empty store; [`conformance_tests!`](crate::conformance_tests) turns them into one named
//! `#[tokio::test]` each in the backend's own test binary:
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
//! The cases, by area: [`tenants`], [`notices`], [`flow`], [`consents`], [`jobs`],
//! [`refresh`] (token refresh and deauthorization), [`isolation`], [`ledger`], [`nda`],
//! [`webhooks`], and [`races`] (many callers at once, as several instances would be);
//! [`fixtures`] builds their rows.

pub mod fixtures;

mod consents;
mod flow;
mod funnel;
mod isolation;
mod jobs;
mod ledger;
mod nda;
mod notices;
mod races;
mod refresh;
mod settings;
mod tenants;
mod webhooks;

pub use consents::*;
pub use flow::*;
pub use funnel::*;
pub use isolation::*;
pub use jobs::*;
pub use ledger::*;
pub use nda::*;
pub use notices::*;
pub use races::*;
pub use refresh::*;
pub use settings::*;
pub use tenants::*;
pub use webhooks::*;

use crate::Page;

/// Expands into one `#[tokio::test]` per conformance case. `$make` is called as `$make()` and
/// must return a future of `(store, guard)`: `&*store` must give a `&dyn Store` (or a type
/// that coerces to it) and `guard` lives until the test ends (a temporary directory, a
/// database to drop…). With `optional:`, the future gives `Option<(store, guard)>` and `None`
/// skips the case (the maker prints why). The calling crate needs `tokio` with `macros` and
/// `rt-multi-thread`.
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
            ping_answers,
            tenants_and_api_keys,
            link_settings_are_replaced,
            external_id_is_unique_per_tenant,
            companies_page_by_id,
            tenant_platforms_are_upserted,
            notice_versions_are_numbered_and_kept,
            notice_versions_are_numbered_atomically,
            link_session_is_consumed_once,
            expired_or_other_kind_link_session_is_refused,
            browser_sessions_match_kind_and_expiry,
            oauth_flow_is_consumed_once_by_its_session,
            expired_oauth_flow_is_refused,
            record_consent_inserts_then_updates,
            record_consent_is_all_or_nothing,
            connection_is_linked_and_failed,
            disconnect_destroys_tokens_and_queues_one_revocation,
            disconnect_without_tokens_or_revoke_queues_nothing,
            delete_company_disconnects_its_connections,
            jobs_are_claimed_once_under_a_lease,
            failed_jobs_retry_then_give_up,
            purge_deletes_only_what_can_never_be_used,
            support_requests_are_listed_per_tenant,
            a_support_request_and_its_email_job_commit_together,
            funnel_counts_are_summed_per_step_and_platform,
            funnel_steps_count_once_per_session,
            another_tenants_ids_are_not_found,
            concurrent_consents_all_land,
            racing_link_session_opens_consume_it_once,
            racing_callbacks_consume_the_state_once,
            racing_disconnects_queue_one_revocation,
            racing_claims_hand_each_job_out_once,
            consent_and_withdrawal_are_chained,
            stored_rows_are_the_exact_text_hashed,
            checkpoints_are_kept_once_and_show_unsealed_chains,
            a_new_consent_supersedes_the_one_in_force,
            a_disconnected_connection_is_not_revived_by_a_consent,
            concurrent_appends_neither_fork_nor_skip,
            a_material_notice_change_requires_reconsent,
            expired_consents_end_with_an_event,
            an_nda_is_recorded_once_with_its_event,
            ndas_are_isolated_per_tenant,
            link_settings_are_versioned_with_their_author,
            concurrent_settings_saves_are_numbered_apart,
            logos_are_stored_replaced_and_deleted,
            connected_companies_are_counted,
            every_change_writes_its_outbox_event,
            reconsent_and_expiry_events_are_written_with_the_change,
            a_refused_change_writes_no_event,
            concurrent_consents_each_write_their_events,
            webhook_endpoints_are_owner_scoped_and_rotate_atomically,
            events_fan_out_once_to_subscribed_endpoints,
            deliveries_are_claimed_once_per_attempt_and_kept,
            a_link_queues_one_refresh_and_a_refresh_replaces_the_tokens,
            a_refresh_of_tokens_no_longer_held_changes_nothing,
            a_refresh_never_revives_or_overwrites_a_disconnected_connection,
            deauthorization_destroys_the_tokens_with_its_event,
            a_failing_refresh_is_told_and_a_later_success_clears_it,
            a_reconsent_required_connection_keeps_refreshing,
            racing_refreshes_and_links_leave_one_refresh_pending,
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
