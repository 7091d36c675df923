//! [`NoticeStore`]: versions numbered 1, 2, 3… per tenant × category × locale, atomically, and
//! kept. Publishing a version names the one it follows and, when the change from it is material
//! (purpose, data uses, retention, sharing), marks for re-consent in the same commit the linked
//! connections whose consent in force was given to an older version of that notice, and no
//! others; an editorial change marks none.

use super::fixtures::{self, at, t0, World};
use crate::{NoticeStore, PublishedNotice, Store, TenantStore};
use accord_domain::catalog::{Category, PlatformKey};
use accord_domain::connection::ConnectionStatus;
use accord_domain::ids::{ConnectionId, TenantId};
use accord_domain::locale::Locale;
use accord_domain::notice::{NoticeContent, NoticeVersion};
use accord_domain::tenant::Company;
use std::sync::atomic::{AtomicBool, Ordering};
use time::OffsetDateTime;

/// Publishes `content` as the next version of the tenant's accounting notice in English (the
/// notice [`World`] starts with).
async fn publish(
    store: &(impl NoticeStore + ?Sized),
    tenant: TenantId,
    content: &NoticeContent,
    when: OffsetDateTime,
) -> PublishedNotice {
    store
        .publish_notice_version(tenant, Category::Accounting, Locale::En, content, when)
        .await
        .expect("publish notice version")
}

/// [`fixtures::content`] with only editorial changes: how to withdraw and the policy link.
fn editorial(purpose: &str) -> NoticeContent {
    NoticeContent {
        withdrawal: "Disconnect whenever you like, from the manage page.".into(),
        privacy_policy_url: "https://lender.example/privacy-v2".into(),
        ..fixtures::content(purpose)
    }
}

async fn status(store: &dyn Store, tenant: TenantId, id: ConnectionId) -> ConnectionStatus {
    store
        .connection(tenant, id)
        .await
        .unwrap()
        .expect("connection exists")
        .status
}

/// A linked connection of `company` to `platform`, with a consent in force given to `nv`.
async fn linked_to(
    store: &dyn Store,
    company: &Company,
    nv: &NoticeVersion,
    platform: &str,
) -> ConnectionId {
    let mut write = fixtures::consent_write(company, nv, at(20));
    write.connection.platform_key = PlatformKey::parse(platform).unwrap();
    write.consent.platform_key = write.connection.platform_key.clone();
    store.record_consent(&write).await.unwrap();
    store
        .link_connection(
            company.tenant_id,
            write.connection.id,
            &fixtures::link_write("ct:x", None),
            at(30),
        )
        .await
        .unwrap();
    write.connection.id
}

pub async fn notice_versions_are_numbered_and_kept(
    store: &(impl TenantStore + NoticeStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let mut versions = Vec::new();
    for (n, purpose) in ["first", "second", "third"].into_iter().enumerate() {
        let when = at(i64::try_from(n).unwrap() * 60);
        versions.push(
            publish(store, a.id, &fixtures::content(purpose), when)
                .await
                .version,
        );
    }
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(versions
        .iter()
        .all(|v| v.notice_id == versions[0].notice_id && v.tenant_id == a.id));
    assert_eq!(
        versions[0].content,
        fixtures::content("first"),
        "an old version keeps its content"
    );
    let notice = store
        .notice(a.id, versions[0].notice_id)
        .await
        .unwrap()
        .expect("notice");
    assert_eq!(
        (notice.current_version, notice.category, notice.locale),
        (3, Category::Accounting, Locale::En)
    );
    assert_eq!((notice.created_at, notice.updated_at), (at(0), at(120)));
    assert_eq!(
        store.notice_versions(a.id, notice.id).await.unwrap(),
        versions
    );
    assert_eq!(
        store.notice_version(a.id, versions[0].id).await.unwrap(),
        Some(versions[0].clone())
    );
    assert_eq!(
        store
            .current_notice_version(a.id, Category::Accounting, Locale::En)
            .await
            .unwrap(),
        Some(versions[2].clone())
    );
    assert_eq!(
        store
            .current_notice_version(a.id, Category::Banking, Locale::En)
            .await
            .unwrap(),
        None
    );
    let fr = store
        .publish_notice_version(
            a.id,
            Category::Accounting,
            Locale::Fr,
            &fixtures::content("premier"),
            t0(),
        )
        .await
        .unwrap()
        .version;
    assert_eq!(
        fr.version, 1,
        "each tenant × category × locale counts on its own"
    );
    assert_ne!(fr.notice_id, notice.id);
    assert_eq!(store.notices(a.id).await.unwrap().len(), 2);
}

pub async fn notice_versions_are_numbered_atomically(
    store: &(impl TenantStore + NoticeStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let content = fixtures::content("concurrent");
    let adds = (0..16)
        .map(|_| store.publish_notice_version(a.id, Category::Banking, Locale::En, &content, t0()));
    let mut numbers: Vec<i64> = futures::future::join_all(adds)
        .await
        .into_iter()
        .map(|r| r.expect("publish").version.version)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=16).collect::<Vec<_>>());
}

