//! The test harness: `spawn_app()` builds the real application on `127.0.0.1:0` with a fresh
//! SQLite database in a temporary directory, the in-process sandbox, an injected clock, an
//! injected name resolver (a table the test fills: no test depends on the machine's DNS) and the
//! demo tenant; `Browser` is a cookie-keeping client that does not follow redirects, so each
//! step of the flow is observed.

pub mod console;

use accord::config::{Overrides, Settings};
use accord::Application;
use accord_domain::netguard::StaticResolver;
use accord_domain::ManualClock;
use accord_web::AppState;
use scraper::{Html, Selector};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use tempfile::TempDir;

/// Every log line of the test process, for the canary tests (secrets must never appear).
pub static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = LogWriter(buf.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter("trace,hyper=info,h2=info,reqwest=debug,sqlx=debug")
            .with_writer(move || w.clone())
            .json()
            .try_init();
        buf
    });
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.get().expect("logs initialised").lock().unwrap()).into_owned()
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub state: AppState,
    pub clock: ManualClock,
    /// What webhook endpoint names resolve to, at registration and at send time.
    pub resolver: StaticResolver,
    pub data_dir: TempDir,
    pub api_key: String,
    pub tenant_id: String,
    pub company_id: String,
    pub link_url: String,
    pub manage_url: String,
    pub http: reqwest::Client,
    /// The in-process sandbox platform (for its test controls, e.g. an outage).
    pub sandbox: Option<accord_sandbox::Sandbox>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[], None).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A tenant API request with this app's API key.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.api_key)
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }
}

/// A browser: keeps cookies, does not follow redirects, sends a fixed Accept-Language.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    pub url: String,
}

impl Page {
    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    pub fn doc(&self) -> Html {
        Html::parse_document(&self.body)
    }

