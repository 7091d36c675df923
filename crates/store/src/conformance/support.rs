//! [`SupportStore`]: support requests, listed per tenant, each committed with the job that
//! e-mails it.

use super::fixtures::{self, at, World};
use super::page;
use crate::{Store, StoreError};
use accord_domain::ids::{JobId, SupportRequestId};
use accord_domain::tenant::{
    JobKind, SupportEntry, SupportRequest, SupportResolution, SupportStatus,
};

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
        mine.push(SupportEntry {
            request: r,
            resolved: None,
        });
        store
            .create_support_request(&fixtures::support_request(b.id, None, n), None)
            .await
            .expect("same reference, other tenant");
    }
    mine.sort_by_key(|e| e.request.id);
    assert_eq!(
        store
            .support_requests(w.tenant.id, page(None, 2))
            .await
            .unwrap(),
        mine[..2]
    );
    assert_eq!(
        store
            .support_requests(w.tenant.id, page(Some(mine[1].request.id), 2))
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

pub async fn support_requests_are_resolved_reopened_and_listed_by_status(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let mut mine = Vec::new();
    for n in 0..4 {
        let r = fixtures::support_request(w.tenant.id, None, n);
        store.create_support_request(&r, None).await.unwrap();
        mine.push(r);
    }
    let theirs = fixtures::support_request(b.id, None, 9);
    store.create_support_request(&theirs, None).await.unwrap();
    let open = |r: &SupportRequest| SupportEntry {
        request: r.clone(),
        resolved: None,
    };
    // Newest first, every request open to begin with, paged from an id.
    let inbox = store
        .support_inbox(w.tenant.id, Some(SupportStatus::Open), None, 3)
        .await
        .unwrap();
    assert_eq!(inbox, vec![open(&mine[3]), open(&mine[2]), open(&mine[1])]);
    let next = store
        .support_inbox(w.tenant.id, Some(SupportStatus::Open), Some(mine[1].id), 3)
        .await
        .unwrap();
    assert_eq!(next, vec![open(&mine[0])]);

    let by = |who: &str, t: i64| SupportResolution {
        by: who.into(),
        at: at(t),
    };
    let resolve = |id, r| store.set_support_resolution(w.tenant.id, id, r);
    assert!(resolve(mine[2].id, Some(by("ana@lender.example", 100)))
        .await
        .unwrap());
    assert!(
        !resolve(mine[2].id, Some(by("bo@lender.example", 200)))
            .await
            .unwrap(),
        "resolved once: the first resolution stays"
    );
    assert!(resolve(mine[0].id, Some(by("bo@lender.example", 300)))
        .await
        .unwrap());
    assert!(resolve(mine[0].id, None).await.unwrap(), "reopened");
    assert!(!resolve(mine[0].id, None).await.unwrap(), "already open");
    // Another tenant cannot resolve it, nor reach an unknown id.
    for (tenant, id) in [(b.id, mine[1].id), (w.tenant.id, SupportRequestId::new())] {
        assert!(matches!(
            store
                .set_support_resolution(tenant, id, Some(by("x@y.example", 1)))
                .await,
            Err(StoreError::NotFound)
        ));
    }

    let resolved = store
        .support_inbox(w.tenant.id, Some(SupportStatus::Resolved), None, 10)
        .await
        .unwrap();
    let done = SupportEntry {
        request: mine[2].clone(),
        resolved: Some(by("ana@lender.example", 100)),
    };
    assert_eq!(resolved, vec![done.clone()]);
    assert_eq!(done.status(), SupportStatus::Resolved);
    let open_now = store
        .support_inbox(w.tenant.id, Some(SupportStatus::Open), None, 10)
        .await
        .unwrap();
    assert_eq!(
        open_now,
        vec![open(&mine[3]), open(&mine[1]), open(&mine[0])]
    );
    let all = store
        .support_inbox(w.tenant.id, None, None, 10)
        .await
        .unwrap();
    assert_eq!(
        all,
        vec![open(&mine[3]), done, open(&mine[1]), open(&mine[0])]
    );
    assert_eq!(
        store.support_inbox(b.id, None, None, 10).await.unwrap(),
        vec![open(&theirs)],
        "each tenant sees its own"
    );
    // The oldest-first pages carry the resolution too.
    let listed = store
        .support_requests(w.tenant.id, page(None, 10))
        .await
        .unwrap();
    assert_eq!(listed[2].resolved, Some(by("ana@lender.example", 100)));
    assert_eq!(listed.iter().filter(|e| e.resolved.is_some()).count(), 1);
}
