//! Webhooks: every change writes its outbox event in its own transaction (and a refused change
//! writes none); endpoints are owner-scoped and rotate atomically; events fan out once to the
//! subscribed endpoints; a delivery is claimed by one worker per attempt, its attempts are kept,
//! 410 disables the endpoint, a replay sends the same event again.

use super::fixtures::{self, at, World};
use super::nda::{nda_acceptance, nda_event};
use crate::{Store, StoreError};
use accord_domain::catalog::Category;
use accord_domain::ids::{TenantId, WebhookEndpointId};
use accord_domain::locale::Locale;
use accord_domain::outbox::{
    AfterAttempt, ClaimedDelivery, DeliveryStatus, WebhookAttempt, WebhookEndpoint,
};
use time::{Duration, OffsetDateTime};

/// An endpoint of `tenant` created at `created_at`, subscribed to `types` (empty: all).
pub fn endpoint(tenant: TenantId, types: &[&str], created_at: OffsetDateTime) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookEndpointId::new(),
        tenant_id: tenant,
        url: "https://hooks.lender.example/accord".into(),
        description: Some("Production".into()),
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        enabled: true,
        disabled_reason: None,
        secret_ct: "ct:secret-1".into(),
        previous_secret_ct: None,
        previous_secret_until: None,
        created_at,
        updated_at: created_at,
    }
}

