//! The test harness: `spawn_app()` builds the real application on `127.0.0.1:0` with a fresh
//! SQLite database in a temporary directory, the in-process sandbox, an injected clock and the
//! demo tenant; `Browser` is a cookie-keeping client that does not follow redirects, so each
//! step of the flow is observed.

use accord::config::{Overrides, Settings};
use accord::Application;
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
    pub data_dir: TempDir,
    pub api_key: String,
    pub tenant_id: String,
    pub company_id: String,
    pub link_url: String,
    pub manage_url: String,
    pub http: reqwest::Client,
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
    init_logs();
    let data_dir = tempfile::tempdir().unwrap();
    let mut o = Overrides::default();
    o.set("server.listen", "127.0.0.1:0");
    o.set("server.public_url", "");
    o.set("server.allow_http_localhost", true);
    o.set("sandbox.mount", true);
    o.set("database.data_dir", data_dir.path().display().to_string());
    o.set("worker.poll_secs", 1);
    let settings = Settings::load(None, &[], &o).expect("test settings are valid");
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    let app = Application::build(&settings, Arc::new(clock.clone())).await.expect("app builds");
    let demo = accord::demo::ensure(app.state()).await.expect("demo data");
    let addr = app.local_addr();
    let state = app.state().clone();
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
        data_dir,
        api_key: demo.api_key.expose_secret().to_owned(),
        tenant_id: demo.tenant.id.to_string(),
        company_id: demo.company.id.to_string(),
        link_url: demo.link_url,
        manage_url: demo.manage_url,
        http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A tenant API request with this app's API key.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(&self.api_key)
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
        self.headers.get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }

    pub fn doc(&self) -> Html {
        Html::parse_document(&self.body)
    }

    /// Text content of everything matching `css`.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let doc = self.doc();
        let sel = Selector::parse(css).unwrap();
        doc.select(&sel).map(|e| e.text().collect::<String>()).collect()
    }

    /// The named fields (hidden and visible inputs with values) of the form matching `css`.
    pub fn form(&self, css: &str) -> (String, BTreeMap<String, String>) {
        let doc = self.doc();
        let form_sel = Selector::parse(css).unwrap();
        let form = doc.select(&form_sel).next().unwrap_or_else(|| panic!("no form {css} in:\n{}", self.body));
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
                fields.insert(name.to_owned(), v.attr("value").unwrap_or_default().to_owned());
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
        Self { client, base: base.to_owned() }
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

    pub async fn post_with(&self, url: &str, fields: &BTreeMap<String, String>, headers: &[(&str, &str)]) -> Page {
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
        Page { status, headers, body, url }
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
    pub async fn sandbox_decide(&self, authorize_url: &str, organisation: &str, approve: bool) -> Page {
        let page = self.get(authorize_url).await;
        assert_eq!(page.status, 200, "sandbox sign-in page: {}", page.body);
        let (action, mut fields) = page.form("form");
        fields.insert("organisation".into(), organisation.into());
        fields.insert("decision".into(), if approve { "approve" } else { "deny" }.into());
        let action = if action.starts_with('/') { action } else { format!("/sandbox/oauth/{action}") };
        self.post(&action, &fields).await
    }

    /// From a consent page: tick (or not) and press Connect. Returns the response (a redirect
    /// to the platform on success).
    pub async fn consent(&self, platform: &str, tick: bool) -> Page {
        let page = self.get(&format!("/link/platforms/{platform}/consent")).await;
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
        assert_eq!(to_platform.status, 303, "consent accepted: {}", to_platform.body);
        let callback = self.sandbox_decide(&to_platform.location(), "Bluebell", true).await;
        assert_eq!(callback.status, 303, "sandbox approves: {}", callback.body);
        let done = self.get(&callback.location()).await;
        assert_eq!(done.status, 303, "callback accepted: {}", done.body);
        let success = self.get(&done.location()).await;
        assert_eq!(success.status, 200, "success page: {}", success.body);
        success
    }
}