    /// Text content of everything matching `css`.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let doc = self.doc();
        let sel = Selector::parse(css).unwrap();
        doc.select(&sel)
            .map(|e| e.text().collect::<String>())
            .collect()
    }

    /// The named fields (hidden and visible inputs with values) of the form matching `css`.
    pub fn form(&self, css: &str) -> (String, BTreeMap<String, String>) {
        let doc = self.doc();
        let form_sel = Selector::parse(css).unwrap();
        let form = doc
            .select(&form_sel)
            .next()
            .unwrap_or_else(|| panic!("no form {css} in:\n{}", self.body));
        let action = form.value().attr("action").unwrap_or_default().to_owned();
        let input = Selector::parse("input").unwrap();
        let mut fields = BTreeMap::new();
        for i in form.select(&input) {
            let v = i.value();
            if let Some(name) = v.attr("name") {
                let ty = v.attr("type").unwrap_or("text");
                if ty == "checkbox" {
                    continue;
                }
                fields.insert(
                    name.to_owned(),
                    v.attr("value").unwrap_or_default().to_owned(),
                );
            }
        }
        (action, fields)
    }
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("AccordTest/1.0")
            .build()
            .unwrap();
        Self {
            client,
            base: base.to_owned(),
        }
    }

    fn abs(&self, url: &str) -> String {
        if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        let url = self.abs(url);
        let res = self.client.get(&url).send().await.unwrap();
        Self::page(url, res).await
    }

    pub async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Page {
        let url = self.abs(url);
        let mut req = self.client.get(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::page(url, req.send().await.unwrap()).await
    }

    pub async fn post(&self, url: &str, fields: &BTreeMap<String, String>) -> Page {
        let url = self.abs(url);
        let res = self.client.post(&url).form(fields).send().await.unwrap();
        Self::page(url, res).await
    }

    pub async fn post_with(
        &self,
        url: &str,
        fields: &BTreeMap<String, String>,
        headers: &[(&str, &str)],
    ) -> Page {
        let url = self.abs(url);
        let mut req = self.client.post(&url).form(fields);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::page(url, req.send().await.unwrap()).await
    }

    async fn page(url: String, res: reqwest::Response) -> Page {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap();
        Page {
            status,
            headers,
            body,
            url,
        }
    }

    /// Follows redirects from `page` (GETs), returning the final page.
    pub async fn follow(&self, mut page: Page) -> Page {
        for _ in 0..10 {
            if !(300..400).contains(&page.status) {
                return page;
            }
            let to = page.location();
            page = self.get(&to).await;
        }
        panic!("too many redirects");
    }

    /// Signs in at the sandbox's authorization page and approves (or denies); returns the
    /// redirect to Accord's callback (not yet followed).
    pub async fn sandbox_decide(
        &self,
        authorize_url: &str,
        organisation: &str,
        approve: bool,
    ) -> Page {
        let page = self.get(authorize_url).await;
        assert_eq!(page.status, 200, "sandbox sign-in page: {}", page.body);
        let (action, mut fields) = page.form("form");
        fields.insert("organisation".into(), organisation.into());
        fields.insert(
            "decision".into(),
            if approve { "approve" } else { "deny" }.into(),
        );
        let action = if action.starts_with('/') {
            action
        } else {
            format!("/sandbox/oauth/{action}")
        };
        self.post(&action, &fields).await
    }

    /// On the sandbox platform's connected-apps page, as the customer: looks up
    /// `organisation` and presses "Remove access" for Accord; returns how many applications
    /// the page listed before.
    pub async fn sandbox_remove_access(&self, organisation: &str) -> usize {
        let url = format!(
            "/sandbox/connected-apps?organisation={}",
            url::form_urlencoded::byte_serialize(organisation.as_bytes()).collect::<String>()
        );
        let page = self.get(&url).await;
        assert_eq!(page.status, 200, "connected apps: {}", page.body);
        let listed = page.attrs("section.app form", "action").len();
        assert!(listed > 0, "Accord is listed: {}", page.body);
        let (action, fields) = page.quiet_form("section.app form");
        let removed = self.post(&action, &fields).await;
        assert_eq!(removed.status, 303, "access removed: {}", removed.body);
        listed
    }

    /// From a consent page: tick (or not) and press Connect. Returns the response (a redirect
    /// to the platform on success).
    pub async fn consent(&self, platform: &str, tick: bool) -> Page {
        let page = self
            .get(&format!("/link/platforms/{platform}/consent"))
            .await;
        assert_eq!(page.status, 200, "consent page: {}", page.body);
        let (action, mut fields) = page.form("form.consent-form");
        if tick {
            fields.insert("agree".into(), "yes".into());
        }
        fields.insert("action".into(), "connect".into());
        self.post(&action, &fields).await
    }

    /// Opens a link and connects `platform` through the sandbox; returns the success page.
    pub async fn connect(&self, link_url: Option<&str>, platform: &str) -> Page {
        if let Some(link) = link_url {
            let opened = self.get(link).await;
            assert_eq!(opened.status, 303, "link opens: {}", opened.body);
        }
        let to_platform = self.consent(platform, true).await;
        assert_eq!(
            to_platform.status, 303,
            "consent accepted: {}",
            to_platform.body
        );
        let callback = self
            .sandbox_decide(&to_platform.location(), "Bluebell", true)
            .await;
        assert_eq!(callback.status, 303, "sandbox approves: {}", callback.body);
        let done = self.get(&callback.location()).await;
        assert_eq!(done.status, 303, "callback accepted: {}", done.body);
        let success = self.get(&done.location()).await;
        assert_eq!(success.status, 200, "success page: {}", success.body);
        success
    }
}

// ---- Helpers of the flow, security, manage and canary tests ----

impl Browser {
    /// A browser whose every request says `Accept-Language: {accept}`.
    pub fn with_accept_language(base: &str, accept: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT_LANGUAGE,
            reqwest::header::HeaderValue::from_str(accept).unwrap(),
        );
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("AccordTest/1.0")
            .default_headers(headers)
            .build()
            .unwrap();
        Self {
            client,
            base: base.to_owned(),
        }
    }
}

