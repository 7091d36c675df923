//! The `accord` binary's library half: configuration, wiring and start-up, so tests build the
//! very same application (`Application::build`) on `127.0.0.1:0` with a fresh database.

pub mod backup;
pub mod config;
pub mod demo;
pub mod keys;
pub mod proof;
pub mod receipt_proof;

use accord_domain::catalog::{Catalog, SHIPPED_CATALOG};
use accord_domain::crypto::Keyring;
use accord_domain::netguard::Resolver;
use accord_domain::Clock;
use accord_platform::{PlatformClient, Urls};
use accord_sandbox::{Sandbox, SandboxClient, SandboxConfig};
use accord_store::Store;
use accord_store_postgres::PgStore;
use accord_store_sqlite::SqliteStore;
use accord_web::i18n::I18n;
use accord_web::{AppState, WebConfig};
use anyhow::{bail, Context};
use config::{Database, Settings};
use secrecy::SecretString;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The built-in OAuth client every Accord has at its in-process sandbox.
pub const SANDBOX_CLIENT_ID: &str = "accord-local";

/// A running-to-be Accord: bound listener, state, optional in-process sandbox.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    sandbox: Option<Sandbox>,
    poll: std::time::Duration,
    /// The SMTP relay for support e-mails, when configured.
    mailer: Option<accord_worker::mail::Mailer>,
    /// How long access records are kept (`data_access.log_retention_days`).
    access_log_retention: time::Duration,
    webhooks: accord_worker::webhooks::WebhookSettings,
    /// Where the sealer appends every checkpoint it signs, outside the database.
    checkpoint_file: std::path::PathBuf,
}

impl Application {
    /// Binds the listener, opens (and migrates) the store, loads or creates the key file,
    /// and assembles the state. Nothing is served until [`Application::serve`].
    pub async fn build(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::build_with(
            settings,
            clock,
            Arc::new(accord_worker::webhooks::SystemResolver),
        )
        .await
    }