async fn types(store: &dyn Store, tenant: TenantId) -> Vec<&'static str> {
    store
        .webhook_events(tenant, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

pub async fn every_change_writes_its_outbox_event(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let first = fixtures::consent_write(&w.company, &w.nv, at(0));
    store.record_consent(&first).await.unwrap();
    assert_eq!(
        types(store, w.tenant.id).await,
        ["connection.created", "consent.given"]
    );
    store
        .link_connection(
            w.tenant.id,
            first.connection.id,
            &fixtures::link_write("ct:tokens", None),
            at(10),
        )
        .await
        .unwrap();
    // A new consent on the same connection: no second `connection.created`.
    store
        .record_consent(&fixtures::reconsent(&first, at(20)))
        .await
        .unwrap();
    let pending = fixtures::consent_write(&w.company, &w.nv, at(30));
    store.record_consent(&pending).await.unwrap();
    store
        .fail_connection(w.tenant.id, pending.connection.id, "access_denied", at(40))
        .await
        .unwrap();
    store
        .disconnect(w.tenant.id, first.connection.id, true, "tenant_api", at(50))
        .await
        .unwrap();
    store
        .create_support_request(
            &fixtures::support_request(w.tenant.id, Some(w.company.id), 60),
            None,
        )
        .await
        .unwrap();
    let nda = nda_acceptance(&w.company, 70);
    store.record_nda(&nda, nda_event(&nda)).await.unwrap();
    assert_eq!(
        types(store, w.tenant.id).await,
        [
            "connection.created",
            "consent.given",
            "connection.linked",
            "consent.given",
            "connection.created",
            "consent.given",
            "connection.failed",
            "connection.disconnected",
            "consent.withdrawn",
            "support_request.created",
            "nda.accepted",
        ]
    );
    let events = store.webhook_events(w.tenant.id, 1000).await.unwrap();
    let withdrawn: serde_json::Value = serde_json::from_str(&events[8].body).unwrap();
    assert_eq!(withdrawn["type"], "consent.withdrawn");
    assert_eq!(
        withdrawn["data"]["connection_id"],
        first.connection.id.to_string()
    );
    assert_eq!(withdrawn["data"]["method"], "tenant_api");
    let failed: serde_json::Value = serde_json::from_str(&events[6].body).unwrap();
    assert_eq!(failed["data"]["error_code"], "access_denied");
    // Nothing secret rides along: no token ciphertext, no support message or address.
    for e in &events {
        for secret in ["ct:tokens", "sign-in page", "owner@", "Mutual NDA"] {
            assert!(!e.body.contains(secret), "{secret} in {}", e.body);
        }
    }
}

pub async fn reconsent_and_expiry_events_are_written_with_the_change(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let on_v1 = fixtures::linked(store, &w.company, &w.nv).await;
    store
        .publish_notice_version(
            w.tenant.id,
            Category::Accounting,
            Locale::En,
            &fixtures::content("A new purpose."),
            at(300),
        )
        .await
        .unwrap();
    let other = World::new(store, "Lender B").await;
    let old = fixtures::linked(store, &other.company, &other.nv).await;
    store
        .expire_consents(other.tenant.id, at(1000), at(2000))
        .await
        .unwrap();
    let a = store.webhook_events(w.tenant.id, 100).await.unwrap();
    let last: serde_json::Value = serde_json::from_str(&a.last().unwrap().body).unwrap();
    assert_eq!(last["type"], "consent.reconsent_required");
    assert_eq!(last["data"]["reason"], "notice_changed");
    assert_eq!(
        last["data"]["connection_id"],
        on_v1.connection.id.to_string()
    );
    let b = store.webhook_events(other.tenant.id, 100).await.unwrap();
    let last: serde_json::Value = serde_json::from_str(&b.last().unwrap().body).unwrap();
    assert_eq!(last["type"], "consent.reconsent_required");
    assert_eq!(last["data"]["reason"], "consent_expired");
    assert_eq!(last["data"]["connection_id"], old.connection.id.to_string());
    assert_eq!(last["data"]["status"], "reconsent_required");
}

pub async fn a_refused_change_writes_no_event(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let first = fixtures::consent_write(&w.company, &w.nv, at(0));
    store.record_consent(&first).await.unwrap();
    store
        .disconnect(
            w.tenant.id,
            first.connection.id,
            false,
            "manage_page",
            at(5),
        )
        .await
        .unwrap();
    let before = types(store, w.tenant.id).await;
    let late = fixtures::reconsent(&first, at(10));
    assert!(matches!(
        store.record_consent(&late).await,
        Err(StoreError::NotFound)
    ));
    // Linking a disconnected connection, failing a linked one: refused or no change, no event.
    assert!(store
        .link_connection(
            w.tenant.id,
            first.connection.id,
            &fixtures::link_write("ct:x", None),
            at(11)
        )
        .await
        .is_err());
    store
        .fail_connection(w.tenant.id, first.connection.id, "late", at(12))
        .await
        .unwrap();
    // A second disconnect changes nothing.
    store
        .disconnect(
            w.tenant.id,
            first.connection.id,
            false,
            "manage_page",
            at(13),
        )
        .await
        .unwrap();
    assert_eq!(types(store, w.tenant.id).await, before);
}

pub async fn concurrent_consents_each_write_their_events(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let writes: Vec<_> = (0..40)
        .map(|n| fixtures::consent_write(&w.company, &w.nv, at(n)))
        .collect();
    let results = futures::future::join_all(writes.iter().map(|w| store.record_consent(w))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let events = store.webhook_events(w.tenant.id, 1000).await.unwrap();
    assert_eq!(events.len(), 80);
    for write in &writes {
        let about: Vec<_> = events
            .iter()
            .filter(|e| e.body.contains(&write.connection.id.to_string()))
            .map(|e| e.event_type)
            .collect();
        assert_eq!(about, ["connection.created", "consent.given"]);
    }
}

pub async fn webhook_endpoints_are_owner_scoped_and_rotate_atomically(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = World::new(store, "Lender B").await;
    let mut e = endpoint(w.tenant.id, &["consent.given"], at(0));
    store.create_webhook_endpoint(&e).await.unwrap();
    assert_eq!(
        store.webhook_endpoints(w.tenant.id).await.unwrap(),
        [e.clone()]
    );
    assert!(store
        .webhook_endpoints(other.tenant.id)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .webhook_endpoint(other.tenant.id, e.id)
        .await
        .unwrap()
        .is_none());

    e.url = "https://hooks.lender.example/v2".into();
    e.event_types = vec![];
    e.enabled = false;
    e.description = None;
    e.updated_at = at(10);
    store.update_webhook_endpoint(&e).await.unwrap();
    assert_eq!(
        store.webhook_endpoint(w.tenant.id, e.id).await.unwrap(),
        Some(e.clone())
    );
    let mut foreign = e.clone();
    foreign.tenant_id = other.tenant.id;
    assert!(matches!(
        store.update_webhook_endpoint(&foreign).await,
        Err(StoreError::NotFound)
    ));

    let rotated = store
        .rotate_webhook_secret(w.tenant.id, e.id, "ct:secret-2", at(100), at(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.secret_ct, "ct:secret-2");
    assert_eq!(rotated.previous_secret_ct.as_deref(), Some("ct:secret-1"));
    assert_eq!(rotated.previous_secret_until, Some(at(100)));
    assert!(store
        .rotate_webhook_secret(other.tenant.id, e.id, "ct:evil", at(100), at(20))
        .await
        .unwrap()
        .is_none());

    assert!(!store
        .delete_webhook_endpoint(other.tenant.id, e.id, at(30))
        .await
        .unwrap());
    assert!(store
        .delete_webhook_endpoint(w.tenant.id, e.id, at(30))
        .await
        .unwrap());
    assert!(store
        .webhook_endpoint(w.tenant.id, e.id)
        .await
        .unwrap()
        .is_none());
    assert!(!store
        .delete_webhook_endpoint(w.tenant.id, e.id, at(31))
        .await
        .unwrap());
}

pub async fn events_fan_out_once_to_subscribed_endpoints(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = World::new(store, "Lender B").await;
    let all = endpoint(w.tenant.id, &[], at(0));
    let given_only = endpoint(w.tenant.id, &["consent.given"], at(0));
    let mut disabled = endpoint(w.tenant.id, &[], at(0));
    disabled.enabled = false;
    let foreign = endpoint(other.tenant.id, &[], at(0));
    for e in [&all, &given_only, &disabled, &foreign] {
        store.create_webhook_endpoint(e).await.unwrap();
    }
    let write = fixtures::consent_write(&w.company, &w.nv, at(10));
    store.record_consent(&write).await.unwrap();
    // An endpoint created after the events does not receive them.
    store
        .create_webhook_endpoint(&endpoint(w.tenant.id, &[], at(20)))
        .await
        .unwrap();

    let (a, b) = futures::join!(
        store.fan_out_webhook_events(at(30), 100),
        store.fan_out_webhook_events(at(30), 100)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 2, "each event fanned out once");
    assert_eq!(store.fan_out_webhook_events(at(31), 100).await.unwrap(), 0);
    let to_all = store
        .webhook_deliveries(w.tenant.id, all.id, None, 50)
        .await
        .unwrap();
    let mut kinds: Vec<_> = to_all.iter().map(|d| d.event_type.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["connection.created", "consent.given"]);
    assert!(to_all
        .iter()
        .all(|d| d.status == DeliveryStatus::Pending && d.next_attempt_at == Some(at(30))));
    let to_given = store
        .webhook_deliveries(w.tenant.id, given_only.id, None, 50)
        .await
        .unwrap();
    assert_eq!(to_given.len(), 1);
    assert_eq!(to_given[0].event_type, "consent.given");
    assert!(store
        .webhook_deliveries(w.tenant.id, disabled.id, None, 50)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .webhook_deliveries(other.tenant.id, foreign.id, None, 50)
        .await
        .unwrap()
        .is_empty());
    // The same event id for every endpoint: it is the `webhook-id`.
    let given_event = to_all
        .iter()
        .find(|d| d.event_type == "consent.given")
        .unwrap()
        .event_id;
    assert_eq!(to_given[0].event_id, given_event);
}

/// Both attempts of the delivery `first` are kept, in order, and only its owner sees them.
async fn attempts_are_kept_for_their_owner(
    store: &dyn Store,
    w: &World,
    other: &World,
    first: &ClaimedDelivery,
) {
    let attempts = store
        .webhook_attempts(w.tenant.id, first.delivery.id)
        .await
        .unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.n, a.response_status, a.error.clone()))
            .collect::<Vec<_>>(),
        [
            (1, Some(503), Some("status 503".to_owned())),
            (2, Some(204), None)
        ]
    );
    assert!(store
        .webhook_attempts(other.tenant.id, first.delivery.id)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .webhook_delivery(other.tenant.id, first.delivery.id)
        .await
        .unwrap()
        .is_none());
}

