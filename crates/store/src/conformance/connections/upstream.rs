//! [`ConnectionStore`](crate::ConnectionStore), who was connected at the platform: a link keeps
//! the upstream organisation it reports; signing in again to the same organisation replaces the
//! earlier connection of the company to that platform (disconnected, its grant revoked, its
//! consent withdrawn on the record with method `replaced`), while another organisation is a
//! second connection beside the first.

use crate::conformance::fixtures::{self, at, t0, World};
use crate::{LinkWrite, Linked, RefreshSchedule, Store};
use accord_domain::catalog::PlatformKey;
use accord_domain::connection::{ConnectionStatus, Upstream};
use accord_domain::ids::{ConnectionId, JobId, TenantId};
use accord_domain::ledger::EventKind;
use accord_domain::notice::NoticeVersion;
use accord_domain::tenant::{Company, JobKind};
use time::Duration;

fn link(tokens_ct: &str, upstream: Option<Upstream>) -> LinkWrite {
    LinkWrite {
        upstream,
        ..fixtures::link_write(tokens_ct, None)
    }
}

/// A new connection of `company` to `platform` with a consent given at `given`, linked at
/// `linked` with `tokens_ct` for `upstream`; returns its id and what the link answered.
async fn connect(
    store: &dyn Store,
    (company, nv): (&Company, &NoticeVersion),
    platform: &str,
    (given, linked): (i64, i64),
    tokens_ct: &str,
    upstream: Option<Upstream>,
) -> (ConnectionId, Linked) {
    let mut write = fixtures::consent_write(company, nv, at(given));
    write.connection.platform_key = PlatformKey::parse(platform).unwrap();
    write.consent.platform_key = write.connection.platform_key.clone();
    store.record_consent(&write).await.unwrap();
    let out = store
        .link_connection(
            company.tenant_id,
            write.connection.id,
            &link(tokens_ct, upstream),
            at(linked),
        )
        .await
        .expect("link");
    (write.connection.id, out)
}

async fn status(store: &dyn Store, t: TenantId, id: ConnectionId) -> ConnectionStatus {
    store.connection(t, id).await.unwrap().unwrap().status
}

pub async fn a_link_keeps_the_upstream_identity(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let write = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&write).await.unwrap();
    let (t, id) = (w.tenant.id, write.connection.id);
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap().upstream,
        None,
        "unknown before the sign-in"
    );
    let org = fixtures::upstream("org-1");
    let out = store
        .link_connection(t, id, &link("ct:tokens", Some(org.clone())), at(60))
        .await
        .unwrap();
    assert_eq!(out.connection.upstream.as_ref(), Some(&org));
    assert_eq!(out.connection.status, ConnectionStatus::Linked);
    assert_eq!(store.connection(t, id).await.unwrap(), Some(out.connection));
    let listed = store.company_connections(t, w.company.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].upstream.as_ref(), Some(&org));

    // A re-consent does not sign in at the platform again: who is connected stays known.
    store
        .record_consent(&fixtures::reconsent(&write, at(100)))
        .await
        .unwrap();
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap().upstream,
        Some(org)
    );

    // A later sign-in reports who it connected, or that it could not tell.
    let other = Upstream {
        id: "org-2".into(),
        name: "Bluebell Bakery Ltd".into(),
    };
    let out = store
        .link_connection(t, id, &link("ct:two", Some(other.clone())), at(200))
        .await
        .unwrap();
    assert!(
        out.replaced.is_empty(),
        "a connection never replaces itself"
    );
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap().upstream,
        Some(other)
    );
    let out = store
        .link_connection(t, id, &link("ct:three", None), at(300))
        .await
        .unwrap();
    assert_eq!(out.connection.upstream, None);
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap().upstream,
        None,
        "an identity not read is not known"
    );
}

/// The connection `id`, replaced at `at(200)`: disconnected with its tokens destroyed, its
/// refresh ended, its consent withdrawn on the record with method `replaced`, and its events.
async fn replaced_as_a_disconnect(
    store: &dyn Store,
    w: &World,
    id: ConnectionId,
    refresh: JobId,
    revoke_jobs: &[JobId],
) {
    let t = w.tenant.id;
    let c = store.connection(t, id).await.unwrap().unwrap();
    assert_eq!(
        (c.status, c.disconnected_at, c.updated_at),
        (ConnectionStatus::Disconnected, Some(at(200)), at(200))
    );
    assert_eq!(store.connection_tokens(t, id).await.unwrap(), None);
    let refresh = store.job(refresh).await.unwrap().unwrap();
    assert_eq!(refresh.done_at, Some(at(200)), "its refresh ended");
    let [revoke] = revoke_jobs else {
        panic!("one revocation, of the replaced grant: {revoke_jobs:?}");
    };
    let revoke = store.job(*revoke).await.unwrap().unwrap();
    assert_eq!(
        (revoke.kind, revoke.run_at, revoke.done_at),
        (JobKind::RevokeToken, at(200), None)
    );
    assert_eq!(
        revoke.payload,
        serde_json::json!({"connection_id": id, "platform_key": "sandbox", "tokens_ct": "ct:first"})
    );
    let consent_id = c.consent_id.expect("its consent");
    let consent = store.consent(t, consent_id).await.unwrap().unwrap();
    assert_eq!(consent.withdrawn_at, Some(at(200)));
    let events = store.consent_events(t, consent_id).await.unwrap();
    let last = &events.last().expect("events").event.body;
    assert_eq!(
        (last.kind, last.method.as_str(), last.at),
        (EventKind::Withdrawn, "replaced", at(200)),
        "recorded, never silently"
    );
    let outbox = store.webhook_events(t, 1000).await.unwrap();
    let about = |ty: &str| {
        outbox
            .iter()
            .filter(|e| e.event_type == ty && e.created_at == at(200))
            .map(|e| serde_json::from_str::<serde_json::Value>(&e.body).unwrap())
            .collect::<Vec<_>>()
    };
    let disconnected = about("connection.disconnected");
    assert_eq!(disconnected.len(), 1, "{disconnected:?}");
    assert_eq!(
        disconnected[0]["data"]["connection_id"],
        serde_json::json!(id)
    );
    let withdrawn = about("consent.withdrawn");
    assert_eq!(withdrawn.len(), 1, "{withdrawn:?}");
    assert_eq!(
        withdrawn[0]["data"]["consent_id"],
        serde_json::json!(consent_id)
    );
    assert_eq!(withdrawn[0]["data"]["method"], "replaced");
}