pub async fn a_published_version_names_the_one_it_follows(
    store: &(impl TenantStore + NoticeStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let first = publish(store, a.id, &fixtures::content("first"), at(0)).await;
    assert_eq!(first.version.version, 1);
    assert_eq!(
        first.previous, None,
        "a notice's first version follows none"
    );
    assert!(first.reconsent_required.is_empty());
    // Material, but no connection exists to mark.
    let second = publish(store, a.id, &fixtures::content("second"), at(60)).await;
    assert_eq!(second.previous, Some(first.version.clone()));
    assert!(second.reconsent_required.is_empty());
    let third = publish(store, a.id, &editorial("second"), at(120)).await;
    assert_eq!(
        (third.version.version, third.previous),
        (3, Some(second.version.clone())),
        "the latest version, not the first"
    );
    // Another locale is another notice, and so is another tenant's.
    let fr = store
        .publish_notice_version(
            a.id,
            Category::Accounting,
            Locale::Fr,
            &fixtures::content("premier"),
            at(180),
        )
        .await
        .unwrap();
    assert_eq!((fr.version.version, fr.previous), (1, None));
    let b = fixtures::tenant(store, "Lender B").await;
    let theirs = publish(store, b.id, &fixtures::content("first"), at(0)).await;
    assert_eq!((theirs.version.version, theirs.previous), (1, None));
    // The version returned is the one stored.
    assert_eq!(
        store.notice_version(a.id, third.version.id).await.unwrap(),
        Some(third.version.clone())
    );
    assert_eq!(
        store
            .current_notice_version(a.id, Category::Accounting, Locale::En)
            .await
            .unwrap(),
        Some(third.version)
    );
}

pub async fn a_non_material_change_marks_no_connection(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let t = w.tenant.id;
    let on_v1 = fixtures::linked(store, &w.company, &w.nv).await;
    let before = store.connection(t, on_v1.connection.id).await.unwrap();
    let events = store.webhook_events(t, 1000).await.unwrap().len();

    let v2 = publish(store, t, &editorial(&w.nv.content.purpose), at(300)).await;
    assert_eq!(v2.version.version, 2);
    assert_eq!(v2.previous.as_ref(), Some(&w.nv));
    assert!(
        v2.reconsent_required.is_empty(),
        "an editorial change marks nothing"
    );
    // Whitespace is no change of the purpose either.
    let spaced = NoticeContent {
        purpose: format!(" {}\n", w.nv.content.purpose.replace(' ', "  ")),
        ..editorial(&w.nv.content.purpose)
    };
    let v3 = publish(store, t, &spaced, at(310)).await;
    assert_eq!(v3.version.version, 3);
    assert!(v3.reconsent_required.is_empty(), "whitespace is no change");

    assert_eq!(
        store.connection(t, on_v1.connection.id).await.unwrap(),
        before,
        "the connection is untouched"
    );
    assert_eq!(
        store
            .consent(t, on_v1.consent.id)
            .await
            .unwrap()
            .unwrap()
            .withdrawn_at,
        None
    );
    assert_eq!(
        store.webhook_events(t, 1000).await.unwrap().len(),
        events,
        "and no event is written"
    );
}

pub async fn a_material_notice_change_requires_reconsent(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let on_v1 = fixtures::linked(store, &w.company, &w.nv).await;
    let pending = fixtures::consent_write(&w.company, &w.nv, at(10));
    store.record_consent(&pending).await.unwrap();
    let published = publish(
        store,
        w.tenant.id,
        &fixtures::content("A new purpose."),
        at(300),
    )
    .await;
    assert_eq!(published.previous.as_ref(), Some(&w.nv));
    let v2 = published.version;
    let marked = published.reconsent_required;
    assert_eq!(
        marked.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![on_v1.connection.id]
    );
    assert_eq!(marked[0].status, ConnectionStatus::ReconsentRequired);
    // A consent to the new version, on another connection, linked after it was published.
    let later = linked_to(store, &w.company, &v2, "sandbox-bank").await;
    let get = |id| status(store, w.tenant.id, id);
    assert_eq!(
        get(pending.connection.id).await,
        ConnectionStatus::PendingAuth
    );
    assert_eq!(get(later).await, ConnectionStatus::Linked);
    assert_eq!(
        get(on_v1.connection.id).await,
        ConnectionStatus::ReconsentRequired
    );
    // Another tenant's publication changes nothing here.
    let other = World::new(store, "Lender B").await;
    assert!(publish(
        store,
        other.tenant.id,
        &fixtures::content("Another purpose."),
        at(500)
    )
    .await
    .reconsent_required
    .is_empty());
    assert_eq!(get(later).await, ConnectionStatus::Linked);
}

/// A material change marks the linked connections consented to that notice only: not those
/// consented to another category's or another locale's notice, not a disconnected one, not
/// another tenant's.
pub async fn only_connections_consented_to_that_notice_are_marked(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let t = w.tenant.id;
    let on_v1 = fixtures::linked(store, &w.company, &w.nv).await;
    let notice = |category, locale, purpose: &'static str| async move {
        store
            .publish_notice_version(t, category, locale, &fixtures::content(purpose), at(5))
            .await
            .unwrap()
            .version
    };
    let banking = notice(Category::Banking, Locale::En, "To read your bank account.").await;
    let on_banking = linked_to(store, &w.company, &banking, "sandbox-bank").await;
    let french = notice(Category::Accounting, Locale::Fr, "Pour étudier votre prêt.").await;
    let on_french = linked_to(store, &w.company, &french, "sandbox").await;
    let gone = fixtures::linked(store, &w.company, &w.nv).await;
    store
        .disconnect(t, gone.connection.id, false, "manage_page", at(40))
        .await
        .unwrap();
    let other = World::new(store, "Lender B").await;
    let theirs = fixtures::linked(store, &other.company, &other.nv).await;

    let marked = publish(store, t, &fixtures::content("A new purpose."), at(300))
        .await
        .reconsent_required;
    assert_eq!(
        marked.iter().map(|c| c.id).collect::<Vec<_>>(),
        [on_v1.connection.id]
    );
    assert_eq!(
        get_all(store, t, &[on_banking, on_french]).await,
        [ConnectionStatus::Linked; 2]
    );
    assert_eq!(
        status(store, t, gone.connection.id).await,
        ConnectionStatus::Disconnected
    );
    assert_eq!(
        status(store, other.tenant.id, theirs.connection.id).await,
        ConnectionStatus::Linked
    );

    // The other tenant's own material change marks its connection, none of this tenant's.
    let marked = publish(
        store,
        other.tenant.id,
        &fixtures::content("Another purpose."),
        at(400),
    )
    .await
    .reconsent_required;
    assert_eq!(
        marked.iter().map(|c| c.id).collect::<Vec<_>>(),
        [theirs.connection.id]
    );
    assert_eq!(
        get_all(store, t, &[on_banking, on_french]).await,
        [ConnectionStatus::Linked; 2]
    );
}

