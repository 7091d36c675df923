//! The load generator's browser: one reqwest client per in-flight slot (its connections kept
//! alive, as a browser keeps them), with a cookie store that starts empty for every flow, so
//! each flow is a new visitor. Redirects are not followed by reqwest: the flows follow each one
//! themselves, so every hop is timed as a step.

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderValue;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A cookie store whose jar is replaced at the start of each flow: a fresh cookie store per
/// flow without building a client (and its TLS configuration) per flow, which would cost the
/// load generator more CPU than some of the steps it measures.
#[derive(Default)]
pub struct FlowCookies(Mutex<Arc<Jar>>);

impl FlowCookies {
    pub fn reset(&self) {
        *self.0.lock().expect("cookie jar lock") = Arc::new(Jar::default());
    }

    fn jar(&self) -> Arc<Jar> {
        self.0.lock().expect("cookie jar lock").clone()
    }
}

impl CookieStore for FlowCookies {
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &HeaderValue>, url: &url::Url) {
        self.jar().set_cookies(headers, url);
    }

    fn cookies(&self, url: &url::Url) -> Option<HeaderValue> {
        self.jar().cookies(url)
    }
}

/// One response, read to the end.
pub struct Page {
    pub status: u16,
    pub location: String,
    pub body: String,
}

/// A browser of one in-flight slot, and the step timings of the flow it is running.
pub struct Browser {
    pub client: reqwest::Client,
    cookies: Arc<FlowCookies>,
    pub base: String,
    /// (step, time) of the current flow, in order.
    pub steps: Vec<(&'static str, Duration)>,
}

impl Browser {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let cookies = Arc::new(FlowCookies::default());
        let client = reqwest::Client::builder()
            .cookie_provider(cookies.clone())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Mozilla/5.0 (accord-flow load generator)")
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            client,
            cookies,
            base: base.trim_end_matches('/').to_owned(),
            steps: Vec::with_capacity(16),
        })
    }

    /// A new visitor: no cookies, no step timings.
    pub fn start_flow(&mut self) {
        self.cookies.reset();
        self.steps.clear();
    }

    pub fn abs(&self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        }
    }

    /// Sends `req`, reads the whole body and records the time under `step`.
    pub async fn send(
        &mut self,
        step: &'static str,
        req: reqwest::RequestBuilder,
    ) -> anyhow::Result<Page> {
        let started = Instant::now();
        let res = req.send().await?;
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = res.text().await?;
        self.steps.push((step, started.elapsed()));
        Ok(Page {
            status,
            location,
            body,
        })
    }

    pub async fn get(&mut self, step: &'static str, url: &str) -> anyhow::Result<Page> {
        let req = self.client.get(self.abs(url));
        self.send(step, req).await
    }

    /// A form post as a browser sends it: urlencoded, with the page's origin.
    pub async fn post_form(
        &mut self,
        step: &'static str,
        url: &str,
        fields: &[(String, String)],
    ) -> anyhow::Result<Page> {
        let url = self.abs(url);
        let origin = url::Url::parse(&url)?.origin().ascii_serialization();
        let req = self
            .client
            .post(url)
            .header(reqwest::header::ORIGIN, origin)
            .form(fields);
        self.send(step, req).await
    }
}

/// Fails the flow unless the response has `want` as its status.
pub fn expect(page: &Page, want: u16, what: &str) -> anyhow::Result<()> {
    if page.status == want {
        return Ok(());
    }
    let mut body = page.body.clone();
    body.truncate(300);
    anyhow::bail!("{what}: status {} (wanted {want}): {body}", page.status)
}