    /// [`Application::build`] with the name resolution of webhook endpoints injected (tests
    /// decide what a name points to, as they decide the time).
    pub async fn build_with(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        resolver: Arc<dyn Resolver>,
    ) -> anyhow::Result<Self> {
        let addr = settings.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("server.listen: cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let public_url = settings.public_url(Some(local))?;
        let store = open_store(settings).await?;
        let keyring = Arc::new(load_keyring(settings)?);
        let catalog = Catalog::parse(SHIPPED_CATALOG, false)
            .and_then(|c| {
                c.with_overrides(
                    settings.platforms.clone(),
                    settings.server.allow_http_localhost,
                )
            })
            .map_err(|e| anyhow::anyhow!("platforms: {e}"))?;
        let catalog = Arc::new(catalog);
        let sandbox_url = settings.sandbox.url.clone();
        let urls = Urls {
            public_url,
            sandbox_url,
        };
        let i18n = Arc::new(I18n::load().map_err(|e| anyhow::anyhow!(e))?);
        let mailer = settings.mailer()?;
        let config = WebConfig {
            urls: urls.clone(),
            allow_http_localhost: settings.server.allow_http_localhost,
            link_session_ttl: time::Duration::seconds(settings.sessions.link_ttl_secs),
            manage_session_ttl: time::Duration::seconds(settings.sessions.manage_ttl_secs),
            browser_session_ttl: time::Duration::seconds(settings.sessions.browser_ttl_secs),
            support_email: mailer.is_some(),
            trusted_proxies: settings.server.trusted_proxies.clone(),
            webhooks_allow_loopback: settings.webhooks.allow_loopback,
            webhook_secret_overlap: time::Duration::seconds(settings.webhooks.secret_overlap_secs),
            metrics_token: settings.metrics_token(),
        };
        let platforms = PlatformClient {
            store: store.clone(),
            catalog: catalog.clone(),
            keyring: keyring.clone(),
            secrets: Arc::new(reloading_secrets(settings, &keyring, &store)),
            clock: clock.clone(),
            urls: Arc::new(urls.clone()),
            http: PlatformClient::http_client(),
            in_process: None,
        };
        let sandbox = settings
            .sandbox
            .mount
            .then(|| mounted_sandbox(&catalog, &urls, &keyring, &clock));
        let limits = Arc::new(accord_web::ratelimit::RateLimits::new(
            settings.rate_limits(),
            clock.clone(),
        ));
        let snapshots = accord_web::services::snapshot::Snapshots::watching(&*store);
        let state = AppState::new(accord_web::state::Shared {
            store,
            catalog,
            keyring,
            clock,
            i18n,
            config: Arc::new(config),
            platforms,
            jobs: Arc::new(tokio::sync::Notify::new()),
            limits,
            resolver: resolver.clone(),
            refresh_locks: Arc::new(accord_web::services::access::RefreshLocks::new()),
            access_gates: Arc::new(accord_web::services::access::AccessGates::new()),
            api_keys: Arc::new(accord_web::services::access::ApiKeyCache::new()),
            funnel: Arc::new(accord_web::services::funnel::FunnelBuffer::new()),
            snapshots,
        });
        Ok(Self {
            listener,
            state,
            sandbox,
            poll: std::time::Duration::from_secs(settings.worker.poll_secs),
            checkpoint_file: checkpoint_file(settings),
            mailer,
            access_log_retention: time::Duration::days(
                settings.data_access.log_retention_days.into(),
            ),
            webhooks: accord_worker::webhooks::WebhookSettings {
                allow_loopback: settings.webhooks.allow_loopback,
                resolver,
                timeout: std::time::Duration::from_secs(settings.webhooks.timeout_secs),
                poll_every: std::time::Duration::from_millis(settings.webhooks.poll_millis),
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// Has the token requests to the mounted sandbox answered in-process rather than over
    /// loopback HTTP (see [`accord_platform::InProcess`]): `accord demo` does; the tests keep
    /// the exchange on HTTP, as with a real platform. Nothing changes when the sandbox is not
    /// mounted or `sandbox.url` points elsewhere.
    #[must_use]
    pub fn with_sandbox_in_process(mut self) -> Self {
        let urls = self.state.platforms.urls.clone();
        if let (Some(sandbox), None) = (&self.sandbox, &urls.sandbox_url) {
            let sandbox = sandbox.in_process("/sandbox");
            let answer: accord_platform::InProcessAnswer = Arc::new(move |request| {
                let sandbox = sandbox.clone();
                Box::pin(async move { sandbox.answer(request).await })
            });
            let shared = self
                .state
                .get_mut()
                .expect("the state is changed before the server hands out clones of it");
            shared.platforms.in_process = Some(accord_platform::InProcess {
                base: urls.endpoint("{sandbox_url}", None),
                answer,
            });
        }
        self
    }

    /// The whole router: Accord, plus the sandbox under `/sandbox` when mounted.
    pub fn router(&self) -> axum::Router {
        let app = accord_web::app(self.state.clone());
        match &self.sandbox {
            Some(s) => app.nest("/sandbox", s.router()),
            None => app,
        }
    }

    /// Serves HTTP and runs the job and webhook workers until `shutdown` resolves; in-flight
    /// requests, the current job batch and the webhook sends in progress finish first.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = self.router();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let worker = accord_worker::Worker::new(
            self.state.platforms.clone(),
            self.state.jobs.clone(),
            self.poll,
        )
        .with_mailer(self.mailer)
        .with_access_log_retention(self.access_log_retention);
        let mut worker_rx = rx.clone();
        let worker = tokio::spawn(worker.run(async move {
            let _ = worker_rx.wait_for(|stop| *stop).await;
        }));
        let sealer = accord_worker::Sealer::new(
            self.state.store.clone(),
            self.state.keyring.signing_keys(),
            self.state.clock.clone(),
            self.poll,
            self.state.config.urls.public_url.clone(),
        )
        .with_checkpoint_file(self.checkpoint_file.clone())
        .with_context(|| {
            format!(
                "cannot read the ledger checkpoint file {}",
                self.checkpoint_file.display()
            )
        })?;
        let mut sealer_rx = rx.clone();
        let sealer = tokio::spawn(sealer.run(async move {
            let _ = sealer_rx.wait_for(|stop| *stop).await;
        }));
        let webhooks = accord_worker::webhooks::WebhookWorker::new(
            self.state.store.clone(),
            self.state.platforms.secrets.clone(),
            self.state.clock.clone(),
            self.webhooks.clone(),
        );
        let mut webhooks_rx = rx.clone();
        let webhooks = tokio::spawn(webhooks.run(async move {
            let _ = webhooks_rx.wait_for(|stop| *stop).await;
        }));
        let mut server_rx = rx;
        let server = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = server_rx.wait_for(|stop| *stop).await;
        });
        tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(true);
        });
        let (funnel, store) = (self.state.funnel.clone(), self.state.store.clone());
        server.await?;
        // The funnel counts of the last second, before the store closes with the process.
        funnel.flush(&*store).await;
        worker.await?;
        sealer.await?;
        webhooks.await?;
        Ok(())
    }
}

