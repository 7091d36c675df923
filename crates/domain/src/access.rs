//! Data access under consent: the rule that decides whether a call through a connection may
//! move data, and the record of every access, which the customer sees on the manage page.
//!
//! A call is served only while the connection is linked and the consent in force on it covers
//! the data type in that direction and has not expired, been withdrawn or been marked for
//! re-consent. Everything else is refused, and the refusal names its reason, so a lender's
//! engineer knows what to do (ask the customer to reconnect, to agree again…) and the customer's
//! access log shows what was asked for and not given.

use crate::catalog::{DataType, DataUse, Direction};
use crate::connection::{Connection, ConnectionStatus};
use crate::consent::Consent;
use crate::ids::{AccessId, CompanyId, ConnectionId, ConsentId, TenantId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// Why a call through a connection was refused. The API answers `403` with a problem whose
/// `type` ends with [`Refusal::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The consent in force does not cover this data type in this direction (or the connection
    /// never finished its sign-in, so nothing was agreed to that data could move under).
    NotConsented,
    /// The customer (or the tenant) disconnected: the consent was withdrawn.
    Withdrawn,
    /// The consent's validity period has ended.
    Expired,
    /// The notice changed materially or the consent expired and was ended: the customer must
    /// agree again before data moves.
    ReconsentRequired,
    /// The platform ended Accord's access (the customer removed it there, or a refresh was
    /// refused).
    Deauthorized,
}

impl Refusal {
    pub const ALL: [Refusal; 5] = [
        Self::NotConsented,
        Self::Withdrawn,
        Self::Expired,
        Self::ReconsentRequired,
        Self::Deauthorized,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotConsented => "not_consented",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
            Self::ReconsentRequired => "reconsent_required",
            Self::Deauthorized => "deauthorized",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a consent given at `given_at` ends, for a tenant whose consents are valid for
/// `validity_days` (`None`: until withdrawn).
pub fn valid_until(given_at: OffsetDateTime, validity_days: Option<u32>) -> Option<OffsetDateTime> {
    validity_days.map(|d| given_at + time::Duration::days(i64::from(d)))
}

/// What of a consent decides whether data may move under it: its id (it must be the one in
/// force on the connection), when it was given (its validity runs from then), whether it was
/// withdrawn and the data uses it covers. The rest of a consent (the notice text agreed to, its
/// evidence) is the customer's record, not needed on the data path, so the gateway reads only
/// these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentTerms {
    pub id: ConsentId,
    pub given_at: OffsetDateTime,
    pub withdrawn_at: Option<OffsetDateTime>,
    pub data_uses: Vec<DataUse>,
}

impl From<&Consent> for ConsentTerms {
    fn from(c: &Consent) -> Self {
        Self {
            id: c.id,
            given_at: c.given_at,
            withdrawn_at: c.withdrawn_at,
            data_uses: c.data_uses.clone(),
        }
    }
}

/// Whether data of `wanted` may move through `connection` at `now`, under `consent` (the terms
/// of the consent in force on it, if any) and the tenant's validity period. Deny by default:
/// every state that is not a linked connection with a live consent covering `wanted` is
/// refused, with its reason.
pub fn check(
    connection: &Connection,
    consent: Option<&ConsentTerms>,
    wanted: DataUse,
    validity_days: Option<u32>,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    match connection.status {
        ConnectionStatus::Linked => {}
        ConnectionStatus::Disconnected => return Err(Refusal::Withdrawn),
        ConnectionStatus::Deauthorized => return Err(Refusal::Deauthorized),
        ConnectionStatus::ReconsentRequired => return Err(Refusal::ReconsentRequired),
        ConnectionStatus::PendingAuth => return Err(Refusal::NotConsented),
    }
    let Some(consent) = consent.filter(|c| Some(c.id) == connection.consent_id) else {
        return Err(Refusal::NotConsented);
    };
    if consent.withdrawn_at.is_some_and(|at| at <= now) {
        return Err(Refusal::Withdrawn);
    }
    if valid_until(consent.given_at, validity_days).is_some_and(|until| until <= now) {
        return Err(Refusal::Expired);
    }
    if !consent.data_uses.contains(&wanted) {
        return Err(Refusal::NotConsented);
    }
    Ok(())
}

/// What kind of access a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessKind {
    /// `GET|POST …/data/{data_type}`: Accord's mapped data API.
    Data,
    /// `… /proxy/{*path}`: a platform API call forwarded as it was made.
    Proxy,
    /// `POST …/access-token`: an access token handed to the tenant.
    Credential,
}

