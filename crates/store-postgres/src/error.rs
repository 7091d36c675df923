//! How PostgreSQL failures become [`StoreError`]s, in one place, so every caller maps a broken
//! rule the same way. A `Conflict` may reach an API response: it carries a fixed sentence naming
//! the rule, never the driver's text (which quotes the values and the schema). The driver's
//! details stay in `Backend`, which is logged, never shown.

use accord_store::StoreError;
use sqlx::error::ErrorKind;

/// Maps a driver error: a broken uniqueness rule (SQLSTATE 23505) is a `Conflict` naming the
/// rule ([`unique_rule`]); a reference to a row that does not exist for this tenant (23503, a
/// composite `(tenant_id, id)` foreign key) is `NotFound`, exactly as if the caller had looked
/// it up first; a server that cannot be reached or is going away ([`unavailable`]) is
/// `Unavailable`; anything else is `Backend`.
pub(crate) fn db(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(e) = &err {
        match e.kind() {
            ErrorKind::UniqueViolation => {
                return StoreError::Conflict(unique_rule(e.constraint()).to_owned())
            }
            ErrorKind::ForeignKeyViolation => return StoreError::NotFound,
            _ => {}
        }
    }
    if unavailable(&err) {
        return StoreError::Unavailable(Box::new(err));
    }
    StoreError::Backend(Box::new(err))
}

/// Whether the server could not take the call for now, so the same call may succeed later: no
/// connection within the pool's wait (the server is down, or every connection is busy), a
/// connection refused or dropped, or the server saying it is shutting down, starting up, out of
/// connections or out of disk space (SQLSTATE classes 08 and 53, 57P01–57P03). The pool opens
/// fresh connections once the server is back, so Accord recovers without a restart.
fn unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// `cause` again, with what failed: a `Backend` failure with the context, or, when the database
/// was unavailable, still `Unavailable` (the caller may retry; a 503, not a 500).
pub(crate) fn failed(context: &str, cause: &StoreError) -> StoreError {
    let message = format!("{context}: {cause}");
    match cause {
        StoreError::Unavailable(_) => StoreError::Unavailable(message.into()),
        _ => backend(message),
    }
}

/// Whether a failed statement may succeed when simply run again: a deadlock (40P01) or a
/// serialization failure (40001) between concurrent transactions.
pub(crate) fn is_transient(err: &StoreError) -> bool {
    let StoreError::Backend(e) = err else {
        return false;
    };
    let Some(sqlx::Error::Database(e)) = e.downcast_ref::<sqlx::Error>() else {
        return false;
    };
    matches!(e.code().as_deref(), Some("40P01" | "40001"))
}

/// Whether the server itself refused the statement (a constraint, a trigger, a deadlock…): it
/// then rolled it back, so nothing of it was written and running it differently is safe. Any
/// other failure (the connection dropped mid-way, the pool timed out, the server shutting down
/// the session) leaves that unknown.
pub(crate) fn refused_by_server(err: &StoreError) -> bool {
    match err {
        StoreError::Conflict(_) | StoreError::NotFound => true,
        StoreError::Backend(e) => matches!(
            e.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::Database(_))
        ),
        StoreError::Unavailable(_) => false,
    }
}

/// A row that cannot be turned back into a domain value: corruption or a schema bug, never a panic.
pub(crate) fn corrupt(column: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::corrupt(column, why)
}

/// A failure that is not the driver's (the writer task is gone, a write was inconsistent…).
pub(crate) fn backend(why: impl Into<String>) -> StoreError {
    StoreError::Backend(why.into().into())
}