/// The sandbox client id and its secret, derived from the key file so it is stable across
/// restarts and different on every installation.
pub fn sandbox_client(keyring: &Keyring) -> (String, SecretString) {
    (
        SANDBOX_CLIENT_ID.to_owned(),
        SecretString::from(keyring.mac("sandbox-client-secret", SANDBOX_CLIENT_ID.as_bytes())),
    )
}

/// The sandbox platform mounted in-process, its one OAuth client registered with the redirect
/// URI of every sandbox entry of the catalog.
fn mounted_sandbox(
    catalog: &Catalog,
    urls: &Urls,
    keyring: &Keyring,
    clock: &Arc<dyn Clock>,
) -> Sandbox {
    let (id, secret) = sandbox_client(keyring);
    let redirect_uris = catalog
        .all()
        .iter()
        .filter(|p| p.is_sandbox())
        .map(|p| urls.redirect_uri(p))
        .collect();
    Sandbox::new(
        SandboxConfig {
            clients: vec![SandboxClient {
                client_id: id,
                client_secret: secret,
                redirect_uris,
            }],
            ..SandboxConfig::default()
        },
        clock.clone(),
    )
}

/// Opens the store `database.url` chooses (and migrates it): SQLite by default, PostgreSQL for
/// `postgres://` and `postgresql://` URLs.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match settings.database()? {
        Database::Sqlite(path) => Arc::new(open_sqlite(&path).await?),
        Database::Postgres(url) => Arc::new(open_postgres(settings, &url).await?),
    })
}

async fn open_sqlite(path: &Path) -> anyhow::Result<SqliteStore> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("database.data_dir: cannot create {}", dir.display()))?;
    }
    SqliteStore::open(path)
        .await
        .with_context(|| format!("cannot open the database at {}", path.display()))
}

/// Opens the store `database.url` chooses to read it and nothing else (`accord ledger verify`):
/// SQLite's file read-only, with no migration, tree building or checkpoint
/// (`SqliteStore::open_read_only`); PostgreSQL with every transaction read-only and no
/// migration (`PgStore::connect_read_only`). A database at another schema version than this
/// build's is refused, naming both. A SQLite file must exist: nothing is created.
pub async fn open_store_read_only(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match settings.database()? {
        Database::Sqlite(path) => {
            if !path.is_file() {
                bail!(
                    "no database at {} (set database.data_dir, --data-dir or database.url)",
                    path.display()
                );
            }
            Arc::new(
                SqliteStore::open_read_only(&path)
                    .await
                    .map_err(refusal)
                    .with_context(|| format!("cannot read the database at {}", path.display()))?,
            )
        }
        Database::Postgres(url) => {
            use secrecy::ExposeSecret;
            Arc::new(
                PgStore::connect_read_only(url.expose_secret(), settings.pg_options())
                    .await
                    .map_err(refusal)
                    .with_context(|| {
                        format!("cannot read the PostgreSQL database {}", redacted(&url))
                    })?,
            )
        }
    })
}