async fn get_all(
    store: &dyn Store,
    tenant: TenantId,
    ids: &[ConnectionId],
) -> Vec<ConnectionStatus> {
    let mut out = Vec::new();
    for id in ids {
        out.push(status(store, tenant, *id).await);
    }
    out
}

/// The new version and the re-consents it calls for are one commit: a reader never sees the
/// version without its re-consents, nor a re-consent before its version; what is returned is
/// what is stored; each marked connection has its `consent.reconsent_required` event.
pub async fn the_new_version_and_its_reconsents_are_seen_together(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let t = w.tenant.id;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(
            fixtures::linked(store, &w.company, &w.nv)
                .await
                .connection
                .id,
        );
    }
    let done = AtomicBool::new(false);
    let publishing = async {
        let published = publish(store, t, &fixtures::content("A new purpose."), at(300)).await;
        done.store(true, Ordering::SeqCst);
        published
    };
    let (published, ()) = futures::join!(publishing, watch(store, t, &ids, &done));

    let mut marked: Vec<_> = published.reconsent_required.iter().map(|c| c.id).collect();
    marked.sort();
    ids.sort();
    assert_eq!(marked, ids);
    for c in &published.reconsent_required {
        assert_eq!(
            store.connection(t, c.id).await.unwrap().as_ref(),
            Some(c),
            "returned as stored"
        );
    }
    assert_eq!(
        store
            .current_notice_version(t, Category::Accounting, Locale::En)
            .await
            .unwrap(),
        Some(published.version.clone())
    );
    let events = store.webhook_events(t, 1000).await.unwrap();
    let mut told: Vec<String> = events
        .iter()
        .filter(|e| e.event_type == "consent.reconsent_required")
        .map(|e| {
            let body: serde_json::Value = serde_json::from_str(&e.body).unwrap();
            assert_eq!(body["data"]["reason"], "notice_changed");
            body["data"]["connection_id"].as_str().unwrap().to_owned()
        })
        .collect();
    told.sort();
    assert_eq!(
        told,
        ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "one event per marked connection"
    );
}

