//! The webhook outbox: events written in the same transaction as the change they describe,
//! the tenant's endpoints they are sent to, and the deliveries (one per event × endpoint) with
//! every attempt kept. Signing and the retry schedule are in [`crate::webhook`].
//!
//! Payloads carry ids, statuses and times, never tokens, secrets, notice texts or the
//! customer's free text: a webhook tells the tenant *what* changed; the API tells the rest.

use crate::connection::Connection;
use crate::consent::Consent;
use crate::ids::{TenantId, WebhookDeliveryId, WebhookEndpointId, WebhookEventId};
use crate::ledger::SignedCheckpoint;
use crate::nda::NdaAcceptance;
use crate::tenant::SupportRequest;
use crate::webhook::EVENT_TYPES;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One outbox row: the `webhook-id` (its id), the event type and the exact body every delivery
/// sends (signatures cover these bytes, so the body is kept as text, never re-serialised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub id: WebhookEventId,
    pub tenant_id: TenantId,
    pub event_type: &'static str,
    /// `{"type": …, "timestamp": RFC 3339, "data": {…}}`, the Standard Webhooks payload shape.
    pub body: String,
    pub created_at: OffsetDateTime,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn opt_rfc3339(t: Option<OffsetDateTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}

impl WebhookEvent {
    /// An event of `event_type` (one of [`EVENT_TYPES`]) with `data`, at `at`.
    pub fn new(
        tenant: TenantId,
        event_type: &'static str,
        data: Value,
        at: OffsetDateTime,
    ) -> Self {
        debug_assert!(EVENT_TYPES.contains(&event_type), "{event_type}");
        let mut body = serde_json::Map::new();
        body.insert("type".into(), Value::String(event_type.to_owned()));
        body.insert("timestamp".into(), Value::String(rfc3339(at)));
        body.insert("data".into(), data);
        let body = Value::Object(body);
        Self {
            id: WebhookEventId::new(),
            tenant_id: tenant,
            event_type,
            body: body.to_string(),
            created_at: at,
        }
    }

    /// `connection.created`, `.linked`, `.failed`, `.disconnected`, `.deauthorized`.
    pub fn connection(event_type: &'static str, c: &Connection, at: OffsetDateTime) -> Self {
        Self::new(c.tenant_id, event_type, connection_data(c), at)
    }

    /// `consent.given`, `consent.withdrawn`: the consent and the connection it is for.
    pub fn consent(
        event_type: &'static str,
        k: &Consent,
        method: Option<&str>,
        at: OffsetDateTime,
    ) -> Self {
        let mut data = consent_data(k);
        if let Some(m) = method {
            data["method"] = Value::String(m.to_owned());
        }
        Self::new(k.tenant_id, event_type, data, at)
    }

    /// `consent.expiring`: a consent in force will end at `valid_until` unless the customer agrees
    /// again, told ahead so the tenant can ask them before data stops.
    pub fn consent_expiring(k: &Consent, valid_until: OffsetDateTime, at: OffsetDateTime) -> Self {
        let mut data = consent_data(k);
        data["valid_until"] = Value::String(rfc3339(valid_until));
        Self::new(k.tenant_id, "consent.expiring", data, at)
    }

    /// `consent.reconsent_required`: the connection needs the customer's agreement again;
    /// `reason` is `notice_changed` or `consent_expired`.
    pub fn reconsent_required(c: &Connection, reason: &str, at: OffsetDateTime) -> Self {
        let mut data = connection_data(c);
        data["reason"] = Value::String(reason.to_owned());
        Self::new(c.tenant_id, "consent.reconsent_required", data, at)
    }

    /// `nda.accepted`: who signed which document (its hash), never the document itself.
    pub fn nda_accepted(n: &NdaAcceptance) -> Self {
        let data = json!({
            "nda_id": n.id,
            "company_id": n.company_id,
            "locale": n.locale.as_str(),
            "document_sha256": n.document_sha256,
            "accepted_at": rfc3339(n.accepted_at),
        });
        Self::new(n.tenant_id, "nda.accepted", data, n.accepted_at)
    }

