//! Connections and their encrypted platform tokens ([`ConnectionStore`]): linking (with the
//! replacement of an earlier connection to the same upstream organisation), token refresh,
//! failures, deauthorization and disconnection, each with the jobs, consent withdrawals, ledger
//! events and outbox rows that go with it, in one transaction. Token refresh, its lease and
//! deauthorization are [`refresh`]. The consent action that creates a connection is
//! `consents.rs`.

mod refresh;

use crate::codec::{all, micros, one, time_of, RowExt};
use crate::error::{corrupt, sqlite};
use crate::SqliteStore;
use accord_domain::access::ConsentTerms;
use accord_domain::catalog::PlatformKey;
use accord_domain::connection::{Connection, ConnectionStatus, Upstream};
use accord_domain::consent::Consent;
use accord_domain::ids::{CompanyId, ConnectionId, TenantId};
use accord_domain::ledger::{EventBody, EventKind};
use accord_domain::outbox::WebhookEvent;
use accord_store::{
    AccessFence, AccessView, ConnectionStore, Disconnected, LinkWrite, Linked, RefreshStored,
    RefreshedTokens, Result, StoreError,
};
use async_trait::async_trait;
use rusqlite::types::{FromSql, ValueRef};
use rusqlite::{params, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// The columns [`connection_from`] reads, first in every statement it maps, in this order.
macro_rules! connection_cols {
    () => {
        "id, tenant_id, company_id, platform_key, status, data_uses, consent_id, granted_scope, \
         last_error, created_at, updated_at, linked_at, disconnected_at, upstream_id, \
         upstream_name"
    };
}
pub(crate) use connection_cols;

/// The names of [`connection_cols`], by position: what a failure to read one names.
const CONNECTION_COLS: [&str; 15] = [
    "id",
    "tenant_id",
    "company_id",
    "platform_key",
    "status",
    "data_uses",
    "consent_id",
    "granted_scope",
    "last_error",
    "created_at",
    "updated_at",
    "linked_at",
    "disconnected_at",
    "upstream_id",
    "upstream_name",
];

/// A row read by column position, each failure still naming its column. Rows on the data
/// path are read this way: rusqlite's lookup by name compares the statement's column names
/// for every value read, which showed in the data gateway's profile.
struct At<'a, 'r> {
    row: &'a Row<'r>,
    names: &'static [&'static str],
    first: usize,
}

impl At<'_, '_> {
    fn value<T: FromSql>(&self, i: usize) -> Result<T> {
        self.row.get(self.first + i).map_err(sqlite)
    }

    fn name(&self, i: usize) -> &'static str {
        self.names[i]
    }

    fn opt_uuid<T: From<Uuid>>(&self, i: usize) -> Result<Option<T>> {
        match self.row.get_ref(self.first + i).map_err(sqlite)? {
            ValueRef::Null => Ok(None),
            v => {
                let s = v.as_str().map_err(|e| corrupt(self.name(i), e))?;
                Uuid::parse_str(s)
                    .map(|u| Some(T::from(u)))
                    .map_err(|e| corrupt(self.name(i), e))
            }
        }
    }

    fn uuid<T: From<Uuid>>(&self, i: usize) -> Result<T> {
        self.opt_uuid(i)?
            .ok_or_else(|| corrupt(self.name(i), "null where an id is required"))
    }

    fn time(&self, i: usize) -> Result<OffsetDateTime> {
        time_of(self.name(i), self.value(i)?)
    }

    fn opt_time(&self, i: usize) -> Result<Option<OffsetDateTime>> {
        let v: Option<i64> = self.value(i)?;
        v.map(|v| time_of(self.name(i), v)).transpose()
    }

    /// A column holding text that is read as it is: parsed (a status) or JSON.
    fn with_str<T>(&self, i: usize, f: impl FnOnce(&str) -> Result<T>) -> Result<T> {
        let v = self.row.get_ref(self.first + i).map_err(sqlite)?;
        f(v.as_str().map_err(|e| corrupt(self.name(i), e))?)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, i: usize) -> Result<T> {
        self.with_str(i, |s| {
            serde_json::from_str(s).map_err(|e| corrupt(self.name(i), e))
        })
    }

    fn parsed<T: std::str::FromStr>(&self, i: usize) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        self.with_str(i, |s| s.parse().map_err(|e| corrupt(self.name(i), e)))
    }
}