/// A replay of the delivery `first` to `e` is a new pending delivery of the same event, which
/// another tenant cannot ask for; a 410 answer fails it and disables the endpoint.
async fn replay_then_gone(
    store: &dyn Store,
    w: &World,
    other: &World,
    e: &WebhookEndpoint,
    first: &ClaimedDelivery,
) {
    let lease = Duration::minutes(1);
    let attempt = |n: i64, t: i64, status: Option<i64>, error: Option<&str>| WebhookAttempt {
        delivery_id: first.delivery.id,
        n,
        at: at(t),
        duration_ms: 12,
        response_status: status,
        error: error.map(Into::into),
    };
    // A replay: a new pending delivery of the same event; another tenant cannot.
    assert!(store
        .replay_webhook_delivery(other.tenant.id, e.id, first.delivery.id, at(80))
        .await
        .unwrap()
        .is_none());
    let replay = store
        .replay_webhook_delivery(w.tenant.id, e.id, first.delivery.id, at(80))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(replay.id, first.delivery.id);
    assert_eq!(replay.event_id, first.delivery.event_id);
    assert_eq!(
        (replay.status, replay.attempts, replay.next_attempt_at),
        (DeliveryStatus::Pending, 0, Some(at(80)))
    );
    // 410: the delivery fails and the endpoint is disabled; nothing of it is claimed any more.
    let gone = store
        .claim_webhook_deliveries(at(80), 10, lease)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(gone.delivery.id, replay.id);
    assert!(store
        .record_webhook_attempt(
            &gone,
            &attempt(1, 81, Some(410), Some("status 410")),
            AfterAttempt::DisableEndpoint
        )
        .await
        .unwrap());
    let disabled = store
        .webhook_endpoint(w.tenant.id, e.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!disabled.enabled);
    assert_eq!(disabled.disabled_reason.as_deref(), Some("gone"));
    let listed = store
        .webhook_deliveries(w.tenant.id, e.id, None, 10)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|d| (d.id, d.status)).collect::<Vec<_>>(),
        [
            (replay.id, DeliveryStatus::Failed),
            (first.delivery.id, DeliveryStatus::Succeeded)
        ],
        "newest first"
    );
    let page2 = store
        .webhook_deliveries(w.tenant.id, e.id, Some(replay.id), 10)
        .await
        .unwrap();
    assert_eq!(page2.len(), 1);
}