impl AccessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Proxy => "proxy",
            Self::Credential => "credential",
        }
    }
}

impl FromStr for AccessKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "data" => Self::Data,
            "proxy" => Self::Proxy,
            "credential" => Self::Credential,
            other => return Err(format!("unknown access kind `{other}`")),
        })
    }
}

/// How an access ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "reason")]
pub enum AccessOutcome {
    /// Data moved (or a token was issued).
    Served,
    /// Accord refused the call before anything reached the platform.
    Refused(Refusal),
    /// The platform answered with an error (its status is in the record); no data moved.
    PlatformError,
}

impl AccessOutcome {
    /// `served`, `platform_error`, or the refusal's reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Served => "served",
            Self::Refused(r) => r.as_str(),
            Self::PlatformError => "platform_error",
        }
    }
}

impl FromStr for AccessOutcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "served" => Ok(Self::Served),
            "platform_error" => Ok(Self::PlatformError),
            other => Refusal::ALL
                .into_iter()
                .find(|r| r.as_str() == other)
                .map(Self::Refused)
                .ok_or_else(|| format!("unknown access outcome `{other}`")),
        }
    }
}

/// One access through a connection, as the customer and the tenant see it afterwards. It holds
/// no data and no secret: what was asked for, when, by which API key, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    pub id: AccessId,
    pub tenant_id: TenantId,
    pub company_id: CompanyId,
    pub connection_id: ConnectionId,
    pub at: OffsetDateTime,
    pub kind: AccessKind,
    /// The data type, when the call maps to one (always, for a served call).
    pub data_type: Option<DataType>,
    pub direction: Option<Direction>,
    pub outcome: AccessOutcome,
    /// The platform's HTTP status, when the call reached it.
    pub platform_status: Option<u16>,
    /// Records returned or sent, when the platform's answer is a list Accord could count.
    pub records: Option<u64>,
    /// Bytes of the platform's answer passed on.
    pub bytes: Option<u64>,
    /// The public id of the API key that made the call (`acc_…` prefix part, never the secret).
    pub api_key_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Category, PlatformKey};
    use crate::consent::{ConsentEvidence, ConsentMethod};
    use crate::ids::NoticeVersionId;
    use crate::locale::Locale;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(secs)
    }

    const INVOICES_READ: DataUse = DataUse {
        data_type: DataType::Invoices,
        direction: Direction::Read,
    };

    fn linked() -> (Connection, Consent) {
        let consent_id = ConsentId::new();
        let connection = Connection {
            id: ConnectionId::new(),
            tenant_id: TenantId::new(),
            company_id: CompanyId::new(),
            platform_key: PlatformKey::parse("sandbox").unwrap(),
            status: ConnectionStatus::Linked,
            data_uses: vec![INVOICES_READ],
            consent_id: Some(consent_id),
            granted_scope: None,
            last_error: None,
            created_at: at(0),
            updated_at: at(0),
            linked_at: Some(at(0)),
            disconnected_at: None,
            upstream: None,
        };
        let consent = Consent {
            id: consent_id,
            tenant_id: connection.tenant_id,
            company_id: connection.company_id,
            connection_id: connection.id,
            platform_key: connection.platform_key.clone(),
            category: Category::Accounting,
            notice_version_id: NoticeVersionId::new(),
            notice_version: 1,
            locale: Locale::En,
            data_uses: vec![INVOICES_READ],
            notice_text: "text".into(),
            notice_sha256: "0".repeat(64),
            evidence: ConsentEvidence {
                method: ConsentMethod::HostedFlowCheckbox,
                checkbox_ticked: true,
                ip: None,
                user_agent: None,
            },
            given_at: at(0),
            withdrawn_at: None,
        };
        (connection, consent)
    }

    #[test]
    fn a_linked_connection_serves_what_its_consent_covers_and_nothing_else() {
        let (connection, consent) = linked();
        assert_eq!(
            check(
                &connection,
                Some(&ConsentTerms::from(&consent)),
                INVOICES_READ,
                None,
                at(10)
            ),
            Ok(())
        );
        let write = DataUse {
            direction: Direction::Write,
            ..INVOICES_READ
        };
        assert_eq!(
            check(
                &connection,
                Some(&ConsentTerms::from(&consent)),
                write,
                None,
                at(10)
            ),
            Err(Refusal::NotConsented)
        );
        let bills = DataUse {
            data_type: DataType::Bills,
            ..INVOICES_READ
        };
        assert_eq!(
            check(
                &connection,
                Some(&ConsentTerms::from(&consent)),
                bills,
                None,
                at(10)
            ),
            Err(Refusal::NotConsented)
        );
        assert_eq!(
            check(&connection, None, INVOICES_READ, None, at(10)),
            Err(Refusal::NotConsented),
            "no consent in force: nothing moves"
        );
        let mut other = consent.clone();
        other.id = ConsentId::new();
        assert_eq!(
            check(
                &connection,
                Some(&ConsentTerms::from(&other)),
                INVOICES_READ,
                None,
                at(10)
            ),
            Err(Refusal::NotConsented),
            "a consent that is not the one in force covers nothing"
        );
    }

    #[test]
    fn every_state_but_linked_is_refused_with_its_reason() {
        let (mut connection, consent) = linked();
        for (status, reason) in [
            (ConnectionStatus::Disconnected, Refusal::Withdrawn),
            (ConnectionStatus::Deauthorized, Refusal::Deauthorized),
            (
                ConnectionStatus::ReconsentRequired,
                Refusal::ReconsentRequired,
            ),
            (ConnectionStatus::PendingAuth, Refusal::NotConsented),
        ] {
            connection.status = status;
            assert_eq!(
                check(
                    &connection,
                    Some(&ConsentTerms::from(&consent)),
                    INVOICES_READ,
                    None,
                    at(10)
                ),
                Err(reason),
                "{status}"
            );
        }
    }

    #[test]
    fn a_withdrawn_or_expired_consent_moves_nothing() {
        let (connection, mut consent) = linked();
        assert_eq!(
            check(
                &connection,
                Some(&ConsentTerms::from(&consent)),
                INVOICES_READ,
                Some(1),
                at(86_399)
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &connection,
                Some(&ConsentTerms::from(&consent)),
                INVOICES_READ,
                Some(1),
                at(86_400)
            ),
            Err(Refusal::Expired),
            "valid for one day: over at its end, even before the worker ends it"
        );
        consent.withdrawn_at = Some(at(5));
        assert_eq!(
            check(
                &connection,
                Some(&ConsentTerms::from(&consent)),
                INVOICES_READ,
                None,
                at(10)
            ),
            Err(Refusal::Withdrawn)
        );
    }

    #[test]
    fn outcomes_round_trip() {
        for o in [AccessOutcome::Served, AccessOutcome::PlatformError]
            .into_iter()
            .chain(Refusal::ALL.into_iter().map(AccessOutcome::Refused))
        {
            assert_eq!(o.as_str().parse::<AccessOutcome>(), Ok(o));
        }
        assert!("gone".parse::<AccessOutcome>().is_err());
        for k in [AccessKind::Data, AccessKind::Proxy, AccessKind::Credential] {
            assert_eq!(k.as_str().parse::<AccessKind>(), Ok(k));
        }
    }
}
