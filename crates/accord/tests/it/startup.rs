//! Start-up: the key file (created 0600 on first run; refused when missing, readable by others
//! or weak), SQLite durability pragmas, and the real `accord` binary's subcommands and
//! configuration errors (exit code 2, message naming the key).

use accord::config::{Overrides, Settings};
use accord::Application;
use accord_domain::crypto::ApiKey;
use accord_domain::SystemClock;
use accord_store::{NoticeStore, Store, TenantStore};
use accord_store_sqlite::SqliteStore;
use secrecy::ExposeSecret;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// A bound on every child process and every line read from one.
pub(crate) const CHILD_TIMEOUT: Duration = Duration::from_secs(45);

fn settings(data_dir: &Path, extra: &[(&str, &str)]) -> Settings {
    let mut o = Overrides::default();
    o.set("server.listen", "127.0.0.1:0");
    o.set("server.public_url", "");
    o.set("database.data_dir", data_dir.display().to_string());
    for (k, v) in extra {
        o.set(k, *v);
    }
    Settings::load(None, &[], &o).expect("valid settings")
}

async fn build(settings: &Settings) -> anyhow::Result<Application> {
    Application::build(settings, Arc::new(SystemClock)).await
}

/// `build` must fail; returns the whole error chain as text.
async fn refused(settings: &Settings) -> String {
    match build(settings).await {
        Ok(_) => panic!("Accord started but should have refused to"),
        Err(e) => format!("{e:#}"),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// 32 zero bytes, base64.
const ZERO_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

// ---------------------------------------------------------------------------------------------
// the key file

#[tokio::test]
async fn the_first_run_writes_a_private_key_file_and_later_runs_reuse_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data"); // does not exist yet
    let s = settings(&data, &[]);
    let app = build(&s).await.expect("first run starts");
    let key_file = data.join("keys.toml");
    assert!(key_file.exists(), "keys.toml written in the data dir");
    assert_eq!(mode(&key_file), 0o600, "key file mode");
    let text = std::fs::read_to_string(&key_file).unwrap();
    let (_, first_secret) = accord::sandbox_client(&app.state().keyring);
    drop(app);

    let app = build(&s).await.expect("second run starts");
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        text,
        "the key file is not rewritten"
    );
    let (_, second_secret) = accord::sandbox_client(&app.state().keyring);
    assert_eq!(
        first_secret.expose_secret(),
        second_secret.expose_secret(),
        "same key, same derived secrets"
    );
    // A ciphertext made by the first run decrypts in the second.
    let ct = app.state().keyring.encrypt(b"token", b"aad");
    drop(app);
    let app = build(&s).await.unwrap();
    assert_eq!(app.state().keyring.decrypt(&ct, b"aad").unwrap(), b"token");
}

#[tokio::test]
async fn a_key_file_readable_by_others_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &[]);
    drop(build(&s).await.unwrap());
    let key_file = tmp.path().join("keys.toml");
    for m in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(m)).unwrap();
        let err = refused(&s).await;
        assert!(err.contains("keys.file"), "names keys.file: {err}");
        assert!(err.contains("chmod 600"), "says how to fix it: {err}");
    }
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o400)).unwrap();
    build(&s)
        .await
        .expect("a read-only, owner-only key file is fine");
}

#[tokio::test]
async fn a_configured_key_file_that_does_not_exist_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("secrets").join("accord-keys.toml");
    let s = settings(tmp.path(), &[("keys.file", missing.to_str().unwrap())]);
    let err = refused(&s).await;
    assert!(err.contains("keys.file"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(!missing.exists(), "a configured key file is never invented");
    assert!(
        !tmp.path().join("keys.toml").exists(),
        "nor is the default one"
    );
}

#[tokio::test]
async fn weak_or_malformed_key_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "zero.toml",
            format!("current = \"k1\"\n[keys]\nk1 = \"{ZERO_KEY}\"\n"),
            "weak",
        ),
        // 32 bytes of 0x41 ('A'): all bytes equal.
        (
            "same.toml",
            "current = \"k1\"\n[keys]\nk1 = \"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\"\n"
                .to_owned(),
            "weak",
        ),
        (
            "short.toml",
            "current = \"k1\"\n[keys]\nk1 = \"c2hvcnQ=\"\n".to_owned(),
            "32 bytes",
        ),
        (
            "nocurrent.toml",
            "current = \"k2\"\n[keys]\nk1 = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n"
                .to_owned(),
            "current",
        ),
        ("garbage.toml", "this is not toml".to_owned(), "keys.file"),
        ("empty.toml", String::new(), "keys.file"),
    ];
    for (name, text, expect) in cases {
        let path = tmp.path().join(name);
        write_private(&path, &text);
        let s = settings(tmp.path(), &[("keys.file", path.to_str().unwrap())]);
        let err = refused(&s).await;
        assert!(err.contains("keys.file"), "{name}: names keys.file: {err}");
        assert!(err.contains(expect), "{name}: says {expect:?}: {err}");
    }
    // A weak key at the default location is refused too (not replaced).
    let default = tmp.path().join("keys.toml");
    write_private(
        &default,
        &format!("current = \"k1\"\n[keys]\nk1 = \"{ZERO_KEY}\"\n"),
    );
    let err = refused(&settings(tmp.path(), &[])).await;
    assert!(err.contains("keys.file") && err.contains("weak"), "{err}");
    assert!(
        std::fs::read_to_string(&default)
            .unwrap()
            .contains(ZERO_KEY),
        "left untouched"
    );
    // And a good configured key file is accepted.
    let good = tmp.path().join("good.toml");
    write_private(&good, &accord_domain::crypto::Keyring::generate_file());
    build(&settings(
        tmp.path(),
        &[("keys.file", good.to_str().unwrap())],
    ))
    .await
    .expect("a good key file");
}

