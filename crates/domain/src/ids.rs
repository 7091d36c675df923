//! Typed, time-ordered identifiers (`UUIDv7`). A bare `String` id never crosses a layer.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id (`UUIDv7`), so rows sort by creation and index well.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

typed_id!(/// A lender or fintech using Accord.
    TenantId);
typed_id!(/// One API key of a tenant (the public half of the key names it).
    ApiKeyId);
typed_id!(/// A tenant's small-business customer.
    CompanyId);
typed_id!(/// A company × platform link.
    ConnectionId);
typed_id!(/// A recorded agreement to one notice version.
    ConsentId);
typed_id!(/// A short-lived, single-use entry into the hosted flow.
    LinkSessionId);
typed_id!(/// A tenant × category × locale notice (all its versions).
    NoticeId);
typed_id!(/// One immutable version of a notice.
    NoticeVersionId);
typed_id!(/// A browser session in the hosted flow or on the manage page.
    BrowserSessionId);
typed_id!(/// A customer's support request.
    SupportRequestId);
typed_id!(/// A durable background job (revocation at the platform, …).
    JobId);
typed_id!(/// A tenant's webhook endpoint (a URL Accord posts signed events to).
    WebhookEndpointId);
typed_id!(/// One event of the webhook outbox; its id is the `webhook-id` every delivery of it carries.
    WebhookEventId);
typed_id!(/// One event bound for one endpoint, with its attempts.
    WebhookDeliveryId);
typed_id!(/// One signed mutual NDA (a company's acceptance of the tenant's MNDA).
    NdaAcceptanceId);
typed_id!(/// One access through a connection (a data call, a proxied call, a token issued).
    AccessId);
typed_id!(/// A person who signs in to a tenant's console.
    UserId);
typed_id!(/// One entry of a tenant's audit trail (who did what in the console or the API).
    AuditId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_and_round_trip() {
        let a = CompanyId::new();
        let b = CompanyId::new();
        assert!(a < b, "`UUIDv7` ids sort by creation");
        assert_eq!(a.to_string().parse::<CompanyId>().unwrap(), a);
        assert!("not-a-uuid".parse::<CompanyId>().is_err());
    }
}