/// Runs `f` with logging off on this thread. The HTML parser and selector engine the tests use
/// log megabytes per page at trace level; that is the test's own browser talking, and it would
/// drown the captured logs (and slow every test down). Accord's server is not running inside
/// `f` (it is synchronous), so none of Accord's own log lines are lost.
pub fn quietly<T>(f: impl FnOnce() -> T) -> T {
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), f)
}

impl Page {
    /// The value of `attr` on everything matching `css`.
    pub fn attrs(&self, css: &str, attr: &str) -> Vec<String> {
        quietly(|| {
            let doc = self.doc();
            let sel = Selector::parse(css).unwrap();
            doc.select(&sel)
                .filter_map(|e| e.value().attr(attr).map(str::to_owned))
                .collect()
        })
    }

    /// Whether anything matches `css`.
    pub fn has(&self, css: &str) -> bool {
        quietly(|| {
            let sel = Selector::parse(css).unwrap();
            self.doc().select(&sel).next().is_some()
        })
    }

    /// [`Page::texts`] without the parser's logs.
    pub fn quiet_texts(&self, css: &str) -> Vec<String> {
        quietly(|| self.texts(css))
    }

    /// [`Page::form`] without the parser's logs.
    pub fn quiet_form(&self, css: &str) -> (String, BTreeMap<String, String>) {
        quietly(|| self.form(css))
    }