// ---------------------------------------------------------------------------------------------
// SQLite durability

#[tokio::test]
async fn sqlite_runs_wal_with_full_synchronous_and_foreign_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &[]);
    let app = build(&s).await.unwrap();
    app.state().store.ping().await.unwrap();
    let db = tmp.path().join("accord.db");
    assert!(db.exists(), "the database lives in the data dir");

    // WAL is a property of the file: any connection sees what Accord set.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let journal: String = conn
        .query_row("pragma journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal.to_lowercase(), "wal");
    let fks: i64 = conn
        .query_row(
            "select count(*) from pragma_foreign_key_list('connections')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(fks > 0, "the schema declares foreign keys");
    drop(conn);

    // synchronous and foreign_keys are per connection: ask the store's own connections (the
    // readers and the single writer), opened exactly as Accord opens them.
    let store = SqliteStore::open(&db).await.unwrap();
    for p in store.pragmas().await.unwrap() {
        assert_eq!(p.journal_mode.to_lowercase(), "wal", "{p:?}");
        assert_eq!(p.synchronous, 2, "synchronous=FULL: {p:?}");
        assert!(p.foreign_keys, "foreign keys on: {p:?}");
    }
    drop(app);
}

// ---------------------------------------------------------------------------------------------
// the binary

/// The `accord` binary with no `ACCORD_*` variables inherited from the test's environment.
pub(crate) fn accord() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_accord"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ACCORD_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

pub(crate) struct Ran {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) async fn run(mut cmd: Command) -> Ran {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("accord runs");
    let out = tokio::time::timeout(CHILD_TIMEOUT, child.wait_with_output())
        .await
        .expect("accord exits in time")
        .unwrap();
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn an_invalid_log_format_in_the_config_file_exits_2_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("accord.toml");
    std::fs::write(&config, "[log]\nformat = \"xml\"\n").unwrap();
    let mut cmd = accord();
    cmd.arg("--config")
        .arg(&config)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path());
    let ran = run(cmd).await;
    assert_eq!(
        ran.code,
        Some(2),
        "stdout: {}\nstderr: {}",
        ran.stdout,
        ran.stderr
    );
    assert!(ran.stderr.contains("log.format"), "{}", ran.stderr);
    assert!(
        !tmp.path().join("accord.db").exists(),
        "nothing was started"
    );
}

#[tokio::test]
async fn an_invalid_listen_address_from_the_environment_exits_2_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = accord();
    cmd.env("ACCORD_SERVER__LISTEN", "nowhere")
        .arg("serve")
        .arg("--data-dir")
        .arg(tmp.path());
    let ran = run(cmd).await;
    assert_eq!(
        ran.code,
        Some(2),
        "stdout: {}\nstderr: {}",
        ran.stdout,
        ran.stderr
    );
    assert!(ran.stderr.contains("server.listen"), "{}", ran.stderr);
    assert!(
        !tmp.path().join("accord.db").exists(),
        "nothing was started"
    );

    // Unknown keys are named too, and so is a missing --config file.
    let mut cmd = accord();
    cmd.env("ACCORD_SERVER__COLOUR", "blue")
        .arg("serve")
        .arg("--data-dir")
        .arg(tmp.path());
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("colour"), "{}", ran.stderr);
    let mut cmd = accord();
    cmd.arg("--config")
        .arg(tmp.path().join("nope.toml"))
        .arg("serve");
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("nope.toml"), "{}", ran.stderr);
}