/// The uniqueness rules of the schema, by constraint (or unique index) name, as a sentence for
/// the caller.
const UNIQUE_RULES: &[(&str, &str)] = &[
    (
        "companies_external_id",
        "this tenant already has a company with this external_id",
    ),
    ("tenants_name_key", "a tenant with this name already exists"),
    (
        "console_users_email_key",
        "a console account with this e-mail address already exists",
    ),
    (
        "console_sessions_pkey",
        "a console session with this token already exists",
    ),
    (
        "console_set_password_tokens_pkey",
        "a set-password link with this token already exists",
    ),
    (
        "api_keys_key_id_key",
        "an API key with this key id already exists",
    ),
    (
        "link_sessions_token_hash_key",
        "a link session with this token already exists",
    ),
    (
        "browser_sessions_token_hash_key",
        "a browser session with this token already exists",
    ),
    (
        "support_requests_tenant_id_reference_key",
        "this tenant already has a support request with this reference",
    ),
    (
        "jobs_one_pending_refresh",
        "this connection already has a token refresh pending",
    ),
    (
        "notices_tenant_id_category_locale_key",
        "this tenant already has a notice for this category and locale",
    ),
    (
        "notice_versions_notice_id_version_key",
        "this notice already has a version with this number",
    ),
    (
        "ledger_events_pkey",
        "this ledger chain already has an event at this position",
    ),
    (
        "ledger_checkpoints_pkey",
        "this ledger chain already has a checkpoint at this position",
    ),
    (
        "link_settings_versions_pkey",
        "these link settings already have a version with this number",
    ),
    (
        "tenant_platforms_pkey",
        "this tenant has already configured this platform",
    ),
    (
        "oauth_flows_pkey",
        "an OAuth flow with this state already exists",
    ),
];

/// The id rule of each table (`<table>_pkey`, `<table>_tenant_id_id_key`), by table.
const ID_RULES: &[(&str, &str)] = &[
    ("tenants", "a tenant with this id already exists"),
    ("api_keys", "an API key with this id already exists"),
    (
        "console_users",
        "a console user with this id already exists",
    ),
    ("audit_log", "an audit entry with this id already exists"),
    ("companies", "a company with this id already exists"),
    ("notices", "a notice with this id already exists"),
    (
        "notice_versions",
        "a notice version with this id already exists",
    ),
    (
        "link_sessions",
        "a link session with this id already exists",
    ),
    (
        "browser_sessions",
        "a browser session with this id already exists",
    ),
    ("connections", "a connection with this id already exists"),
    ("consents", "a consent with this id already exists"),
    ("jobs", "a job with this id already exists"),
    (
        "support_requests",
        "a support request with this id already exists",
    ),
    (
        "nda_acceptances",
        "an NDA acceptance with this id already exists",
    ),
    (
        "webhook_endpoints",
        "a webhook endpoint with this id already exists",
    ),
    (
        "webhook_events",
        "a webhook event with this id already exists",
    ),
    (
        "webhook_deliveries",
        "a webhook delivery with this id already exists",
    ),
];

/// For a constraint the tables above do not name.
const GENERIC_CONFLICT: &str = "a record with the same unique key already exists";

/// The sentence for a broken uniqueness rule, from the constraint the server named: fixed text,
/// whatever the values were.
pub(crate) fn unique_rule(constraint: Option<&str>) -> &'static str {
    let Some(name) = constraint else {
        return GENERIC_CONFLICT;
    };
    if let Some((_, rule)) = UNIQUE_RULES.iter().find(|(c, _)| *c == name) {
        return rule;
    }
    let table = name
        .strip_suffix("_tenant_id_id_key")
        .or_else(|| name.strip_suffix("_pkey"));
    table
        .and_then(|t| ID_RULES.iter().find(|(table, _)| *table == t))
        .map_or(GENERIC_CONFLICT, |(_, rule)| rule)
}

#[cfg(test)]
mod tests {
    use super::{db, failed, refused_by_server, unique_rule};
    use accord_store::StoreError;

    #[test]
    fn an_unreachable_server_is_unavailable_and_unknown() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into()),
        ] {
            let e = db(e);
            assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
            // A dropped connection may have committed: never replayed as if refused.
            assert!(!refused_by_server(&e));
            let again = failed("group commit failed", &e);
            assert!(matches!(again, StoreError::Unavailable(_)), "{again:?}");
        }
        let other = db(sqlx::Error::RowNotFound);
        assert!(matches!(other, StoreError::Backend(_)), "{other:?}");
        assert!(matches!(
            failed("group commit failed", &other),
            StoreError::Backend(_)
        ));
    }

    #[test]
    fn a_broken_uniqueness_rule_is_named_by_a_fixed_sentence() {
        assert_eq!(
            unique_rule(Some("companies_external_id")),
            "this tenant already has a company with this external_id"
        );
        assert_eq!(
            unique_rule(Some("consents_pkey")),
            "a consent with this id already exists"
        );
        assert_eq!(
            unique_rule(Some("companies_tenant_id_id_key")),
            "a company with this id already exists"
        );
        assert_eq!(
            unique_rule(Some("something_else")),
            "a record with the same unique key already exists"
        );
        assert_eq!(
            unique_rule(None),
            "a record with the same unique key already exists"
        );
    }
}
