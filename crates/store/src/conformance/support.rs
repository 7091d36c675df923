//! [`SupportStore`]: support requests, listed per tenant, each committed with the job that
//! e-mails it.

use super::fixtures::{self, World};
use super::page;
use crate::{Store, StoreError};
use accord_domain::ids::{JobId, SupportRequestId};
use accord_domain::tenant::{JobKind, SupportRequest};

pub async fn support_requests_are_listed_per_tenant(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let mut mine = Vec::new();
    for n in 0..3 {
        let r = fixtures::support_request(w.tenant.id, (n == 0).then_some(w.company.id), n);
        store
            .create_support_request(&r, None)
            .await
            .expect("create");
        mine.push(r);
        store
            .create_support_request(&fixtures::support_request(b.id, None, n), None)
            .await
            .expect("same reference, other tenant");
    }
    mine.sort_by_key(|r| r.id);
    assert_eq!(
        store
            .support_requests(w.tenant.id, page(None, 2))
            .await
            .unwrap(),
        mine[..2]
    );
    assert_eq!(
        store
            .support_requests(w.tenant.id, page(Some(mine[1].id), 2))
            .await
            .unwrap(),
        mine[2..]
    );
    assert_eq!(
        store
            .support_requests(b.id, page(None, 10))
            .await
            .unwrap()
            .len(),
        3
    );
}

pub async fn a_support_request_and_its_email_job_commit_together(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let r = fixtures::support_request(w.tenant.id, Some(w.company.id), 1);
    let job = JobId::new();
    store
        .create_support_request(&r, Some(job))
        .await
        .expect("create with its e-mail job");
    assert_eq!(
        store.support_request(w.tenant.id, r.id).await.unwrap(),
        Some(r.clone())
    );
    assert_eq!(store.support_request(b.id, r.id).await.unwrap(), None);
    let stored = store.job(job).await.unwrap().expect("the job is queued");
    assert_eq!(
        (
            stored.tenant_id,
            stored.kind,
            stored.attempts,
            stored.run_at,
            stored.done_at
        ),
        (
            w.tenant.id,
            JobKind::SendSupportEmail,
            0,
            r.created_at,
            None
        )
    );
    assert_eq!(
        stored.payload,
        serde_json::json!({"support_request_id": r.id.to_string()})
    );
    // The same reference again breaks a uniqueness rule: neither the request nor its job lands.
    let again = SupportRequest {
        id: SupportRequestId::new(),
        ..r.clone()
    };
    let job2 = JobId::new();
    assert!(matches!(
        store.create_support_request(&again, Some(job2)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.job(job2).await.unwrap(),
        None,
        "no job without its request"
    );
    assert_eq!(
        store.support_request(w.tenant.id, again.id).await.unwrap(),
        None
    );
}