pub async fn relinking_the_same_upstream_replaces_the_earlier_connection(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let t = w.tenant.id;
    let org = || Some(fixtures::upstream("org-1"));
    let mine = (&w.company, &w.nv);
    // The earlier connection, with its refresh pending.
    let write = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&write).await.unwrap();
    let first = write.connection.id;
    let refresh = RefreshSchedule {
        job: JobId::new(),
        run_at: at(3000),
    };
    let mut first_link = link("ct:first", org());
    first_link.refresh = Some(refresh);
    store
        .link_connection(t, first, &first_link, at(60))
        .await
        .unwrap();
    // Others with the same organisation id that are not the same company × platform × tenant.
    let (other_platform, _) = connect(store, mine, "sandbox-bank", (0, 70), "ct:bank", org()).await;
    let sibling = fixtures::company(store, t, Some("sibling")).await;
    let (other_company, _) = connect(
        store,
        (&sibling, &w.nv),
        "sandbox",
        (0, 80),
        "ct:sib",
        org(),
    )
    .await;
    let b = World::new(store, "Lender B").await;
    let (other_tenant, _) = connect(
        store,
        (&b.company, &b.nv),
        "sandbox",
        (0, 90),
        "ct:b",
        org(),
    )
    .await;

    // The customer signs in again to the same organisation, through a new connection.
    let (second, out) = connect(store, mine, "sandbox", (150, 200), "ct:second", org()).await;
    assert_eq!(out.connection.id, second);
    assert_eq!(out.replaced.len(), 1, "{:?}", out.replaced);
    assert_eq!(out.replaced[0].id, first);
    assert_eq!(
        Some(&out.replaced[0]),
        store.connection(t, first).await.unwrap().as_ref(),
        "returned as it is after the link"
    );
    replaced_as_a_disconnect(store, &w, first, refresh.job, &out.revoke_jobs).await;

    assert_eq!(status(store, t, second).await, ConnectionStatus::Linked);
    assert_eq!(
        store.connection_tokens(t, second).await.unwrap().as_deref(),
        Some("ct:second")
    );
    for (tenant, id) in [
        (t, other_platform),
        (t, other_company),
        (b.tenant.id, other_tenant),
    ] {
        assert_eq!(status(store, tenant, id).await, ConnectionStatus::Linked);
        assert!(store.connection_tokens(tenant, id).await.unwrap().is_some());
    }
    // Linking the new one again replaces nothing: the earlier one is disconnected already.
    let again = store
        .link_connection(t, second, &link("ct:second", org()), at(300))
        .await
        .unwrap();
    assert!(
        again.replaced.is_empty() && again.revoke_jobs.is_empty(),
        "{again:?}"
    );
    let revocations = store
        .claim_jobs(at(400), 100, Duration::minutes(1))
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == JobKind::RevokeToken)
        .count();
    assert_eq!(revocations, 1, "only the replaced grant is revoked");
}

pub async fn a_different_upstream_is_a_second_connection(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let t = w.tenant.id;
    let mine = (&w.company, &w.nv);
    let org = |id: &str| Some(fixtures::upstream(id));
    let (first, _) = connect(store, mine, "sandbox", (0, 60), "ct:1", org("org-1")).await;
    let (unknown, _) = connect(store, mine, "sandbox", (0, 70), "ct:u", None).await;
    let (second, out) = connect(store, mine, "sandbox", (0, 80), "ct:2", org("org-2")).await;
    assert!(
        out.replaced.is_empty() && out.revoke_jobs.is_empty(),
        "{out:?}"
    );
    // An identity not read matches nothing, and is matched by nothing.
    let (third, out) = connect(store, mine, "sandbox", (0, 90), "ct:3", None).await;
    assert!(
        out.replaced.is_empty() && out.revoke_jobs.is_empty(),
        "{out:?}"
    );
    let mut ids = Vec::new();
    for c in store.company_connections(t, w.company.id).await.unwrap() {
        assert_eq!(c.status, ConnectionStatus::Linked, "{c:?}");
        ids.push(c.id);
    }
    ids.sort_unstable();
    let mut expected = vec![first, unknown, second, third];
    expected.sort_unstable();
    assert_eq!(ids, expected, "four connections, told apart");
    assert_eq!(
        store
            .connection(t, second)
            .await
            .unwrap()
            .unwrap()
            .upstream
            .map(|u| u.id),
        Some("org-2".to_owned())
    );
}
