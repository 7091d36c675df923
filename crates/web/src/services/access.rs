//! Data access under consent: the tenant reads and writes its customer's data through a
//! connection (`…/data/{data_type}`), forwards mapped platform calls (`…/proxy/{*path}`) and is
//! handed access tokens (`…/access-token`) — each only while the consent in force covers it.
//!
//! Every call goes the same way: the connection, its token ciphertext and the terms of its
//! consent are read fresh from the store in one read ([`ConnectionStore::access_view`]) and
//! checked (`accord_domain::access::check`); the tokens are refreshed on demand ([`tokens`]);
//! the platform is called (a `401` refreshes once and retries once); then, before anything is
//! returned, the call is fenced and recorded, holding the connection's access gate shared
//! ([`AccessGates`]) from the first step until its answer is handed to the server:
//!
//! 1. the connection's status, its consent id and that consent's end are read again
//!    ([`ConnectionStore::access_fence`]; the consent's other terms never change once given, so
//!    those read at the start are kept while the connection names the same consent) and checked
//!    again: a disconnect, a deauthorization or a re-consent committed while the platform
//!    answered refuses the call;
//! 2. the access is recorded, durable before it returns ([`AccessLogStore::record_access`]);
//! 3. the same is read and checked once more, for a disconnect made through another
//!    instance sharing the store. A disconnect destroys the tokens and flips the status in the
//!    transaction that answers it, so a call that passes this last read was ordered before the
//!    disconnect's commit, and its answer leaves straight after, with no further I/O.
//!
//! A disconnect (or a company's deletion) through this instance takes the gate exclusively
//! while it commits, so it waits for every call between steps 1 and its answer, and every call
//! reaching step 1 after it sees the connection disconnected: no call is answered with data
//! after the disconnect's response, and the customer's log never shows one call both served and
//! refused. Only a disconnect committed through another instance during step 2 can refuse a
//! call already recorded as served; a second record then says so.
//!
//! Refusals and platform failures are recorded too; a request Accord cannot parse (a malformed
//! cursor) and Accord's own failures (a store error) are not accesses and are not recorded.
//!
//! [`AccessLogStore::record_access`]: accord_store::AccessLogStore::record_access
//! [`ConnectionStore::access_view`]: accord_store::ConnectionStore::access_view
//! [`ConnectionStore::access_fence`]: accord_store::ConnectionStore::access_fence

mod calls;
mod keys;
mod tokens;

pub use calls::{
    issue_token, proxy, read_data, write_data, DataPage, IssuedToken, Proxied, ProxyRequest,
};
pub use keys::{ApiKeyCache, Authenticated};
pub use tokens::{AccessGates, PerConnection, RefreshLocks};

use crate::error::{ApiError, PlatformProblem};
use crate::state::AppState;
use accord_domain::access::{self, AccessKind, AccessOutcome, AccessRecord, ConsentTerms, Refusal};
use accord_domain::catalog::{DataType, DataUse, Direction, Platform};
use accord_domain::connection::{Connection, ConnectionStatus};
use accord_domain::ids::{AccessId, CompanyId, ConnectionId, TenantId};
use accord_domain::tenant::Tenant;
use accord_store::{AccessView, StoreError};
use axum::http::StatusCode;
use uuid::Uuid;

/// Who makes a call: the tenant and the public id of its API key.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub tenant: &'a Tenant,
    pub api_key_id: &'a str,
}

/// Why a call did not serve data.
pub(crate) enum Failure {
    Refused(Refusal, String),
    Platform(PlatformProblem),
    /// Accord's own failure: answered `500`, not recorded.
    Internal(String),
    /// Bad input found after the check: answered as is, not recorded.
    Input(ApiError),
}

impl Failure {
    fn platform(
        status: StatusCode,
        kind: &'static str,
        detail: &str,
        platform_status: Option<u16>,
    ) -> Self {
        Failure::Platform(PlatformProblem {
            status,
            kind,
            title: "The platform could not serve the call",
            detail: detail.to_owned(),
            platform_status,
            retry_after: None,
        })
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => {
                Failure::Input(ApiError::NotFound(crate::error::Resource::Connection))
            }
            other => Failure::Input(other.into()),
        }
    }
}

/// What a served call gives back, with what the access log keeps of it.
pub(crate) struct Served<T> {
    pub value: T,
    pub platform_status: Option<u16>,
    pub records: Option<u64>,
    pub bytes: Option<u64>,
}