/// A failure to open a store read-only, for the command line: a refusal (the schema version,
/// a WAL that cannot be read where it lies) is said as it is, being the whole story, rather
/// than as a failure of the storage backend.
fn refusal(e: accord_store::StoreError) -> anyhow::Error {
    match e {
        accord_store::StoreError::Backend(why)
            if why.is::<accord_store_sqlite::SchemaMismatch>()
                || why.is::<accord_store_sqlite::WalUnreadable>()
                || why.is::<accord_store_postgres::SchemaMismatch>() =>
        {
            anyhow::anyhow!("{why}")
        }
        other => other.into(),
    }
}

async fn open_postgres(settings: &Settings, url: &SecretString) -> anyhow::Result<PgStore> {
    use secrecy::ExposeSecret;
    PgStore::connect(url.expose_secret(), settings.pg_options())
        .await
        .with_context(|| format!("cannot open the PostgreSQL database {}", redacted(url)))
}

/// A database URL fit for logs and messages: scheme, user, host, port and database, without the
/// password or the query string.
pub fn redacted(url: &SecretString) -> String {
    use secrecy::ExposeSecret;
    match url::Url::parse(url.expose_secret()) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(unreadable database.url)".to_owned(),
    }
}

/// `accord migrate`: applies the migrations `database.url`'s database lacks, and says where.
/// Safe to run while older instances serve: migrations only expand the schema within a release
/// (docs/deployment.md), and PostgreSQL runs them under an advisory lock.
pub async fn migrate(settings: &Settings) -> anyhow::Result<String> {
    match settings.database()? {
        Database::Sqlite(path) => {
            let store = open_sqlite(&path).await?;
            store.migrate().await?;
            store.close().await;
            Ok(format!("migrations applied to {}", path.display()))
        }
        Database::Postgres(url) => {
            let store = open_postgres(settings, &url).await?;
            let versions = store.migrate().await?;
            store.close().await;
            let versions: Vec<String> = versions.iter().map(ToString::to_string).collect();
            Ok(format!(
                "migrations applied to {} (versions: {})",
                redacted(&url),
                versions.join(", ")
            ))
        }
    }
}

/// Tenants' secrets over the instance keyring, reading the key file again when a data key is
/// wrapped under a key added since (`accord keys rotate` while this instance serves).
fn reloading_secrets(
    settings: &Settings,
    keyring: &Arc<Keyring>,
    store: &Arc<dyn accord_store::Store>,
) -> accord_platform::secrets::Secrets {
    let (path, _) = settings.key_file();
    accord_platform::secrets::Secrets::new(keyring.clone(), store.clone()).with_reload(move || {
        let text = std::fs::read_to_string(&path).ok()?;
        Keyring::from_file_text(&text).ok()
    })
}

/// Loads the key file; on first run creates the default one with a fresh random key, mode 0600.
pub fn load_keyring(settings: &Settings) -> anyhow::Result<Keyring> {
    let (path, is_default) = settings.key_file();
    if !path.exists() {
        if !is_default {
            bail!(
                "keys.file: {} does not exist; Accord will not start without its encryption key",
                path.display()
            );
        }
        write_new_key_file(&path)?;
        tracing::info!(path = %path.display(), "created a new token-encryption key file; back it up");
        if matches!(settings.database(), Ok(Database::Postgres(_))) {
            // Every instance on one database must decrypt what the others encrypted.
            tracing::warn!(path = %path.display(), "created a key file for a PostgreSQL deployment: give every other Accord instance on this database a copy of it (keys.file), or they cannot read the tokens this one stores");
        }
    }
    check_key_file_mode(&path)?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("keys.file: cannot read {}", path.display()))?;
    Keyring::from_file_text(&text).map_err(|e| anyhow::anyhow!("keys.file {}: {e}", path.display()))
}

/// The ledger checkpoint file (`ledger.checkpoint_file`, by default beside the key file).
pub fn checkpoint_file(settings: &Settings) -> std::path::PathBuf {
    settings.checkpoint_file()
}

fn write_new_key_file(path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create the key file {}", path.display()))?;
    f.write_all(Keyring::generate_file().as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Refuses a key file readable by others: it guards every stored token.
fn check_key_file_mode(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "keys.file {}: permissions {:o} are too open; run `chmod 600` on it",
                path.display(),
                mode & 0o777
            );
        }
    }
    Ok(())
}