pub(crate) fn connection_from(row: &Row<'_>) -> Result<Connection> {
    let at = At {
        row,
        names: &CONNECTION_COLS,
        first: 0,
    };
    Ok(Connection {
        id: at.uuid(0)?,
        tenant_id: at.uuid(1)?,
        company_id: at.uuid(2)?,
        platform_key: at.with_str(3, |s| {
            PlatformKey::parse(s).map_err(|e| corrupt(at.name(3), e))
        })?,
        status: at.parsed(4)?,
        data_uses: at.json(5)?,
        consent_id: at.opt_uuid(6)?,
        granted_scope: at.value(7)?,
        last_error: at.value(8)?,
        created_at: at.time(9)?,
        updated_at: at.time(10)?,
        linked_at: at.opt_time(11)?,
        disconnected_at: at.opt_time(12)?,
        upstream: match at.value::<Option<String>>(13)? {
            Some(id) => Some(Upstream {
                id,
                name: at.value::<Option<String>>(14)?.unwrap_or_default(),
            }),
            None => None,
        },
    })
}

fn connection(
    db: &rusqlite::Connection,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<Option<Connection>> {
    one(
        db,
        concat!(
            "select ",
            connection_cols!(),
            " from connections where tenant_id = ?1 and id = ?2"
        ),
        [tenant.to_string(), id.to_string()],
        connection_from,
    )
}

/// The columns [`access_view`] reads after the connection's, by position.
const VIEW_COLS: [&str; 5] = [
    "tokens_ct",
    "k_id",
    "k_given_at",
    "k_withdrawn_at",
    "k_data_uses",
];

/// The connection, its tokens and its consent's terms in one statement (one snapshot). The
/// consent's columns are renamed in a subquery so the connection's own names stay unambiguous
/// for [`connection_from`].
fn access_view(
    db: &rusqlite::Connection,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<Option<AccessView>> {
    let (mut t, mut c) = ([0; 36], [0; 36]);
    one(
        db,
        concat!(
            "select ",
            connection_cols!(),
            ", tokens_ct, k_id, k_given_at, k_withdrawn_at, k_data_uses
             from connections left join
                 (select tenant_id as k_tenant_id, id as k_id, given_at as k_given_at,
                         withdrawn_at as k_withdrawn_at, data_uses as k_data_uses
                  from consents) on k_tenant_id = tenant_id and k_id = consent_id
             where tenant_id = ?1 and id = ?2"
        ),
        [
            text_id(tenant.as_uuid(), &mut t),
            text_id(id.as_uuid(), &mut c),
        ],
        |row| {
            let at = At {
                row,
                names: &VIEW_COLS,
                first: CONNECTION_COLS.len(),
            };
            let consent = match at.opt_uuid(1)? {
                Some(id) => Some(ConsentTerms {
                    id,
                    given_at: at.time(2)?,
                    withdrawn_at: at.opt_time(3)?,
                    data_uses: at.json(4)?,
                }),
                None => None,
            };
            Ok(AccessView {
                connection: connection_from(row)?,
                tokens_ct: at.value(0)?,
                consent,
            })
        },
    )
}

/// The columns [`access_fence`] reads, by position.
const FENCE_COLS: [&str; 3] = ["status", "consent_id", "withdrawn_at"];

/// The connection's status, its consent id and that consent's end, in one statement.
fn access_fence(
    db: &rusqlite::Connection,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<Option<AccessFence>> {
    let (mut t, mut c) = ([0; 36], [0; 36]);
    one(
        db,
        "select c.status, c.consent_id, k.withdrawn_at
         from connections c left join consents k
             on k.tenant_id = c.tenant_id and k.id = c.consent_id
         where c.tenant_id = ?1 and c.id = ?2",
        [
            text_id(tenant.as_uuid(), &mut t),
            text_id(id.as_uuid(), &mut c),
        ],
        |row| {
            let at = At {
                row,
                names: &FENCE_COLS,
                first: 0,
            };
            Ok(AccessFence {
                status: at.parsed(0)?,
                consent_id: at.opt_uuid(1)?,
                consent_withdrawn_at: at.opt_time(2)?,
            })
        },
    )
}

/// An id as the schema stores it (hyphenated lower-case text), written into `buf`: the data
/// path binds its ids without allocating.
fn text_id(id: Uuid, buf: &mut [u8; 36]) -> &str {
    id.hyphenated().encode_lower(buf)
}

/// After a conditional change of one connection that matched no row: `None` (nothing written)
/// if the connection exists and moved on meanwhile, `NotFound` if it does not exist for `tenant`.
fn moved_on(
    db: &rusqlite::Connection,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<Option<Connection>> {
    match connection(db, tenant, id)? {
        Some(_) => Ok(None),
        None => Err(StoreError::NotFound),
    }
}

/// Marks the connection linked with its new tokens, in the caller's transaction, and queues
/// what follows (its outbox row, its next refresh, the revocation of the grant it replaces, the
/// replacement of an earlier connection to the same upstream organisation).
fn link(
    tx: &rusqlite::Connection,
    tenant: TenantId,
    id: ConnectionId,
    write: &LinkWrite,
    at: OffsetDateTime,
) -> Result<Linked> {
    // The tokens this link replaces (the write transaction holds the database).
    let previous: Option<String> = one(
        tx,
        "select tokens_ct from connections where tenant_id = ?1 and id = ?2",
        [tenant.to_string(), id.to_string()],
        |r| r.opt_text("tokens_ct"),
    )?
    .flatten();
    let upstream = write.upstream.as_ref();
    // A disconnected connection is never revived by a late callback: only a new consent may
    // start it again (withdrawal takes effect at once).
    let linked = one(
        tx,
        concat!(
            "update connections set status = 'linked', tokens_ct = ?1, granted_scope = ?2,
                 last_error = null, linked_at = ?3, updated_at = ?3, upstream_id = ?4,
                 upstream_name = ?5
             where tenant_id = ?6 and id = ?7 and status <> 'disconnected' returning ",
            connection_cols!()
        ),
        params![
            write.tokens_ct,
            write.granted_scope,
            micros(at),
            upstream.map(|u| &u.id),
            upstream.map(|u| &u.name),
            tenant.to_string(),
            id.to_string()
        ],
        connection_from,
    )?;
    let Some(linked) = linked else {
        // Told apart in the same transaction (nothing was written).
        return match connection(tx, tenant, id)? {
            Some(_) => Err(StoreError::Conflict(format!(
                "connection {id} is disconnected"
            ))),
            None => Err(StoreError::NotFound),
        };
    };
    if let Some(l) = &write.manage_link {
        if l.tenant_id != tenant || l.company_id != linked.company_id {
            return Err(StoreError::Conflict(
                "a manage link is for the connection's own company".into(),
            ));
        }
        crate::flow::insert_manage_link(tx, l)?;
    }
    let event = WebhookEvent::connection("connection.linked", &linked, at);
    crate::webhooks::insert_events(tx, vec![event])?;
    if let Some(next) = write.refresh {
        crate::jobs::schedule_refresh(tx, tenant, id, &linked.platform_key, next, at)?;
    }
    let mut revoke_jobs = Vec::new();
    // The grant replaced is held by nobody now: revoked at the platform, as a disconnect would.
    if let Some(old) = previous.filter(|old| *old != write.tokens_ct) {
        let platform = &linked.platform_key;
        revoke_jobs.push(crate::jobs::queue_revocation(
            tx, tenant, id, platform, &old, at,
        )?);
    }
    let mut replaced = Vec::new();
    if let Some(upstream) = upstream {
        for earlier in same_upstream(tx, &linked, &upstream.id)? {
            let out = disconnect_in(tx, tenant, earlier, true, REPLACED, at)?
                .ok_or(StoreError::NotFound)?;
            revoke_jobs.extend(out.revoke_job);
            replaced.push(out.connection);
        }
    }
    Ok(Linked {
        connection: linked,
        revoke_jobs,
        replaced,
    })
}

/// How a consent ended by a sign-in to the same upstream organisation is recorded.
const REPLACED: &str = "replaced";

/// The other connections of `linked`'s tenant, company and platform to the upstream
/// organisation `upstream_id` that are not disconnected, in id order.
fn same_upstream(
    tx: &rusqlite::Connection,
    linked: &Connection,
    upstream_id: &str,
) -> Result<Vec<ConnectionId>> {
    all(
        tx,
        "select id from connections
         where tenant_id = ?1 and company_id = ?2 and platform_key = ?3 and upstream_id = ?4
             and id <> ?5 and status <> 'disconnected'
         order by id",
        params![
            linked.tenant_id.to_string(),
            linked.company_id.to_string(),
            linked.platform_key.as_str(),
            upstream_id,
            linked.id.to_string()
        ],
        |r| r.id("id"),
    )
}

/// Sets `last_error` on a connection in `status`, with its `event_type` outbox row (`when`), in
/// the caller's transaction. `None`, and nothing written, when the connection is in another
/// status.
fn record_error(
    tx: &rusqlite::Connection,
    tenant: TenantId,
    id: ConnectionId,
    when: (ConnectionStatus, &'static str),
    error_code: &str,
    at: OffsetDateTime,
) -> Result<Option<Connection>> {
    let (status, event_type) = when;
    let changed = one(
        tx,
        concat!(
            "update connections set last_error = ?1, updated_at = ?2
             where tenant_id = ?3 and id = ?4 and status = ?5 returning ",
            connection_cols!()
        ),
        params![
            error_code,
            micros(at),
            tenant.to_string(),
            id.to_string(),
            status.as_str()
        ],
        connection_from,
    )?;
    let Some(changed) = changed else {
        return moved_on(tx, tenant, id);
    };
    crate::webhooks::insert_events(tx, vec![WebhookEvent::connection(event_type, &changed, at)])?;
    Ok(Some(changed))
}

/// The disconnect, inside the caller's transaction (also used by `delete_company`): status,
/// token destruction, consent withdrawal with its ledger events, and the revocation job commit
/// together.
pub(crate) fn disconnect_in(
    tx: &rusqlite::Connection,
    tenant: TenantId,
    id: ConnectionId,
    revoke: bool,
    method: &str,
    at: OffsetDateTime,
) -> Result<Option<Disconnected>> {
    let current = one(
        tx,
        concat!(
            "select ",
            connection_cols!(),
            ", tokens_ct from connections where tenant_id = ?1 and id = ?2"
        ),
        [tenant.to_string(), id.to_string()],
        |r| Ok((connection_from(r)?, r.opt_text("tokens_ct")?)),
    )?;
    let Some((current, tokens_ct)) = current else {
        return Ok(None);
    };
    if current.status == ConnectionStatus::Disconnected {
        return Ok(Some(Disconnected {
            connection: current,
            revoke_job: None,
        }));
    }
    let connection = one(
        tx,
        concat!(
            "update connections set status = 'disconnected', tokens_ct = null,
                 refresh_leased_until = null, disconnected_at = ?1, updated_at = ?1
             where tenant_id = ?2 and id = ?3 returning ",
            connection_cols!()
        ),
        params![micros(at), tenant.to_string(), id.to_string()],
        connection_from,
    )?
    .ok_or(StoreError::NotFound)?;
    crate::jobs::end_refreshes(tx, tenant, id, at)?;
    // Every consent still in force on this connection ends now, not only the latest one, each
    // with its `withdrawn` ledger event.
    let ended = crate::consents::end_on_connection(tx, tenant, id, at)?;
    withdrawn(tx, tenant, &connection, &ended, method, at)?;
    let revoke_job = match tokens_ct {
        Some(tokens_ct) if revoke => Some(crate::jobs::queue_revocation(
            tx,
            tenant,
            id,
            &connection.platform_key,
            &tokens_ct,
            at,
        )?),
        _ => None,
    };
    Ok(Some(Disconnected {
        connection,
        revoke_job,
    }))
}

/// The ledger events and outbox rows of a disconnect: `withdrawn` for each consent it ended.
fn withdrawn(
    tx: &rusqlite::Connection,
    tenant: TenantId,
    connection: &Connection,
    ended: &[(Consent, String)],
    method: &str,
    at: OffsetDateTime,
) -> Result<()> {
    let bodies = ended
        .iter()
        .map(|(k, purpose)| EventBody::for_consent(EventKind::Withdrawn, k, purpose, method, at))
        .collect();
    crate::ledger::append(tx, tenant, bodies)?;
    let mut outbox = vec![WebhookEvent::connection(
        "connection.disconnected",
        connection,
        at,
    )];
    outbox.extend(
        ended
            .iter()
            .map(|(k, _)| WebhookEvent::consent("consent.withdrawn", k, Some(method), at)),
    );
    crate::webhooks::insert_events(tx, outbox)
}

#[async_trait]
impl ConnectionStore for SqliteStore {
    async fn link_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        write: &LinkWrite,
        at: OffsetDateTime,
    ) -> Result<Linked> {
        let write = write.clone();
        self.write
            .transaction(move |tx| link(tx, tenant, id, &write, at))
            .await
    }

    async fn lease_token_refresh(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.write
            .transaction(move |tx| refresh::lease(tx, tenant, id, until, now))
            .await
    }

    async fn release_token_refresh(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        until: OffsetDateTime,
    ) -> Result<()> {
        self.write
            .transaction(move |tx| refresh::release(tx, tenant, id, until))
            .await
    }

    async fn store_refreshed_tokens(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        refreshed: &RefreshedTokens,
        at: OffsetDateTime,
    ) -> Result<RefreshStored> {
        let refreshed = refreshed.clone();
        self.write
            .transaction(move |tx| refresh::store_refreshed(tx, tenant, id, &refreshed, at))
            .await
    }

    /// The platform refused the refresh with `invalid_grant`: the connection loses its tokens.
    async fn deauthorize_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        previous_tokens_ct: &str,
        error_code: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Connection>> {
        let (previous, error_code) = (previous_tokens_ct.to_owned(), error_code.to_owned());
        self.write
            .transaction(move |tx| {
                refresh::deauthorize(tx, tenant, id, (&previous, &error_code), at)
            })
            .await
    }

    async fn refresh_failing(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        error_code: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Connection>> {
        let error_code = error_code.to_owned();
        let when = (ConnectionStatus::Linked, "connection.refresh_failing");
        self.write
            .transaction(move |tx| record_error(tx, tenant, id, when, &error_code, at))
            .await
    }

    /// Only a connection still pending sign-in records the failure; one that moved on (linked,
    /// disconnected) keeps its state: a late failure report does not describe it any more.
    async fn fail_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        error_code: &str,
        at: OffsetDateTime,
    ) -> Result<()> {
        let error_code = error_code.to_owned();
        let when = (ConnectionStatus::PendingAuth, "connection.failed");
        self.write
            .transaction(move |tx| record_error(tx, tenant, id, when, &error_code, at))
            .await?;
        Ok(())
    }

    async fn connection(&self, tenant: TenantId, id: ConnectionId) -> Result<Option<Connection>> {
        self.read
            .run_point(move |db| connection(db, tenant, id))
            .await
    }

    async fn access_view(&self, tenant: TenantId, id: ConnectionId) -> Result<Option<AccessView>> {
        self.read
            .run_point(move |db| access_view(db, tenant, id))
            .await
    }

    async fn access_fence(
        &self,
        tenant: TenantId,
        id: ConnectionId,
    ) -> Result<Option<AccessFence>> {
        self.read
            .run_point(move |db| access_fence(db, tenant, id))
            .await
    }

    async fn tenant_connections(
        &self,
        tenant: TenantId,
        after: Option<ConnectionId>,
        limit: u32,
    ) -> Result<Vec<Connection>> {
        // Ids are text: the empty string sorts before every id.
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        connection_cols!(),
                        " from connections where tenant_id = ?1 and id > ?2 order by id limit ?3"
                    ),
                    params![tenant.to_string(), after, limit],
                    connection_from,
                )
            })
            .await
    }

    async fn company_connections(
        &self,
        tenant: TenantId,
        company: CompanyId,
    ) -> Result<Vec<Connection>> {
        self.read
            .run_point(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        connection_cols!(),
                        " from connections where tenant_id = ?1 and company_id = ?2 order by id"
                    ),
                    [tenant.to_string(), company.to_string()],
                    connection_from,
                )
            })
            .await
    }

    async fn connection_tokens(
        &self,
        tenant: TenantId,
        id: ConnectionId,
    ) -> Result<Option<String>> {
        self.read
            .run_point(move |db| {
                one(
                    db,
                    "select tokens_ct from connections where tenant_id = ?1 and id = ?2",
                    [tenant.to_string(), id.to_string()],
                    |r| r.opt_text("tokens_ct"),
                )
                .map(Option::flatten)
            })
            .await
    }

    async fn disconnect(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        revoke: bool,
        method: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Disconnected>> {
        let method = method.to_owned();
        self.write
            .transaction(move |tx| disconnect_in(tx, tenant, id, revoke, &method, at))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::CONNECTION_COLS;

    /// Rows are read by position, so the names a failure reports must be the statement's.
    #[test]
    fn the_column_names_follow_the_select_list() {
        let listed: Vec<&str> = connection_cols!().split(',').map(str::trim).collect();
        assert_eq!(listed, CONNECTION_COLS);
    }
}