/// Reads the current version and the connections' statuses, in both orders, until `done`; every
/// look must show either the old version and no re-consent, or the new version and all of them.
async fn watch(store: &dyn Store, tenant: TenantId, ids: &[ConnectionId], done: &AtomicBool) {
    let current = || async {
        store
            .current_notice_version(tenant, Category::Accounting, Locale::En)
            .await
            .unwrap()
            .expect("a version")
            .version
    };
    // How many are marked; and since the connections are read one after the other, once one
    // shows marked (the commit happened) every one read after it must show marked too.
    let marked = |statuses: Vec<ConnectionStatus>| {
        let first = statuses
            .iter()
            .position(|s| *s == ConnectionStatus::ReconsentRequired)
            .unwrap_or(statuses.len());
        assert!(
            statuses[first..]
                .iter()
                .all(|s| *s == ConnectionStatus::ReconsentRequired),
            "a re-consent seen without the others of its commit: {statuses:?}"
        );
        statuses.len() - first
    };
    // Bounded, in case a backend's publish never completes while it is being read.
    for _ in 0..10_000 {
        let finished = done.load(Ordering::SeqCst);
        let version = current().await;
        let after = marked(get_all(store, tenant, ids).await);
        if version == 2 {
            assert_eq!(after, ids.len(), "version 2 seen without its re-consents");
        }
        let before = marked(get_all(store, tenant, ids).await);
        let version = current().await;
        if before > 0 {
            assert_eq!(version, 2, "a re-consent seen before its version");
        }
        if finished {
            return;
        }
    }
}
