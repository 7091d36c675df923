//! Flow artifacts: link sessions and OAuth state are single-use, bound and expire; browser
//! sessions match their kind and expiry.

use super::fixtures::{self, at, t0, World};
use crate::Store;
use accord_domain::crypto::TokenHash;
use accord_domain::flow::{BrowserSession, LinkSession, ManageLink, SessionKind};

pub async fn link_session_is_consumed_once(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let link = fixtures::link_session(&w.company, SessionKind::Link, "link-token", at(600));
    store.create_link_session(&link).await.expect("create");
    assert_eq!(
        store.link_session(w.tenant.id, link.id).await.unwrap(),
        Some(link.clone())
    );

    let browser = fixtures::unbound_browser(SessionKind::Link, "cookie-1", at(3600));
    let used = store
        .consume_link_session(&TokenHash::of("link-token"), at(60), &browser)
        .await
        .unwrap()
        .expect("usable");
    assert_eq!(
        used,
        LinkSession {
            used_at: Some(at(60)),
            ..link.clone()
        }
    );
    let opened = store
        .browser_session(&TokenHash::of("cookie-1"), SessionKind::Link, at(61))
        .await
        .unwrap()
        .expect("browser session created");
    let bound = BrowserSession {
        tenant_id: w.tenant.id,
        company_id: w.company.id,
        link_session_id: Some(link.id),
        ..browser
    };
    assert_eq!(opened, bound, "bound to the link session's owner");

    let replay = fixtures::unbound_browser(SessionKind::Link, "cookie-2", at(3600));
    assert_eq!(
        store
            .consume_link_session(&TokenHash::of("link-token"), at(62), &replay)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .browser_session(&TokenHash::of("cookie-2"), SessionKind::Link, at(63))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .link_session(w.tenant.id, link.id)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(at(60))
    );
}

pub async fn expired_or_other_kind_link_session_is_refused(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    store
        .create_link_session(&fixtures::link_session(
            &w.company,
            SessionKind::Link,
            "old",
            at(600),
        ))
        .await
        .unwrap();
    let late = fixtures::unbound_browser(SessionKind::Link, "cookie-late", at(3600));
    assert_eq!(
        store
            .consume_link_session(&TokenHash::of("old"), at(600), &late)
            .await
            .unwrap(),
        None,
        "expired at expires_at"
    );
    assert_eq!(
        store
            .browser_session(&TokenHash::of("cookie-late"), SessionKind::Link, at(601))
            .await
            .unwrap(),
        None
    );

    store
        .create_link_session(&fixtures::link_session(
            &w.company,
            SessionKind::Manage,
            "manage",
            at(600),
        ))
        .await
        .unwrap();
    let wrong = fixtures::unbound_browser(SessionKind::Link, "cookie-wrong", at(3600));
    assert_eq!(
        store
            .consume_link_session(&TokenHash::of("manage"), at(1), &wrong)
            .await
            .unwrap(),
        None
    );
    let right = fixtures::unbound_browser(SessionKind::Manage, "cookie-right", at(3600));
    assert!(
        store
            .consume_link_session(&TokenHash::of("manage"), at(2), &right)
            .await
            .unwrap()
            .is_some(),
        "not burnt by the wrong kind"
    );
    assert_eq!(
        store
            .consume_link_session(&TokenHash::of("unknown"), at(2), &late)
            .await
            .unwrap(),
        None
    );
}

pub async fn browser_sessions_match_kind_and_expiry(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let session = fixtures::browser(store, &w.company, SessionKind::Manage, "cookie").await;
    let hash = TokenHash::of("cookie");
    assert_eq!(
        store
            .browser_session(&hash, SessionKind::Manage, t0())
            .await
            .unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store
            .browser_session(&hash, SessionKind::Link, t0())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .browser_session(&hash, SessionKind::Manage, session.expires_at)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .browser_session(&TokenHash::of("other"), SessionKind::Manage, t0())
            .await
            .unwrap(),
        None
    );
}

pub async fn oauth_flow_is_consumed_once_by_its_session(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let mine = fixtures::browser(store, &w.company, SessionKind::Link, "mine").await;
    let other = fixtures::browser(store, &w.company, SessionKind::Link, "other").await;
    let mut write = fixtures::consent_write(&w.company, &w.nv, t0());
    let flow = fixtures::oauth_flow(&write.connection, mine.id, "state-1", at(600));
    write.oauth_flow = Some(flow.clone());
    store.record_consent(&write).await.expect("record");
    let state = TokenHash::of("state-1");
    assert_eq!(
        store
            .consume_oauth_flow(&state, other.id, at(10))
            .await
            .unwrap(),
        None,
        "bound to its browser session"
    );
    assert_eq!(
        store
            .consume_oauth_flow(&state, mine.id, at(11))
            .await
            .unwrap(),
        Some(flow),
        "a wrong session does not burn it"
    );
    assert_eq!(
        store
            .consume_oauth_flow(&state, mine.id, at(12))
            .await
            .unwrap(),
        None,
        "a replay finds nothing"
    );
}