    /// A response header as text ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

/// A query parameter of an absolute or relative URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url)
        .or_else(|_| url::Url::parse("http://x.invalid").unwrap().join(url))
        .ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl TestApp {
    /// A tenant API call; the status and the JSON body (`Null` when there is none).
    pub async fn api_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.api(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    async fn api_list(&self, path: &str) -> Vec<serde_json::Value> {
        let (status, body) = self.api_json(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// The demo company's connections, as the API lists them.
    pub async fn connections(&self) -> Vec<serde_json::Value> {
        self.api_list(&format!("/v1/companies/{}/connections", self.company_id))
            .await
    }

    /// The demo company's consents, withdrawn ones included, as the API lists them.
    pub async fn consents(&self) -> Vec<serde_json::Value> {
        self.api_list(&format!("/v1/companies/{}/consents", self.company_id))
            .await
    }

    /// The tenant's support requests, as the API lists them.
    pub async fn support_requests(&self) -> Vec<serde_json::Value> {
        self.api_list("/v1/support-requests").await
    }

    /// A fresh link URL for a company of this tenant, minted through the API.
    pub async fn new_link_url(&self, company_id: &str) -> String {
        let (status, body) = self
            .api_json(
                reqwest::Method::POST,
                &format!("/v1/companies/{company_id}/link-sessions"),
                Some(serde_json::json!({})),
            )
            .await;
        assert_eq!(status, 201, "link session: {body}");
        body["url"].as_str().unwrap().to_owned()
    }

    /// Another company of this tenant; returns its id.
    pub async fn new_company(&self, name: &str) -> String {
        let (status, body) = self
            .api_json(
                reqwest::Method::POST,
                "/v1/companies",
                Some(serde_json::json!({ "name": name })),
            )
            .await;
        assert_eq!(status, 201, "company: {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub fn tenant(&self) -> accord_domain::ids::TenantId {
        self.tenant_id.parse().unwrap()
    }

    /// The platform tokens Accord holds for a connection, decrypted (None once destroyed).
    pub async fn platform_tokens(
        &self,
        connection_id: &str,
    ) -> Option<accord_domain::connection::TokenSet> {
        let id: accord_domain::ids::ConnectionId = connection_id.parse().unwrap();
        let ct = self
            .state
            .store
            .connection_tokens(self.tenant(), id)
            .await
            .unwrap()?;
        let plain = self
            .state
            .secrets()
            .open(
                self.tenant(),
                &ct,
                &accord_platform::tokens_aad(self.tenant(), id),
            )
            .await
            .unwrap();
        Some(serde_json::from_slice(&plain).unwrap())
    }

    /// A `GET /sandbox/api/{resource}` with a bearer token: the sandbox platform's answer.
    pub async fn sandbox_api_status(&self, resource: &str, access_token: &str) -> u16 {
        self.http
            .get(self.url(&format!("/sandbox/api/{resource}")))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Every file of the data directory (database, WAL, key file…), as bytes.
    pub fn data_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.data_dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
        out
    }

    /// The `revoke_token` jobs of this app's database.
    pub async fn revoke_jobs(&self) -> Vec<accord_domain::tenant::Job> {
        self.jobs(accord_domain::tenant::JobKind::RevokeToken).await
    }

    /// The jobs of `kind` in this app's database. No API lists jobs, so their ids are found by
    /// scanning the database files for ids (stored as text) and asking the store.
    pub async fn jobs(
        &self,
        kind: accord_domain::tenant::JobKind,
    ) -> Vec<accord_domain::tenant::Job> {
        let mut ids = std::collections::BTreeSet::new();
        for (_, bytes) in self.data_files() {
            ids.extend(uuids_in(&bytes));
        }
        let mut jobs = Vec::new();
        for id in ids {
            let Ok(job_id) = id.parse::<accord_domain::ids::JobId>() else {
                continue;
            };
            if let Some(job) = self.state.store.job(job_id).await.unwrap() {
                if job.kind == kind {
                    jobs.push(job);
                }
            }
        }
        jobs
    }

    /// Waits (bounded: 5 s, polling) until the job ran to completion.
    pub async fn wait_job_done(&self, id: accord_domain::ids::JobId) -> accord_domain::tenant::Job {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let job = self.state.store.job(id).await.unwrap().expect("job exists");
            if job.done_at.is_some() {
                return job;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job not done within 5 s: {:?}",
                job.last_error
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Hyphenated lowercase UUIDs in a byte string.
fn uuids_in(bytes: &[u8]) -> Vec<String> {
    const LEN: usize = 36;
    let shaped = |w: &[u8]| {
        w.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(b),
        })
    };
    bytes
        .windows(LEN)
        .filter(|w| shaped(w))
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

// ---- PostgreSQL: the same application on a fresh PostgreSQL database, and several
// instances of one deployment on one database ----

/// A public address the test resolver gives `hooks.lender.example` (RFC 5737's documentation
/// ranges would be refused as non-public).
pub const PUBLIC_IP: &str = "93.184.216.34";

/// `spawn_app()` with extra settings (`database.url`, `keys.file`, `server.public_url`…) and,
/// optionally, the clock of another instance: instances of one deployment share one time.
pub async fn spawn_app_with(extra: &[(&str, &str)], clock: Option<ManualClock>) -> TestApp {
    let resolver = StaticResolver::default();
    resolver.set("hooks.lender.example", &[PUBLIC_IP.parse().unwrap()]);
    resolver.set(
        "localhost",
        &["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
    );
    spawn_app_in(tempfile::tempdir().unwrap(), extra, clock, resolver).await
}

impl TestApp {
    /// Stops this app (gracefully: requests, jobs and webhook sends in progress finish) and
    /// starts Accord again on the same data directory (database, key file), clock and resolver,
    /// with `extra` settings instead of the first ones: an operator's restart with a changed
    /// configuration. The demo tenant is found again, with a new API key and company.
    pub async fn restart_with(mut self, extra: &[(&str, &str)]) -> TestApp {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(std::time::Duration::from_secs(15), handle)
                .await
                .expect("the app stops within 15 s")
                .expect("the app stopped cleanly");
        }
        let data_dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap());
        let clock = self.clock.clone();
        let resolver = self.resolver.clone();
        drop(self);
        spawn_app_in(data_dir, extra, Some(clock), resolver).await
    }
}

async fn spawn_app_in(
    data_dir: TempDir,
    extra: &[(&str, &str)],
    clock: Option<ManualClock>,
    resolver: StaticResolver,
) -> TestApp {
    init_logs();
    let mut o = Overrides::default();
    o.set("server.listen", "127.0.0.1:0");
    o.set("server.public_url", "");
    o.set("server.allow_http_localhost", true);
    o.set("sandbox.mount", true);
    o.set("database.data_dir", data_dir.path().display().to_string());
    o.set("worker.poll_secs", 1);
    for (key, value) in extra {
        o.set(key, *value);
    }
    let settings = Settings::load(None, &[], &o).expect("test settings are valid");
    let clock = clock.unwrap_or_else(|| ManualClock::new(time::OffsetDateTime::now_utc()));
    let app = Application::build_with(
        &settings,
        Arc::new(clock.clone()),
        Arc::new(resolver.clone()),
    )
    .await
    .expect("app builds");
    let demo = accord::demo::ensure(app.state()).await.expect("demo data");
    let addr = app.local_addr();
    let state = app.state().clone();
    let sandbox = app.sandbox().cloned();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        app.serve(async {
            let _ = rx.await;
        })
        .await
        .expect("server runs");
    });
    TestApp {
        addr,
        base: format!("http://{addr}"),
        state,
        clock,
        resolver,
        data_dir,
        api_key: demo.api_key.expose_secret().to_owned(),
        tenant_id: demo.tenant.id.to_string(),
        company_id: demo.company.id.to_string(),
        link_url: demo.link_url,
        manage_url: demo.manage_url,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        sandbox,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

/// An app on PostgreSQL: a [`TestApp`] (it derefs to one) and its database, which is dropped
/// after the last instance using it.
pub struct PgTestApp {
    pub app: TestApp,
    pub db: Arc<accord_store_postgres::testing::TestDatabase>,
}

impl std::ops::Deref for PgTestApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// The settings of a test instance on `db`: a small pool (many test databases live at once).
fn postgres_settings(db: &accord_store_postgres::testing::TestDatabase) -> Vec<(&str, &str)> {
    vec![("database.url", db.url()), ("database.pool_size", "6")]
}

/// `spawn_app()` on a fresh PostgreSQL database. `None`, after a note, when
/// `ACCORD_TEST_POSTGRES_URL` is unset: the caller returns early and `cargo test` needs no
/// PostgreSQL.
pub async fn spawn_app_on_postgres() -> Option<PgTestApp> {
    spawn_app_on_postgres_with(&[]).await
}

/// [`spawn_app_on_postgres`] with extra settings.
pub async fn spawn_app_on_postgres_with(extra: &[(&str, &str)]) -> Option<PgTestApp> {
    let db = Arc::new(accord_store_postgres::testing::TestDatabase::create().await?);
    let mut settings = postgres_settings(&db);
    settings.extend_from_slice(extra);
    let app = spawn_app_with(&settings, None).await;
    Some(PgTestApp { app, db })
}

/// Another instance of `first`'s deployment, as a second `accord serve` behind the same load
/// balancer: the same database, a copy of its key file, its clock, and its public URL (the
/// first instance's address stands in for the load balancer's, so links and redirect URIs are
/// the same whichever instance made them). It serves on its own port; requests reach it when
/// sent to its `base`.
pub async fn spawn_instance_like(first: &PgTestApp) -> PgTestApp {
    spawn_instance_like_with(first, &[]).await
}

/// [`spawn_instance_like`] with extra settings.
pub async fn spawn_instance_like_with(first: &PgTestApp, more: &[(&str, &str)]) -> PgTestApp {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("keys.toml");
    // `copy` keeps the 0600 mode Accord insists on.
    std::fs::copy(first.data_dir.path().join("keys.toml"), &key_file).expect("copy the key file");
    let key_path = key_file.display().to_string();
    let mut extra = postgres_settings(&first.db);
    extra.push(("keys.file", &key_path));
    extra.push(("server.public_url", &first.base));
    extra.extend_from_slice(more);
    // The key file is read once, while the instance builds; its directory may go afterwards.
    let mut app = spawn_app_with(&extra, Some(first.clock.clone())).await;
    app.link_url = app.link_url.replace(&first.base, &app.base);
    app.manage_url = app.manage_url.replace(&first.base, &app.base);
    PgTestApp {
        app,
        db: Arc::clone(&first.db),
    }
}