    /// `support_request.created`: the reference and topic; the message and the reply address
    /// stay behind the API (they are the customer's words and contact).
    pub fn support_request(r: &SupportRequest) -> Self {
        let data = json!({
            "support_request_id": r.id,
            "company_id": r.company_id,
            "reference": r.reference,
            "topic": r.topic,
            "created_at": rfc3339(r.created_at),
        });
        Self::new(r.tenant_id, "support_request.created", data, r.created_at)
    }

    /// `ledger.checkpoint`: a checkpoint the sealer signed, whole (tree size and root, chain
    /// head, C2SP signed note, JWS), so the tenant keeps it outside Accord's database. `at` is
    /// when it is written (the checkpoint's `sealed_at` is cut to the second, as it signs it).
    pub fn ledger_checkpoint(c: &SignedCheckpoint, at: OffsetDateTime) -> Self {
        Self::new(
            c.checkpoint.tenant_id,
            "ledger.checkpoint",
            checkpoint_data(c),
            at,
        )
    }

    /// `ledger.integrity_alert`: the sealer refused to sign the tenant's ledger because it is not
    /// a proven extension of the last checkpoint signed (`last_signed`); `seq` is the position
    /// where it departs, `reason` says how.
    pub fn ledger_integrity_alert(
        last_signed: Option<&SignedCheckpoint>,
        tenant: TenantId,
        seq: i64,
        reason: &str,
        at: OffsetDateTime,
    ) -> Self {
        let data = json!({
            "seq": seq,
            "reason": reason,
            "last_signed": last_signed.map(checkpoint_data),
            "detected_at": rfc3339(at),
        });
        Self::new(tenant, "ledger.integrity_alert", data, at)
    }
}

/// A checkpoint as webhooks and the API show it: tree size and root (base64), chain head hash
/// (hex), the C2SP signed note and the JWS (`null` for checkpoints signed before the tree was).
pub fn checkpoint_data(c: &SignedCheckpoint) -> Value {
    let k = &c.checkpoint;
    json!({
        "size": k.seq,
        "root": k.root,
        "chain_hash": k.hash,
        "note": c.note,
        "jws": c.jws,
        "sealed_at": rfc3339(k.sealed_at),
    })
}

fn connection_data(c: &Connection) -> Value {
    json!({
        "connection_id": c.id,
        "company_id": c.company_id,
        "platform_key": c.platform_key.as_str(),
        "status": c.status.as_str(),
        "consent_id": c.consent_id,
        "error_code": c.last_error,
        "created_at": rfc3339(c.created_at),
        "linked_at": opt_rfc3339(c.linked_at),
        "disconnected_at": opt_rfc3339(c.disconnected_at),
        // Who was connected at the platform (`{id, name}`), so a tenant tells two connections
        // to one platform apart; `null` when the platform did not say.
        "upstream": c.upstream,
    })
}

fn consent_data(k: &Consent) -> Value {
    json!({
        "consent_id": k.id,
        "connection_id": k.connection_id,
        "company_id": k.company_id,
        "platform_key": k.platform_key.as_str(),
        "category": k.category.as_str(),
        "notice_version_id": k.notice_version_id,
        "notice_version": k.notice_version,
        "notice_sha256": k.notice_sha256,
        "given_at": rfc3339(k.given_at),
        "withdrawn_at": opt_rfc3339(k.withdrawn_at),
    })
}

/// A tenant's endpoint. The secrets are AEAD ciphertexts (AAD: [`secret_aad`]); they must be
/// recoverable to sign, unlike API keys, so they are encrypted rather than hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub tenant_id: TenantId,
    pub url: String,
    pub description: Option<String>,
    /// The event types sent to it; empty means every type.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why Accord disabled it (`gone`: the endpoint answered 410), cleared when re-enabled.
    pub disabled_reason: Option<String>,
    pub secret_ct: String,
    /// The secret before the last rotation, still signing beside the new one until
    /// `previous_secret_until` (the overlap period).
    pub previous_secret_ct: Option<String>,
    pub previous_secret_until: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl WebhookEndpoint {
    /// Whether the endpoint receives `event_type`: the types it lists, or every type but the
    /// opt-in ones ([`crate::webhook::OPT_IN_EVENT_TYPES`]) when it lists none.
    pub fn subscribes(&self, event_type: &str) -> bool {
        if self.event_types.is_empty() {
            return !crate::webhook::OPT_IN_EVENT_TYPES.contains(&event_type);
        }
        self.event_types.iter().any(|t| t == event_type)
    }

    /// The secret ciphertexts that sign at `now`: the current one, and the previous one during
    /// the overlap after a rotation.
    pub fn signing_secrets_ct(&self, now: OffsetDateTime) -> Vec<&str> {
        let mut out = vec![self.secret_ct.as_str()];
        if let (Some(prev), Some(until)) = (&self.previous_secret_ct, self.previous_secret_until) {
            if now < until {
                out.push(prev);
            }
        }
        out
    }
}

