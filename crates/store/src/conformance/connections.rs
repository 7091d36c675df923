//! [`ConnectionStore`]: a connection is linked (its tokens stored) or fails while pending; a
//! disconnect destroys its tokens and queues at most one revocation. Who was connected at the
//! platform is the [`upstream`] sub-group; token refresh and deauthorization are [`refresh`],
//! and one refresh at a time per connection is [`lease`].

mod lease;
mod refresh;
mod upstream;
pub use lease::*;
pub use refresh::*;
pub use upstream::*;

use super::fixtures::{self, at, t0, World};
use crate::{LinkWrite, Store, StoreError};
use accord_domain::access::ConsentTerms;
use accord_domain::connection::ConnectionStatus;
use accord_domain::crypto::TokenHash;
use accord_domain::flow::ManageLink;
use accord_domain::ids::ConnectionId;
use accord_domain::tenant::JobKind;
use time::Duration;

pub async fn connection_is_linked_and_failed(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let write = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&write).await.unwrap();
    let (t, id) = (w.tenant.id, write.connection.id);
    assert_eq!(store.connection_tokens(t, id).await.unwrap(), None);
    store
        .fail_connection(t, id, "access_denied", at(10))
        .await
        .expect("fail");
    let failed = store.connection(t, id).await.unwrap().unwrap();
    assert_eq!(
        (
            failed.status,
            failed.last_error.as_deref(),
            failed.updated_at
        ),
        (ConnectionStatus::PendingAuth, Some("access_denied"), at(10))
    );

    for _ in 0..2 {
        // The second time is a retried write of the same tokens: no grant is replaced.
        let revoked = store
            .link_connection(
                t,
                id,
                &LinkWrite {
                    granted_scope: Some("invoices.read".into()),
                    ..fixtures::link_write("ct:tokens", None)
                },
                at(20),
            )
            .await
            .expect("link");
        assert!(revoked.revoke_jobs.is_empty() && revoked.replaced.is_empty());
        assert_eq!(
            store.connection(t, id).await.unwrap().as_ref(),
            Some(&revoked.connection),
            "the link returns the connection as linked"
        );
    }
    let linked = store.connection(t, id).await.unwrap().unwrap();
    assert_eq!(linked.status, ConnectionStatus::Linked);
    assert_eq!(
        (
            linked.linked_at,
            linked.granted_scope.as_deref(),
            linked.last_error.as_deref()
        ),
        (Some(at(20)), Some("invoices.read"), None)
    );
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap().as_deref(),
        Some("ct:tokens")
    );
    store
        .fail_connection(t, id, "late_error", at(25))
        .await
        .expect("late failure is ignored");
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap(),
        linked,
        "only a pending connection records failures"
    );

    store
        .disconnect(t, id, false, "test", at(30))
        .await
        .unwrap();
    assert!(
        store
            .link_connection(t, id, &fixtures::link_write("ct:again", None), at(40))
            .await
            .is_err(),
        "a late callback never revives it"
    );
    assert_eq!(store.connection_tokens(t, id).await.unwrap(), None);
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap().status,
        ConnectionStatus::Disconnected
    );
    let unknown = ConnectionId::new();
    assert!(matches!(
        store
            .link_connection(t, unknown, &fixtures::link_write("ct", None), at(1))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.fail_connection(t, unknown, "x", at(1)).await,
        Err(StoreError::NotFound)
    ));
}