#[tokio::test]
async fn accord_openapi_prints_the_document() {
    let mut cmd = accord();
    cmd.arg("openapi");
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).expect("JSON on stdout");
    assert!(doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1.")));
    assert_eq!(
        ran.stdout.trim_end(),
        accord_web::api::openapi_json().trim_end()
    );
}

#[tokio::test]
async fn accord_tenant_create_prints_the_api_key_once_and_the_tenant_exists() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = accord();
    cmd.args(["tenant", "create", "--name", "Acme Lending", "--data-dir"])
        .arg(tmp.path());
    let ran = run(cmd).await;
    assert_eq!(
        ran.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        ran.stdout,
        ran.stderr
    );
    let keys: Vec<&str> = ran
        .stdout
        .split_whitespace()
        .filter(|w| w.starts_with("acc_"))
        .collect();
    assert_eq!(keys.len(), 1, "one API key printed: {}", ran.stdout);
    let key = keys[0];
    assert_eq!(ran.stdout.matches(key).count(), 1, "printed once");
    assert!(!ran.stderr.contains(key), "the key is not logged");
    assert!(ran.stdout.contains("Acme Lending"), "{}", ran.stdout);
    assert_eq!(mode(&tmp.path().join("keys.toml")), 0o600);

    let store = SqliteStore::open(&tmp.path().join("accord.db"))
        .await
        .unwrap();
    let tenant = store
        .tenant_by_name("Acme Lending")
        .await
        .unwrap()
        .expect("the tenant exists");
    let (key_id, secret_hash) = ApiKey::parse(key).expect("a well-formed key");
    let record = store
        .api_key(&key_id)
        .await
        .unwrap()
        .expect("the key is stored");
    assert_eq!(record.tenant_id, tenant.id);
    assert!(
        ApiKey::verify(&secret_hash, &record.secret_hash),
        "the printed key authenticates"
    );
    assert_ne!(record.secret_hash, key, "stored as a hash");
    assert!(
        !store.notices(tenant.id).await.unwrap().is_empty(),
        "default notices seeded"
    );

    // An invalid name is refused with exit code 2, and creates nothing.
    let mut cmd = accord();
    cmd.args(["tenant", "create", "--name", "  ", "--data-dir"])
        .arg(tmp.path());
    let ran = run(cmd).await;
    assert_eq!(
        ran.code,
        Some(2),
        "stdout: {}\nstderr: {}",
        ran.stdout,
        ran.stderr
    );
    assert!(!ran.stdout.contains("acc_"));
}

#[tokio::test]
async fn accord_migrate_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    for round in 0..2 {
        let mut cmd = accord();
        cmd.arg("migrate").arg("--data-dir").arg(tmp.path());
        let ran = run(cmd).await;
        assert_eq!(
            ran.code,
            Some(0),
            "round {round}: stdout: {}\nstderr: {}",
            ran.stdout,
            ran.stderr
        );
        assert!(ran.stdout.contains("migrations applied"), "{}", ran.stdout);
    }
    let store = SqliteStore::open(&tmp.path().join("accord.db"))
        .await
        .unwrap();
    store.ping().await.unwrap();
    assert!(
        store.tenant_by_name("anyone").await.unwrap().is_none(),
        "the schema is usable"
    );
}

#[tokio::test]
async fn accord_demo_prints_a_link_url_that_opens_the_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = accord();
    cmd.args(["demo", "--port", "0", "--data-dir"])
        .arg(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("accord demo runs");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let link = tokio::time::timeout(CHILD_TIMEOUT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if let Some(url) = line.strip_prefix("Link URL: ") {
                return Some(url.to_owned());
            }
        }
        None
    })
    .await
    .unwrap_or_else(|_| panic!("no `Link URL:` line in time; saw {seen:?}"));
    let link = link
        .unwrap_or_else(|| panic!("accord demo exited without a `Link URL:` line; saw {seen:?}"));
    assert!(
        seen.iter()
            .any(|l| l.contains("API key") && l.contains("acc_")),
        "the API key is printed: {seen:?}"
    );

    let rest = link
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("loopback URL: {link}"));
    let (port, path) = rest.split_once('/').unwrap();
    let port: u16 = port.parse().expect("a port");
    assert_ne!(port, 0, "the bound port, not 0");
    let token = path
        .strip_prefix("link/")
        .unwrap_or_else(|| panic!("a /link/<token> URL: {link}"));
    assert!(
        !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token}"
    );

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = tokio::time::timeout(CHILD_TIMEOUT, http.get(&link).send())
        .await
        .expect("answers in time")
        .unwrap();
    assert_eq!(res.status(), 303, "the link opens the flow");
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/link/"));

    child.start_kill().unwrap();
    tokio::time::timeout(CHILD_TIMEOUT, child.wait())
        .await
        .expect("accord demo stops")
        .unwrap();
}
