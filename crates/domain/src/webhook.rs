//! Webhooks as the Standard Webhooks specification defines them: `webhook-id`,
//! `webhook-timestamp`, `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`),
//! `whsec_`-prefixed secrets, several signatures during a secret rotation; plus the delivery
//! retry schedule.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The events a tenant can receive.
pub const EVENT_TYPES: &[&str] = &[
    "connection.created",
    "connection.linked",
    "connection.failed",
    "connection.disconnected",
    "connection.deauthorized",
    "connection.refresh_failing",
    "consent.given",
    "consent.withdrawn",
    "consent.expiring",
    "consent.reconsent_required",
    "nda.accepted",
    "support_request.created",
    "ledger.checkpoint",
    "ledger.integrity_alert",
];

/// Event types an endpoint receives only when it lists them (an endpoint with no event types
/// receives every other type): `ledger.checkpoint` comes with every checkpoint the sealer
/// signs, up to one per tenant per sealing round, for the tenant to keep outside Accord.
pub const OPT_IN_EVENT_TYPES: &[&str] = &["ledger.checkpoint"];

/// A new endpoint secret: `whsec_` + base64 of 24 random bytes (the spec allows 24–64).
pub fn new_secret() -> String {
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("whsec_{}", STANDARD.encode(b))
}

/// The raw key of a `whsec_` secret.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix("whsec_")?;
    STANDARD
        .decode(b64)
        .ok()
        .filter(|k| (24..=64).contains(&k.len()))
}

/// One `v1,<sig>` value for `id.timestamp.body`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = secret_key(secret)?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).ok()?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one signature per active secret (space-separated), so a
/// receiver holding either the old or the new secret verifies during a rotation's overlap.
pub fn signature_header(secrets: &[&str], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| sign(s, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Delay before attempt `n` (0-based): immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h;
/// `None` after the last. `jitter` in [0, 1) spreads retries by up to ±10 %.
pub fn retry_delay(attempt: usize, jitter: f64) -> Option<time::Duration> {
    const SCHEDULE: [i64; 8] = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000];
    let base = *SCHEDULE.get(attempt)?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let spread = (base as f64 * 0.2 * (jitter.clamp(0.0, 1.0) - 0.5)) as i64;
    Some(time::Duration::seconds(base + spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // From the Standard Webhooks specification's example.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rotation_signs_with_every_active_secret() {
        let (a, b) = (new_secret(), new_secret());
        let h = signature_header(&[&a, &b], "msg_1", 1, b"{}");
        assert_eq!(h.split(' ').count(), 2);
        assert!(h.contains(&sign(&a, "msg_1", 1, b"{}").unwrap()));
    }

    #[test]
    fn schedule_follows_the_contract() {
        let secs: Vec<i64> = (0..9)
            .filter_map(|n| retry_delay(n, 0.5))
            .map(time::Duration::whole_seconds)
            .collect();
        assert_eq!(secs, [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
        let hi = retry_delay(3, 0.999).unwrap().whole_seconds();
        let lo = retry_delay(3, 0.0).unwrap().whole_seconds();
        assert!(lo >= 1620 && hi <= 1980 && lo < hi);
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert!(secret_key("nope").is_none());
        assert!(secret_key("whsec_AAAA").is_none(), "too short");
    }
}