/// A manage link given with a link is stored in the link's transaction: with it when the link
/// commits, never when the link fails, and only for the connection's own company.
pub async fn a_link_stores_its_manage_link_with_it(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let other = fixtures::company(store, w.tenant.id, Some("other")).await;
    let write = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&write).await.unwrap();
    let (t, id) = (w.tenant.id, write.connection.id);
    let with = |company: &accord_domain::tenant::Company, token: &str| LinkWrite {
        manage_link: Some(ManageLink {
            tenant_id: company.tenant_id,
            company_id: company.id,
            token_hash: TokenHash::of(token),
            created_at: at(20),
            revoked_at: None,
        }),
        ..fixtures::link_write("ct:tokens", None)
    };
    let theirs = store
        .link_connection(t, id, &with(&other, "m-theirs"), at(20))
        .await;
    assert!(
        matches!(theirs, Err(StoreError::Conflict(_))),
        "another company's link is refused: {theirs:?}"
    );
    assert_eq!(
        store.manage_link(&TokenHash::of("m-theirs")).await.unwrap(),
        None
    );
    let pending = store.connection(t, id).await.unwrap().unwrap();
    assert_eq!(
        pending.status,
        ConnectionStatus::PendingAuth,
        "nothing linked"
    );
    assert_eq!(store.connection_tokens(t, id).await.unwrap(), None);

    let linked = store
        .link_connection(t, id, &with(&w.company, "m-own"), at(20))
        .await
        .expect("link");
    assert_eq!(linked.connection.status, ConnectionStatus::Linked);
    let stored = store.manage_link(&TokenHash::of("m-own")).await.unwrap();
    assert_eq!(
        stored.map(|l| (l.tenant_id, l.company_id, l.created_at)),
        Some((t, w.company.id, at(20)))
    );

    store
        .disconnect(t, id, false, "test", at(30))
        .await
        .unwrap();
    assert!(store
        .link_connection(t, id, &with(&w.company, "m-late"), at(40))
        .await
        .is_err());
    assert_eq!(
        store.manage_link(&TokenHash::of("m-late")).await.unwrap(),
        None,
        "a late callback leaves no link"
    );
}