pub async fn expired_oauth_flow_is_refused(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let session = fixtures::browser(store, &w.company, SessionKind::Link, "cookie").await;
    let write = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&write).await.unwrap();
    store
        .create_oauth_flow(&fixtures::oauth_flow(
            &write.connection,
            session.id,
            "state-2",
            at(600),
        ))
        .await
        .unwrap();
    assert_eq!(
        store
            .consume_oauth_flow(&TokenHash::of("state-2"), session.id, at(600))
            .await
            .unwrap(),
        None
    );
}

pub async fn an_ended_browser_session_frees_its_link(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let link = fixtures::link_session(&w.company, SessionKind::Link, "link-token", at(600));
    store.create_link_session(&link).await.unwrap();
    let browser = fixtures::unbound_browser(SessionKind::Link, "cookie-1", at(3600));
    store
        .consume_link_session(&TokenHash::of("link-token"), at(60), &browser)
        .await
        .unwrap()
        .expect("usable");
    assert!(store
        .end_browser_session(&TokenHash::of("cookie-1"), at(120))
        .await
        .unwrap());
    assert_eq!(
        store
            .browser_session(&TokenHash::of("cookie-1"), SessionKind::Link, at(121))
            .await
            .unwrap(),
        None,
        "the session is over"
    );
    assert!(
        !store
            .end_browser_session(&TokenHash::of("cookie-1"), at(122))
            .await
            .unwrap(),
        "ended once"
    );
    let again = fixtures::unbound_browser(SessionKind::Link, "cookie-2", at(3600));
    assert!(
        store
            .consume_link_session(&TokenHash::of("link-token"), at(130), &again)
            .await
            .unwrap()
            .is_some(),
        "the link opens again while it is valid"
    );
    store
        .end_browser_session(&TokenHash::of("cookie-2"), at(700))
        .await
        .unwrap();
    let late = fixtures::unbound_browser(SessionKind::Link, "cookie-3", at(3600));
    assert_eq!(
        store
            .consume_link_session(&TokenHash::of("link-token"), at(701), &late)
            .await
            .unwrap(),
        None,
        "not once it expired"
    );
}

fn manage_link(company: &accord_domain::tenant::Company, token: &str) -> ManageLink {
    ManageLink {
        tenant_id: company.tenant_id,
        company_id: company.id,
        token_hash: TokenHash::of(token),
        created_at: at(10),
        revoked_at: None,
    }
}

/// A manage link has no expiry: it is found until used (once, of two racing uses) or revoked,
/// and revoking a company's links leaves another company's alone.
pub async fn a_manage_link_is_used_once_and_revoked_per_company(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = fixtures::company(store, w.tenant.id, Some("other")).await;
    let (first, second, theirs) = (
        manage_link(&w.company, "m-1"),
        manage_link(&w.company, "m-2"),
        manage_link(&other, "m-3"),
    );
    for l in [&first, &second, &theirs] {
        store.create_manage_link(l).await.expect("create");
    }
    let found = store.manage_link(&TokenHash::of("m-1")).await.unwrap();
    assert_eq!(
        found,
        Some(first.clone()),
        "found by its hash, whatever the time"
    );
    let used = store
        .use_manage_link(&TokenHash::of("m-1"), at(86_400 * 400))
        .await
        .unwrap();
    assert_eq!(used, Some(first), "usable a year on");
    let again = store
        .use_manage_link(&TokenHash::of("m-1"), at(86_400 * 400 + 1))
        .await
        .unwrap();
    assert_eq!(again, None, "used once");
    assert_eq!(
        store.manage_link(&TokenHash::of("m-1")).await.unwrap(),
        None
    );

    let n = store
        .revoke_manage_links(w.tenant.id, w.company.id, at(20))
        .await
        .unwrap();
    assert_eq!(n, 1, "the one left unused");
    assert_eq!(
        store.manage_link(&TokenHash::of("m-2")).await.unwrap(),
        None
    );
    let kept = store.manage_link(&TokenHash::of("m-3")).await.unwrap();
    assert_eq!(kept, Some(theirs), "another company's link is untouched");
    let none = store
        .revoke_manage_links(w.tenant.id, w.company.id, at(21))
        .await
        .unwrap();
    assert_eq!(none, 0);
}

/// A deleted company's manage links open nothing.
pub async fn a_deleted_companys_manage_link_opens_nothing(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    store
        .create_manage_link(&manage_link(&w.company, "m-1"))
        .await
        .expect("create");
    assert!(store
        .delete_company(w.tenant.id, w.company.id, at(30))
        .await
        .unwrap());
    assert_eq!(
        store.manage_link(&TokenHash::of("m-1")).await.unwrap(),
        None
    );
    let used = store
        .use_manage_link(&TokenHash::of("m-1"), at(31))
        .await
        .unwrap();
    assert_eq!(used, None);
}