/// One call through one connection, from its check to its record.
pub(crate) struct Access<'a> {
    pub state: &'a AppState,
    pub tenant: &'a Tenant,
    key_id: &'a str,
    pub connection: Connection,
    /// The terms of the consent in force, as last read with the connection.
    consent: Option<ConsentTerms>,
    /// The token ciphertext read with the connection when the call opened.
    tokens_ct: Option<String>,
    pub platform: &'a Platform,
    kind: AccessKind,
}

impl<'a> Access<'a> {
    /// The tenant's connection of the company (404 for anything else, another tenant's ids
    /// included) and its platform.
    async fn open(
        state: &'a AppState,
        caller: Caller<'a>,
        company_id: Uuid,
        connection_id: Uuid,
        kind: AccessKind,
    ) -> Result<Access<'a>, ApiError> {
        let AccessView {
            connection,
            tokens_ct,
            consent,
        } = state
            .connections()
            .access_view(caller.tenant.id, ConnectionId(connection_id))
            .await?
            .filter(|v| v.connection.company_id.0 == company_id)
            .ok_or(ApiError::NotFound(crate::error::Resource::Connection))?;
        let platform = state
            .catalog
            .get(&connection.platform_key)
            .ok_or_else(|| ApiError::Internal("connection's platform not in the catalog".into()))?;
        Ok(Access {
            state,
            tenant: caller.tenant,
            key_id: caller.api_key_id,
            connection,
            consent,
            tokens_ct,
            platform,
            kind,
        })
    }

    /// The consent rule for `wanted` at this moment; `None` asks only whether the connection is
    /// linked under a live consent (a credential serves every use the consent covers).
    fn check(&self, wanted: Option<DataUse>) -> Result<(), Failure> {
        let consent = self.consent.as_ref();
        let wanted = wanted
            .or_else(|| consent.and_then(|c| c.data_uses.first().copied()))
            .unwrap_or(ANY_USE);
        access::check(
            &self.connection,
            consent,
            wanted,
            self.tenant.settings.consent_validity_days,
            self.state.clock.now(),
        )
        .map_err(|reason| Failure::Refused(reason, refusal_detail(reason, wanted)))
    }

    /// Reads the connection's status, its consent id and that consent's end again (one small
    /// read) and checks `wanted` once more. A consent's other terms never change once given, so
    /// while the connection still names the consent the call opened under, the terms read then
    /// are kept; a connection that names another consent is read whole again.
    async fn fence(&mut self, wanted: Option<DataUse>) -> Result<(), Failure> {
        let Some(now) = self
            .state
            .connections()
            .access_fence(self.tenant.id, self.connection.id)
            .await?
        else {
            return Err(withdrawn());
        };
        let same_consent = now.consent_id == self.connection.consent_id
            && self.consent.as_ref().map(|c| c.id) == now.consent_id;
        if same_consent {
            self.connection.status = now.status;
            if let Some(consent) = &mut self.consent {
                consent.withdrawn_at = now.consent_withdrawn_at;
            }
            return self.check(wanted);
        }
        let Some(view) = self
            .state
            .connections()
            .access_view(self.tenant.id, self.connection.id)
            .await?
        else {
            return Err(withdrawn());
        };
        self.connection = view.connection;
        self.consent = view.consent;
        self.check(wanted)
    }

    /// The refusal a call meets once the connection's tokens are gone.
    async fn gone(&self) -> Failure {
        let connection = match self
            .state
            .connections()
            .connection(self.tenant.id, self.connection.id)
            .await
        {
            Ok(Some(c)) => c,
            Ok(None) => self.connection.clone(),
            Err(e) => return e.into(),
        };
        let reason = access::check(&connection, None, ANY_USE, None, self.state.clock.now())
            .err()
            .unwrap_or(Refusal::NotConsented);
        Failure::Refused(reason, refusal_detail(reason, ANY_USE))
    }

    fn record(
        &self,
        wanted: Option<DataUse>,
        outcome: AccessOutcome,
        served: Option<(Option<u16>, Option<u64>, Option<u64>)>,
    ) -> AccessRecord {
        accord_metrics::gateway_call(self.kind.as_str(), outcome.as_str());
        let (platform_status, records, bytes) = served.unwrap_or_default();
        AccessRecord {
            id: AccessId::new(),
            tenant_id: self.tenant.id,
            company_id: self.connection.company_id,
            connection_id: self.connection.id,
            at: self.state.clock.now(),
            kind: self.kind,
            data_type: wanted.map(|u| u.data_type),
            direction: wanted.map(|u| u.direction),
            outcome,
            platform_status,
            records,
            bytes,
            api_key_id: Some(self.key_id.to_owned()),
        }
    }

    /// Fences, records and answers a call's result (see the module's documentation).
    async fn finish<T>(
        mut self,
        wanted: Option<DataUse>,
        result: Result<Served<T>, Failure>,
    ) -> Result<T, ApiError> {
        let served = match result {
            Ok(served) => served,
            Err(failure) => return Err(self.fail(wanted, failure).await),
        };
        // Held from the first fence until the answer leaves this function: a disconnect of this
        // connection through this instance waits for it before it commits, so it is never
        // acknowledged while this data is on its way, and never commits between this call's
        // fence and its record.
        let gate = self.state.access_gates.lock_for(self.connection.id);
        let _shared = gate.read().await;
        if let Err(failure) = self.fence(wanted).await {
            return Err(self.fail(wanted, failure).await);
        }
        let stats = (served.platform_status, served.records, served.bytes);
        let record = self.record(wanted, AccessOutcome::Served, Some(stats));
        self.state.access_log().record_access(&[record]).await?;
        if let Err(failure) = self.fence(wanted).await {
            return Err(self.fail(wanted, failure).await);
        }
        Ok(served.value)
    }

    /// Records a failure (refusals and platform errors; not bad input or Accord's own) and
    /// turns it into the API's answer.
    async fn fail(&self, wanted: Option<DataUse>, failure: Failure) -> ApiError {
        let (outcome, platform_status, error) = match failure {
            Failure::Refused(reason, detail) => (
                AccessOutcome::Refused(reason),
                None,
                ApiError::Refused { reason, detail },
            ),
            Failure::Platform(p) => (
                AccessOutcome::PlatformError,
                p.platform_status,
                ApiError::Platform(p),
            ),
            Failure::Internal(cause) => return ApiError::Internal(cause),
            Failure::Input(e) => return e,
        };
        let record = self.record(wanted, outcome, Some((platform_status, None, None)));
        match self.state.access_log().record_access(&[record]).await {
            Ok(()) => error,
            Err(e) => e.into(),
        }
    }
}