pub async fn disconnect_destroys_tokens_and_queues_one_revocation(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let write = fixtures::linked(store, &w.company, &w.nv).await;
    let (t, id) = (w.tenant.id, write.connection.id);
    let out = store
        .disconnect(t, id, true, "test", at(300))
        .await
        .unwrap()
        .expect("exists");
    assert_eq!(
        (out.connection.status, out.connection.disconnected_at),
        (ConnectionStatus::Disconnected, Some(at(300)))
    );
    assert_eq!(
        store.connection(t, id).await.unwrap(),
        Some(out.connection.clone())
    );
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap(),
        None,
        "tokens destroyed"
    );
    assert_eq!(
        store
            .consent(t, write.consent.id)
            .await
            .unwrap()
            .unwrap()
            .withdrawn_at,
        Some(at(300))
    );

    let job = store
        .job(out.revoke_job.expect("a revocation job"))
        .await
        .unwrap()
        .expect("job stored");
    assert_eq!(
        (
            job.kind,
            job.tenant_id,
            job.attempts,
            job.run_at,
            job.done_at
        ),
        (JobKind::RevokeToken, t, 0, at(300), None)
    );
    assert_eq!(job.payload["tokens_ct"], "ct:tokens");
    assert_eq!(job.payload["connection_id"], id.to_string());
    assert_eq!(job.payload["platform_key"], "sandbox");

    let again = store
        .disconnect(t, id, true, "test", at(400))
        .await
        .unwrap()
        .expect("still exists");
    assert_eq!(
        (again.connection, again.revoke_job),
        (out.connection, None),
        "returned unchanged, no second job"
    );
    assert_eq!(
        store
            .consent(t, write.consent.id)
            .await
            .unwrap()
            .unwrap()
            .withdrawn_at,
        Some(at(300))
    );
    assert_eq!(
        store
            .claim_jobs(at(500), 10, Duration::minutes(1))
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn disconnect_without_tokens_or_revoke_queues_nothing(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let pending = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&pending).await.unwrap();
    let out = store
        .disconnect(w.tenant.id, pending.connection.id, true, "test", at(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (out.connection.status, out.revoke_job),
        (ConnectionStatus::Disconnected, None)
    );
    let linked = fixtures::linked(store, &w.company, &w.nv).await;
    let out = store
        .disconnect(w.tenant.id, linked.connection.id, false, "test", at(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.revoke_job, None);
    assert_eq!(
        store
            .connection_tokens(w.tenant.id, linked.connection.id)
            .await
            .unwrap(),
        None
    );
    assert!(store
        .claim_jobs(at(100), 10, Duration::minutes(1))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .disconnect(w.tenant.id, ConnectionId::new(), true, "test", at(30))
            .await
            .unwrap()
            .map(|d| d.connection),
        None
    );
}

/// The fence's read agrees with the access view in every state a call can meet: the status,
/// the consent id and that consent's end; and nothing for another tenant or an unknown id.
pub async fn the_access_fence_reads_status_consent_and_its_end(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let t = w.tenant.id;
    let fence_of = |v: &crate::AccessView| crate::AccessFence {
        status: v.connection.status,
        consent_id: v.connection.consent_id,
        consent_withdrawn_at: v.consent.as_ref().and_then(|c| c.withdrawn_at),
    };
    let pending = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&pending).await.unwrap();
    let id = pending.connection.id;
    let fence = store.access_fence(t, id).await.unwrap().expect("exists");
    assert_eq!(fence.status, ConnectionStatus::PendingAuth);
    assert_eq!(fence.consent_id, Some(pending.consent.id));
    let view = store.access_view(t, id).await.unwrap().expect("exists");
    assert_eq!(fence, fence_of(&view));

    let linked = fixtures::linked(store, &w.company, &w.nv).await;
    let id = linked.connection.id;
    let fence = store.access_fence(t, id).await.unwrap().expect("exists");
    assert_eq!(
        fence,
        crate::AccessFence {
            status: ConnectionStatus::Linked,
            consent_id: Some(linked.consent.id),
            consent_withdrawn_at: None,
        }
    );

    store
        .disconnect(t, id, true, "test", at(300))
        .await
        .unwrap();
    let fence = store.access_fence(t, id).await.unwrap().expect("exists");
    assert_eq!(fence.status, ConnectionStatus::Disconnected);
    assert_eq!(fence.consent_id, Some(linked.consent.id));
    assert_eq!(
        fence.consent_withdrawn_at,
        Some(at(300)),
        "seen in the same read"
    );
    let view = store.access_view(t, id).await.unwrap().expect("exists");
    assert_eq!(fence, fence_of(&view));

    let other = World::new(store, "Lender B").await;
    assert_eq!(store.access_fence(other.tenant.id, id).await.unwrap(), None);
    assert_eq!(
        store.access_fence(t, ConnectionId::new()).await.unwrap(),
        None
    );
}

/// The data path's one read: the connection as [`ConnectionStore::connection`] reads it, its
/// token ciphertext and the terms of the consent in force, in every state a call can meet; and
/// nothing for another tenant or an unknown id.
///
/// [`ConnectionStore::connection`]: crate::ConnectionStore::connection
pub async fn the_access_view_reads_connection_tokens_and_consent_together(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let pending = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&pending).await.unwrap();
    let (t, id) = (w.tenant.id, pending.connection.id);
    let view = store.access_view(t, id).await.unwrap().expect("exists");
    assert_eq!(
        Some(&view.connection),
        store.connection(t, id).await.unwrap().as_ref()
    );
    assert_eq!(view.tokens_ct, None, "not linked yet: no tokens");
    assert_eq!(
        view.consent,
        Some(ConsentTerms::from(&pending.consent)),
        "the consent it was created under"
    );

    let linked = fixtures::linked(store, &w.company, &w.nv).await;
    let id = linked.connection.id;
    let view = store.access_view(t, id).await.unwrap().expect("exists");
    assert_eq!(view.connection.status, ConnectionStatus::Linked);
    assert_eq!(
        Some(&view.connection),
        store.connection(t, id).await.unwrap().as_ref()
    );
    assert_eq!(view.tokens_ct.as_deref(), Some("ct:tokens"));
    let terms = view.consent.expect("consent in force");
    assert_eq!(terms, ConsentTerms::from(&linked.consent));
    assert!(!terms.data_uses.is_empty() && terms.withdrawn_at.is_none());

    store
        .disconnect(t, id, true, "test", at(300))
        .await
        .unwrap();
    let view = store.access_view(t, id).await.unwrap().expect("exists");
    assert_eq!(view.connection.status, ConnectionStatus::Disconnected);
    assert_eq!(view.tokens_ct, None, "the disconnect destroyed the tokens");
    assert_eq!(
        view.consent.and_then(|c| c.withdrawn_at),
        Some(at(300)),
        "and withdrew the consent, seen in the same read"
    );

    let other = World::new(store, "Lender B").await;
    assert_eq!(store.access_view(other.tenant.id, id).await.unwrap(), None);
    assert_eq!(
        store.access_view(t, ConnectionId::new()).await.unwrap(),
        None
    );
}
