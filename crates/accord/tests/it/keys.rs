//! Per-tenant data keys, read back from the SQLite file with the key file as someone holding
//! both would: `accord tenant delete` leaves every secret of the tenant unreadable (its data
//! key is gone) while another tenant's still open; `accord keys rotate`, run while Accord
//! serves and refreshes tokens, leaves every data key wrapped under the new instance key and no
//! secret sealed with an instance key, and the flow and data calls go on working.

use crate::helpers::{spawn_app_with, TestApp};
use crate::startup::{accord, run, Ran};
use accord_domain::crypto::{Keyring, Sealed};
use accord_domain::ids::{ConnectionId, TenantId};
use accord_domain::settings::LinkSettings;
use accord_domain::tenant::TenantPlatform;
use accord_domain::Clock as _;
use accord_store::{SecretKind, StoredSecret};
use reqwest::Method;
use rusqlite::{Connection, OptionalExtension};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Every stored secret of `tenant` in the file, whatever the tenant's state: (kind, AAD object,
/// ciphertext), in the columns `TenantStore::secrets_page` walks.
fn secrets_on_disk(db: &Connection, tenant: TenantId) -> Vec<StoredSecret> {
    let queries = [
        (SecretKind::ConnectionTokens, "select id, tokens_ct from connections where tenant_id = ?1 and tokens_ct is not null"),
        (SecretKind::ClientSecret, "select platform_key, client_secret_ct from tenant_platforms where tenant_id = ?1 and client_secret_ct is not null"),
        (SecretKind::WebhookSecret, "select id, secret_ct from webhook_endpoints where tenant_id = ?1 and secret_ct <> ''"),
        (SecretKind::WebhookPreviousSecret, "select id, previous_secret_ct from webhook_endpoints where tenant_id = ?1 and previous_secret_ct is not null"),
        (SecretKind::TotpSecret, "select id, totp_secret from console_users where tenant_id = ?1 and totp_secret is not null"),
        (SecretKind::RevokePayload, "select json_extract(payload, '$.connection_id'), json_extract(payload, '$.tokens_ct') from jobs where tenant_id = ?1 and json_extract(payload, '$.tokens_ct') is not null"),
    ];
    let mut out = Vec::new();
    for (kind, sql) in queries {
        let mut stmt = db.prepare(sql).unwrap();
        let rows = stmt
            .query_map([tenant.to_string()], |r| {
                Ok(StoredSecret {
                    kind,
                    tenant_id: tenant,
                    row: r.get(0)?,
                    object: r.get(0)?,
                    ciphertext: r.get(1)?,
                })
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

/// Opens a stored secret with nothing but the database file and the key file.
fn open_from_disk(
    app: &TestApp,
    db: &Connection,
    ring: &Keyring,
    s: &StoredSecret,
) -> Result<Vec<u8>, String> {
    let aad = accord::keys::aad_of(&app.state.catalog, s).ok_or("no associated data")?;
    match Sealed::of(&s.ciphertext) {
        Some(Sealed::Instance(_)) => ring.decrypt(&s.ciphertext, &aad).map_err(|e| e.to_string()),
        Some(Sealed::DataKey(id)) => {
            let wrapped: Option<String> = db
                .query_row(
                    "select wrapped from tenant_data_keys where tenant_id = ?1 and key_id = ?2",
                    [s.tenant_id.to_string(), id.to_owned()],
                    |r| r.get(0),
                )
                .optional()
                .unwrap();
            let wrapped = wrapped.ok_or("the data key is not in the database")?;
            let key = ring
                .unwrap(&s.tenant_id, id, &wrapped)
                .map_err(|e| e.to_string())?;
            key.decrypt(&s.ciphertext, &aad).map_err(|e| e.to_string())
        }
        None => Err("not a ciphertext".into()),
    }
}

fn database(app: &TestApp) -> Connection {
    Connection::open_with_flags(
        app.data_dir.path().join("accord.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap()
}

fn key_file(app: &TestApp) -> Keyring {
    Keyring::from_file_text(
        &std::fs::read_to_string(app.data_dir.path().join("keys.toml")).unwrap(),
    )
    .unwrap()
}

fn data_keys(db: &Connection, tenant: TenantId) -> Vec<(String, String)> {
    let mut stmt = db
        .prepare("select key_id, wrapped from tenant_data_keys where tenant_id = ?1")
        .unwrap();
    let rows = stmt
        .query_map([tenant.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

async fn cli(app: &TestApp, args: &[&str]) -> Ran {
    let mut cmd = accord();
    cmd.args(args).arg("--data-dir").arg(app.data_dir.path());
    let ran = run(cmd).await;
    assert_eq!(
        ran.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        ran.stdout,
        ran.stderr
    );
    ran
}

/// Connects a company to the sandbox through the hosted flow from its link; the connection id.
async fn connect(app: &TestApp, link_url: &str) -> String {
    let success = app.browser().connect(Some(link_url), "sandbox").await;
    success.url.rsplit('/').next().unwrap().to_owned()
}

async fn read_invoices(app: &TestApp, connection: &str) -> u16 {
    read_invoices_of(app, &app.company_id, connection).await
}

async fn read_invoices_of(app: &TestApp, company: &str, connection: &str) -> u16 {
    let path = format!("/v1/companies/{company}/connections/{connection}/data/invoices?limit=3");
    app.api(Method::GET, &path)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn register_webhook(app: &TestApp) {
    let (status, body) = app
        .api_json(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": "https://hooks.lender.example/accord"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Another tenant with a client secret of its own.
async fn other_tenant(app: &TestApp) -> TenantId {
    let (tenant, _) = accord_web::services::tenants::create_tenant(
        &app.state,
        "Other Lender",
        LinkSettings::default(),
    )
    .await
    .unwrap();
    let platform = app.state.catalog.find("sandbox").unwrap();
    let ct = app
        .state
        .secrets()
        .seal(
            tenant.id,
            b"other-secret",
            &accord_platform::client_secret_aad(tenant.id, platform),
        )
        .await
        .unwrap();
    app.state
        .store
        .upsert_tenant_platform(&TenantPlatform {
            tenant_id: tenant.id,
            platform_key: platform.key.clone(),
            enabled: true,
            client_id: Some("other".into()),
            client_secret_ct: Some(ct),
            updated_at: app.clock.now(),
        })
        .await
        .unwrap();
    tenant.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tenants_secrets_cannot_be_read_from_the_database_with_the_key_file() {
    let app = spawn_app_with(&[("worker.poll_secs", "3600")], None).await;
    connect(&app, &app.link_url).await;
    register_webhook(&app).await;
    let other = other_tenant(&app).await;
    let tenant = app.tenant();

    let db = database(&app);
    let ring = key_file(&app);
    let before = secrets_on_disk(&db, tenant);
    let kinds: Vec<_> = before.iter().map(|s| s.kind).collect();
    for kind in [
        SecretKind::ConnectionTokens,
        SecretKind::ClientSecret,
        SecretKind::WebhookSecret,
    ] {
        assert!(kinds.contains(&kind), "{} stored: {kinds:?}", kind.name());
    }
    for s in &before {
        assert!(
            s.ciphertext.starts_with("v2."),
            "sealed under the tenant's data key: {s:?}"
        );
        open_from_disk(&app, &db, &ring, s).expect("readable with the database and key file");
    }
    assert_eq!(data_keys(&db, tenant).len(), 1);
    let others = secrets_on_disk(&db, other);
    assert_eq!(others.len(), 1);

    let ran = cli(&app, &["tenant", "delete", &tenant.to_string()]).await;
    assert!(ran.stdout.contains("deleted"), "{}", ran.stdout);

    assert!(
        data_keys(&db, tenant).is_empty(),
        "the data key row is gone"
    );
    let after = secrets_on_disk(&db, tenant);
    assert!(
        !after.is_empty(),
        "ciphertexts remain, unreadable: {after:?}"
    );
    for s in before.iter().chain(&after) {
        let opened = open_from_disk(&app, &db, &ring, s);
        assert!(opened.is_err(), "{} still opens: {opened:?}", s.kind.name());
    }
    // Nor does any other tenant's data key open them.
    for (id, wrapped) in data_keys(&db, other) {
        assert!(ring.unwrap(&tenant, &id, &wrapped).is_err());
    }
    for s in &others {
        assert_eq!(
            open_from_disk(&app, &db, &ring, s).unwrap(),
            b"other-secret"
        );
    }
    // No lookup finds the tenant any more, and its API key is revoked.
    assert_eq!(app.state.store.tenant(tenant).await.unwrap(), None);
    let keys = app.state.store.api_keys(tenant).await.unwrap();
    assert!(keys.iter().all(|k| k.revoked_at.is_some()));
    let ran = {
        let mut cmd = accord();
        cmd.args(["tenant", "delete", &tenant.to_string(), "--data-dir"])
            .arg(app.data_dir.path());
        run(cmd).await
    };
    assert_eq!(ran.code, Some(2), "deleted once: {}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_reencrypts_everything_while_accord_serves_and_refreshes() {
    let app = Arc::new(spawn_app_with(&[("worker.poll_secs", "3600")], None).await);
    let connection = connect(&app, &app.link_url).await;
    register_webhook(&app).await;
    let other = other_tenant(&app).await;
    let tenant = app.tenant();
    let old_ring = key_file(&app);

    // Secrets from before data keys: sealed with the instance key (`v1`).
    let conn: ConnectionId = connection.parse().unwrap();
    let tokens = app.platform_tokens(&connection).await.unwrap();
    let previous = app
        .state
        .store
        .connection_tokens(tenant, conn)
        .await
        .unwrap()
        .unwrap();
    let v1_tokens = old_ring.encrypt(
        &serde_json::to_vec(&tokens).unwrap(),
        &accord_platform::tokens_aad(tenant, conn),
    );
    let stored = app
        .state
        .store
        .store_refreshed_tokens(
            tenant,
            conn,
            &accord_store::RefreshedTokens {
                job: None,
                previous_tokens_ct: previous,
                tokens_ct: v1_tokens,
                granted_scope: None,
                next: None,
                revoke_if_stale: false,
            },
            app.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(stored, accord_store::RefreshStored::Stored);
    let sandbox = app.state.catalog.find("sandbox").unwrap();
    let mut platform = app
        .state
        .store
        .tenant_platform(tenant, &sandbox.key)
        .await
        .unwrap()
        .unwrap();
    let secret = app
        .state
        .secrets()
        .open(
            tenant,
            platform.client_secret_ct.as_deref().unwrap(),
            &accord_platform::client_secret_aad(tenant, sandbox),
        )
        .await
        .unwrap();
    platform.client_secret_ct = Some(old_ring.encrypt(
        &secret,
        &accord_platform::client_secret_aad(tenant, sandbox),
    ));
    app.state
        .store
        .upsert_tenant_platform(&platform)
        .await
        .unwrap();
    let db = database(&app);
    let v1 = secrets_on_disk(&db, tenant)
        .iter()
        .filter(|s| s.ciphertext.starts_with("v1."))
        .count();
    assert_eq!(v1, 2);
    assert_eq!(
        read_invoices(&app, &connection).await,
        200,
        "v1 tokens still serve"
    );

    // Data calls past each token's expiry, so Accord refreshes, while the rotation runs.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (app, stop, connection) = (app.clone(), stop.clone(), connection.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                app.clock.advance(time::Duration::minutes(61));
                statuses.push(read_invoices(&app, &connection).await);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            statuses
        })
    };
    let ran = cli(&app, &["keys", "rotate"]).await;
    stop.store(true, Ordering::Relaxed);
    let statuses = load.await.unwrap();
    println!(
        "keys rotate beside {} data calls:\n{}",
        statuses.len(),
        ran.stdout
    );
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(
        ran.stdout.contains("Re-encrypted platform tokens"),
        "{}",
        ran.stdout
    );

    let new_ring = key_file(&app);
    assert_ne!(new_ring.current_key_id(), old_ring.current_key_id());
    for t in [tenant, other] {
        let keys = data_keys(&db, t);
        assert_eq!(keys.len(), 1);
        for (_, wrapped) in keys {
            assert_eq!(
                Sealed::of(&wrapped),
                Some(Sealed::Instance(new_ring.current_key_id()))
            );
        }
        for s in secrets_on_disk(&db, t) {
            assert!(s.ciphertext.starts_with("v2."), "re-encrypted: {s:?}");
            open_from_disk(&app, &db, &new_ring, &s).expect("opens with the new key file");
        }
    }

    // This instance started with the old key file: it reads the new one when it meets a data
    // key wrapped under the new key, with no restart.
    app.state.secrets().forget(tenant);
    assert_eq!(read_invoices(&app, &connection).await, 200);
    // A whole flow still completes: another company's connection, linked and called.
    let company = app.new_company("Second Bakery").await;
    let link = app.new_link_url(&company).await;
    let second = connect(&app, &link).await;
    assert_eq!(read_invoices_of(&app, &company, &second).await, 200);
}
