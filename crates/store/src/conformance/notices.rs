//! Notices: versions numbered 1, 2, 3… per tenant × category × locale, atomically, and kept.

use super::fixtures::{self, at, t0};
use crate::Store;
use accord_domain::catalog::Category;
use accord_domain::locale::Locale;

pub async fn notice_versions_are_numbered_and_kept(store: &dyn Store) {
    let a = fixtures::tenant(store, "Lender A").await;
    let mut versions = Vec::new();
    for (n, purpose) in ["first", "second", "third"].into_iter().enumerate() {
        let when = at(i64::try_from(n).unwrap() * 60);
        versions.push(
            store
                .add_notice_version(
                    a.id,
                    Category::Accounting,
                    Locale::En,
                    &fixtures::content(purpose),
                    when,
                )
                .await
                .unwrap(),
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
        .add_notice_version(
            a.id,
            Category::Accounting,
            Locale::Fr,
            &fixtures::content("premier"),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        fr.version, 1,
        "each tenant × category × locale counts on its own"
    );
    assert_ne!(fr.notice_id, notice.id);
    assert_eq!(store.notices(a.id).await.unwrap().len(), 2);
}

pub async fn notice_versions_are_numbered_atomically(store: &dyn Store) {
    let a = fixtures::tenant(store, "Lender A").await;
    let content = fixtures::content("concurrent");
    let adds = (0..16)
        .map(|_| store.add_notice_version(a.id, Category::Banking, Locale::En, &content, t0()));
    let mut numbers: Vec<i64> = futures::future::join_all(adds)
        .await
        .into_iter()
        .map(|r| r.expect("add").version)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=16).collect::<Vec<_>>());
}