/// A connection gone from the store between two reads of one call.
fn withdrawn() -> Failure {
    Failure::Refused(
        Refusal::Withdrawn,
        refusal_detail(Refusal::Withdrawn, ANY_USE),
    )
}

/// A data use that stands for "any": the rule then answers only from the connection's status
/// and consent, since no consent covers it alone.
const ANY_USE: DataUse = DataUse {
    data_type: DataType::CompanyInfo,
    direction: Direction::Read,
};

fn refusal_detail(reason: Refusal, wanted: DataUse) -> String {
    match reason {
        Refusal::NotConsented => format!(
            "The customer's consent in force does not cover {} in the `{}` direction on this connection.",
            wanted.data_type,
            wanted.direction.as_str()
        ),
        Refusal::Withdrawn => {
            "The customer withdrew the consent: the connection is disconnected.".to_owned()
        }
        Refusal::Expired => {
            "The consent's validity period has ended; the customer must agree again.".to_owned()
        }
        Refusal::ReconsentRequired => {
            "The customer must agree again (the notice changed or the consent ended) before data moves."
                .to_owned()
        }
        Refusal::Deauthorized => {
            "The platform ended Accord's access to this connection; the customer must connect again."
                .to_owned()
        }
    }
}

/// The access gates of every connection of `company` not yet disconnected, held exclusively
/// (in the order of their ids, so two holders never wait on each other). A change that ends
/// their consents (the company's deletion) commits while they are held: as for a disconnect,
/// every data call that passed its first fence is answered before it commits, and every later
/// one sees the connection disconnected.
pub async fn hold_company_gates(
    state: &AppState,
    tenant: TenantId,
    company: CompanyId,
) -> Result<Vec<tokio::sync::OwnedRwLockWriteGuard<()>>, StoreError> {
    let mut held = Vec::new();
    for connection in state
        .connections()
        .company_connections(tenant, company)
        .await?
    {
        if connection.status != ConnectionStatus::Disconnected {
            let gate = state.access_gates.lock_for(connection.id);
            held.push(gate.write_owned().await);
        }
    }
    Ok(held)
}

/// A connection's access log, newest first, strictly before `before`, at most `limit`.
pub async fn access_log(
    state: &AppState,
    tenant: &Tenant,
    company_id: Uuid,
    connection_id: Uuid,
    before: Option<AccessId>,
    limit: u32,
) -> Result<Vec<AccessRecord>, ApiError> {
    let connection = state
        .connections()
        .connection(tenant.id, ConnectionId(connection_id))
        .await?
        .filter(|c| c.company_id.0 == company_id)
        .ok_or(ApiError::NotFound(crate::error::Resource::Connection))?;
    Ok(state
        .access_log()
        .access_log(tenant.id, connection.id, before, limit)
        .await?)
}