pub async fn deliveries_are_claimed_once_per_attempt_and_kept(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = World::new(store, "Lender B").await;
    let e = endpoint(w.tenant.id, &["support_request.created"], at(0));
    store.create_webhook_endpoint(&e).await.unwrap();
    store
        .create_support_request(&fixtures::support_request(w.tenant.id, None, 1), None)
        .await
        .unwrap();
    store.fan_out_webhook_events(at(2), 10).await.unwrap();
    let lease = Duration::minutes(1);
    let (one, two) = futures::join!(
        store.claim_webhook_deliveries(at(3), 10, lease),
        store.claim_webhook_deliveries(at(3), 10, lease)
    );
    let claimed: Vec<_> = one.unwrap().into_iter().chain(two.unwrap()).collect();
    assert_eq!(claimed.len(), 1, "one claim per attempt");
    let first = claimed.into_iter().next().unwrap();
    assert_eq!(first.endpoint, e);
    assert!(first.body.contains("support_request.created"));
    assert!(store
        .claim_webhook_deliveries(at(30), 10, lease)
        .await
        .unwrap()
        .is_empty());
    // The worker died: once the lease has passed, another claim takes it; the first claim's
    // late report is refused.
    let second = store
        .claim_webhook_deliveries(at(70), 10, lease)
        .await
        .unwrap()
        .pop()
        .expect("re-claimed after the lease");
    let attempt = |n: i64, t: i64, status: Option<i64>, error: Option<&str>| WebhookAttempt {
        delivery_id: first.delivery.id,
        n,
        at: at(t),
        duration_ms: 12,
        response_status: status,
        error: error.map(Into::into),
    };
    assert!(!store
        .record_webhook_attempt(
            &first,
            &attempt(1, 71, Some(200), None),
            AfterAttempt::Succeeded
        )
        .await
        .unwrap());
    assert!(store
        .record_webhook_attempt(
            &second,
            &attempt(1, 72, Some(503), Some("status 503")),
            AfterAttempt::RetryAt(at(77))
        )
        .await
        .unwrap());
    let delivery = store
        .webhook_delivery(w.tenant.id, first.delivery.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (delivery.status, delivery.attempts, delivery.next_attempt_at),
        (DeliveryStatus::Pending, 1, Some(at(77)))
    );
    assert!(store
        .claim_webhook_deliveries(at(76), 10, lease)
        .await
        .unwrap()
        .is_empty());
    let third = store
        .claim_webhook_deliveries(at(77), 10, lease)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(third.delivery.attempts, 1);
    assert!(store
        .record_webhook_attempt(
            &third,
            &attempt(2, 78, Some(204), None),
            AfterAttempt::Succeeded
        )
        .await
        .unwrap());
    attempts_are_kept_for_their_owner(store, &w, &other, &first).await;
    replay_then_gone(store, &w, &other, &e, &first).await;
}
