//! The store connected read-only, as `accord ledger verify` connects: it reads, the server
//! refuses every write (every transaction read-only), nothing is migrated, and a database at
//! another schema version is refused, naming both.

use accord_store::conformance::fixtures::{self, at, World};
use accord_store::{CompanyStore, ConsentStore, LedgerStore, StoreError, TenantStore};
use accord_store_postgres::testing::{test_options, TestDatabase};
use accord_store_postgres::{PgStore, SchemaMismatch};
use sqlx::Connection as _;

/// The rows a write could have added or changed, and the migrations recorded.
async fn state(db: &TestDatabase) -> (i64, i64, i64, Vec<i64>) {
    let mut conn = db.raw().await;
    let count = |table: &'static str| format!("select count(*) from {table}");
    let mut counts = Vec::new();
    for table in ["companies", "consents", "ledger_events"] {
        let n: i64 = sqlx::query_scalar(&count(table))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        counts.push(n);
    }
    let versions: Vec<i64> =
        sqlx::query_scalar("select version from _sqlx_migrations order by version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    (counts[0], counts[1], counts[2], versions)
}

/// Whether the server refused a write because the transaction is read-only (SQLSTATE 25006).
fn refused_read_only(e: &StoreError) -> bool {
    let text = format!("{e}");
    text.contains("read-only transaction")
}

#[tokio::test]
async fn a_read_only_store_reads_and_the_server_refuses_every_write() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    let w = World::new(&store, "Lender A").await;
    for n in 0..3 {
        let write = fixtures::consent_write(&w.company, &w.nv, at(n));
        store.record_consent(&write).await.unwrap();
    }
    store.close().await;
    let before = state(&db).await;

    let ro = PgStore::connect_read_only(db.url(), test_options())
        .await
        .expect("an up-to-date database opens read-only");
    assert!(ro.tenant_by_name("Lender A").await.unwrap().is_some());
    assert_eq!(ro.ledger_rows(w.tenant.id, 0, 100).await.unwrap().len(), 3);
    let company = accord_domain::tenant::Company {
        id: accord_domain::ids::CompanyId::new(),
        tenant_id: w.tenant.id,
        name: "Not Written Ltd".into(),
        external_id: None,
        created_at: at(9),
    };
    let refused = ro.create_company(&company).await.unwrap_err();
    assert!(refused_read_only(&refused), "{refused}");
    let refused = ro
        .record_consent(&fixtures::consent_write(&w.company, &w.nv, at(9)))
        .await
        .unwrap_err();
    assert!(refused_read_only(&refused), "{refused}");
    ro.close().await;
    assert_eq!(state(&db).await, before, "nothing written");
}

async fn refusal(db: &TestDatabase) -> SchemaMismatch {
    match PgStore::connect_read_only(db.url(), test_options()).await {
        Err(StoreError::Backend(e)) => match e.downcast::<SchemaMismatch>() {
            Ok(m) => *m,
            Err(other) => panic!("expected a schema mismatch, got {other}"),
        },
        Err(other) => panic!("expected a schema mismatch, got {other:?}"),
        Ok(_) => panic!("the store must refuse to open"),
    }
}

#[tokio::test]
async fn another_schema_version_is_refused_naming_both_and_nothing_is_migrated() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    db.store().await.close().await;
    let (_, _, _, versions) = state(&db).await;
    let (older, newest) = (versions[versions.len() - 2], versions[versions.len() - 1]);

    // As the release before the newest migration left it.
    let mut conn = db.raw().await;
    sqlx::query("delete from _sqlx_migrations where version = $1")
        .bind(newest)
        .execute(&mut conn)
        .await
        .unwrap();
    let before = state(&db).await;
    let older_refused = refusal(&db).await;
    assert_eq!(
        older_refused,
        SchemaMismatch::Older {
            database: older,
            expected: newest
        }
    );
    let said = older_refused.to_string();
    assert!(
        said.contains(&format!(
            "the database is at schema {older}, this accord expects {newest}"
        )) && said.contains("accord migrate"),
        "{said}"
    );
    assert_eq!(state(&db).await, before, "nothing migrated");

    // As a newer release left it.
    sqlx::query(
        "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
         select 9999, 'from the future', true, checksum, 0 from _sqlx_migrations where version = 1",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        refusal(&db).await,
        SchemaMismatch::Newer {
            database: 9999,
            expected: newest
        }
    );
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_database_without_accords_schema_is_refused_and_left_empty() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    assert_eq!(refusal(&db).await, SchemaMismatch::NotAccord);
    let mut conn = db.raw().await;
    let created: bool = sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(!created, "nothing was created");
    conn.close().await.unwrap();
}