/// The AAD of an endpoint's secrets: bound to the tenant and the endpoint.
pub fn secret_aad(tenant: TenantId, endpoint: WebhookEndpointId) -> Vec<u8> {
    crate::crypto::aad(&tenant, &endpoint, "webhook_secret")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Given up: the schedule ran out, or the endpoint is gone (410) or was deleted.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "pending" => Self::Pending,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            other => return Err(format!("unknown delivery status `{other}`")),
        })
    }
}

/// One event bound for one endpoint. A replay is a new delivery of the same event (so the
/// same `webhook-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub tenant_id: TenantId,
    pub endpoint_id: WebhookEndpointId,
    pub event_id: WebhookEventId,
    pub event_type: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// One HTTP attempt of a delivery, kept for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub delivery_id: WebhookDeliveryId,
    /// 1 for the first attempt.
    pub n: i64,
    pub at: OffsetDateTime,
    pub duration_ms: i64,
    /// The endpoint's HTTP status, when it answered.
    pub response_status: Option<i64>,
    /// Why it failed (`status 503`, `timeout`, `redirect refused`, `address refused`…); `None`
    /// on success.
    pub error: Option<String>,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Succeeded,
    RetryAt(OffsetDateTime),
    /// The schedule ran out.
    GiveUp,
    /// The endpoint answered 410 Gone: this delivery fails and the endpoint is disabled.
    DisableEndpoint,
}

/// A delivery claimed by one worker for one attempt, with what the attempt needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery: WebhookDelivery,
    pub endpoint: WebhookEndpoint,
    /// The event's body, byte for byte.
    pub body: String,
    /// The claim's token: recording the attempt succeeds only while this claim holds the
    /// delivery (a worker whose lease ran out and was re-claimed elsewhere records nothing).
    pub claim: uuid::Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_the_standard_webhooks_shape() {
        let e = WebhookEvent::new(
            TenantId::new(),
            "consent.given",
            json!({"consent_id": "x"}),
            OffsetDateTime::UNIX_EPOCH,
        );
        let v: Value = serde_json::from_str(&e.body).unwrap();
        assert_eq!(v["type"], "consent.given");
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(v["data"]["consent_id"], "x");
    }

    #[test]
    fn the_previous_secret_signs_only_during_the_overlap() {
        let t = OffsetDateTime::UNIX_EPOCH;
        let e = WebhookEndpoint {
            id: WebhookEndpointId::new(),
            tenant_id: TenantId::new(),
            url: "https://hooks.example/".into(),
            description: None,
            event_types: vec!["consent.given".into()],
            enabled: true,
            disabled_reason: None,
            secret_ct: "new".into(),
            previous_secret_ct: Some("old".into()),
            previous_secret_until: Some(t + time::Duration::hours(24)),
            created_at: t,
            updated_at: t,
        };
        assert_eq!(e.signing_secrets_ct(t), ["new", "old"]);
        assert_eq!(e.signing_secrets_ct(t + time::Duration::hours(24)), ["new"]);
        assert!(e.subscribes("consent.given") && !e.subscribes("nda.accepted"));
        // No types listed: every type but the opt-in ones.
        let all = WebhookEndpoint {
            event_types: Vec::new(),
            ..e.clone()
        };
        assert!(all.subscribes("nda.accepted") && all.subscribes("ledger.integrity_alert"));
        assert!(!all.subscribes("ledger.checkpoint"));
        let archive = WebhookEndpoint {
            event_types: vec!["ledger.checkpoint".into()],
            ..e
        };
        assert!(archive.subscribes("ledger.checkpoint"));
    }
}
