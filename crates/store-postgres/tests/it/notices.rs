//! Publishing a notice version on PostgreSQL: the version and the re-consent a material change
//! calls for are one transaction, so a failure in the second half publishes nothing; and the
//! connections it marks are locked in id order, as every other writer locks them.

use crate::fresh_store;
use accord_domain::connection::ConnectionStatus;
use accord_store::conformance::fixtures::{self, at, World};
use accord_store::{ConnectionStore, ConsentStore, NoticeStore, StoreError, WebhookStore};
use sqlx::Connection as _;

/// A trigger refuses to mark any connection `reconsent_required`: the material change that
/// calls for it fails as a whole, and the notice keeps its version, its number and its linked
/// connection. Once the trigger is gone, the same publication goes through with its re-consent.
#[tokio::test]
async fn a_failed_reconsent_publishes_no_version() {
    let Some((store, db)) = fresh_store().await else {
        return;
    };
    let w = World::new(&*store, "Lender A").await;
    let t = w.tenant.id;
    let linked = fixtures::linked(&*store, &w.company, &w.nv).await;
    let mut conn = db.raw().await;
    for ddl in [
        "create function refuse_reconsent() returns trigger language plpgsql as $$
         begin raise exception 'the test refuses re-consent'; end $$",
        "create trigger refuse_reconsent before update on connections for each row
         when (new.status = 'reconsent_required') execute function refuse_reconsent()",
    ] {
        sqlx::query(ddl).execute(&mut conn).await.unwrap();
    }
    let material = fixtures::content("A new purpose.");
    let publish =
        || store.publish_notice_version(t, w.nv.category, w.nv.locale, &material, at(300));

    let refused = publish().await;
    assert!(
        matches!(refused, Err(StoreError::Backend(_))),
        "the refused re-consent fails the publication: {refused:?}"
    );
    assert_eq!(
        store.notice_versions(t, w.nv.notice_id).await.unwrap(),
        vec![w.nv.clone()],
        "no new version"
    );
    assert_eq!(
        store
            .current_notice_version(t, w.nv.category, w.nv.locale)
            .await
            .unwrap(),
        Some(w.nv.clone())
    );
    let notice = store.notice(t, w.nv.notice_id).await.unwrap().unwrap();
    assert_eq!(notice.current_version, 1, "the number was not taken");
    let connection = store.connection(t, linked.connection.id).await.unwrap();
    assert_eq!(connection.unwrap().status, ConnectionStatus::Linked);
    let events = store.webhook_events(t, 1000).await.unwrap();
    assert!(
        !events
            .iter()
            .any(|e| e.event_type == "consent.reconsent_required"),
        "no re-consent event"
    );

    sqlx::query("drop trigger refuse_reconsent on connections")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let published = publish().await.unwrap();
    assert_eq!(published.version.version, 2, "the number 2, not 3");
    assert_eq!(published.previous, Some(w.nv.clone()));
    let marked: Vec<_> = published.reconsent_required.iter().map(|c| c.id).collect();
    assert_eq!(marked, vec![linked.connection.id]);
}

/// Five rounds of a material change published on one instance while the other re-consents
/// half of the connections it marks (one group-commit batch, locking them in id order) and
/// disconnects the other half, last first: every call succeeds. The publication locks the
/// connections it marks in id order too, so none of them waits for another in a cycle, and
/// PostgreSQL never has to abort one as a deadlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_material_change_racing_reconsents_and_disconnects_does_not_deadlock() {
    let Some(db) = accord_store_postgres::testing::TestDatabase::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    let w = World::new(&a, "Lender A").await;
    let t = w.tenant.id;
    for round in 0..5 {
        let mut writes = Vec::new();
        for _ in 0..16 {
            writes.push(fixtures::linked(&a, &w.company, &w.nv).await);
        }
        writes.sort_by_key(|write| write.connection.id);
        let material = fixtures::content(&format!("A new purpose, round {round}."));
        let publish = a.publish_notice_version(t, w.nv.category, w.nv.locale, &material, at(300));
        let again: Vec<_> = writes
            .iter()
            .step_by(2)
            .map(|write| fixtures::reconsent(write, at(301)))
            .collect();
        let reconsents = futures::future::join_all(again.iter().map(|k| b.record_consent(k)));
        let disconnects = async {
            let mut outcomes = Vec::new();
            for write in writes.iter().skip(1).step_by(2).rev() {
                outcomes.push(
                    b.disconnect(t, write.connection.id, true, "test", at(302))
                        .await,
                );
            }
            outcomes
        };
        let (published, reconsented, disconnected) = tokio::join!(publish, reconsents, disconnects);
        published.expect("the publication");
        assert!(reconsented.iter().all(Result::is_ok), "{reconsented:?}");
        assert!(disconnected.iter().all(Result::is_ok), "{disconnected:?}");
    }
}
