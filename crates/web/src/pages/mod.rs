//! The HTML surfaces: the hosted flow (`/link/...`) and the manage page (`/manage/...`), with
//! their own middleware (CSP nonces and headers, language cookie, error pages). Sessions are
//! cookies; every form carries a CSRF token, checked before its handler runs (`form`).

pub mod access_log;
pub mod brand;
pub mod ctx;
pub mod embed;
pub mod error;
pub mod exit;
pub mod form;
pub mod info;
pub mod link;
pub mod manage;
pub mod nda;
pub mod organisation;
pub mod receipts;
pub mod reconsent;
pub mod support;
pub mod templates;

use crate::state::AppState;
use accord_domain::locale::Locale;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

/// The page routes, in one table. A route that changes something (a form post) is added with
/// [`PageRoutes::form`] or [`PageRoutes::page_and_form`], which accept only a handler whose last
/// extractor checks the CSRF token ([`form::LinkForm`] or [`form::ManageForm`]); the table has
/// no other way to add a POST, so a post handler without the check does not compile.
pub struct PageRoutes {
    router: Router<AppState>,
    forms: Vec<&'static str>,
}

/// The extractor list of a handler (axum's `Handler<T, _>` type parameter: a marker, then each
/// extractor) whose last extractor checks the CSRF token.
pub trait EndsInCheckedForm {}

macro_rules! ends_in_checked_form {
    ($($ty:ident),*) => {
        impl<M, $($ty,)* Last: form::CsrfChecked> EndsInCheckedForm for (M, $($ty,)* Last,) {}
    };
}
ends_in_checked_form!();
ends_in_checked_form!(T1);
ends_in_checked_form!(T1, T2);
ends_in_checked_form!(T1, T2, T3);
ends_in_checked_form!(T1, T2, T3, T4);
ends_in_checked_form!(T1, T2, T3, T4, T5);
ends_in_checked_form!(T1, T2, T3, T4, T5, T6);

impl PageRoutes {
    fn new() -> Self {
        Self {
            router: Router::new(),
            forms: Vec::new(),
        }
    }

    /// A page read with GET.
    fn page<H, T>(mut self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, get(handler));
        self
    }

    /// A form post only.
    fn form<H, T>(mut self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: EndsInCheckedForm + 'static,
    {
        self.router = self.router.route(path, post(handler));
        self.forms.push(path);
        self
    }

    /// A page and the form it posts to itself.
    fn page_and_form<G, GT, P, PT>(mut self, path: &'static str, show: G, submit: P) -> Self
    where
        G: Handler<GT, AppState>,
        GT: 'static,
        P: Handler<PT, AppState>,
        PT: EndsInCheckedForm + 'static,
    {
        self.router = self.router.route(path, get(show).post(submit));
        self.forms.push(path);
        self
    }

    /// The paths that take a form post, as registered (with their `{param}` placeholders).
    pub fn form_paths(&self) -> &[&'static str] {
        &self.forms
    }
}

/// Every page route of the hosted flow and the manage page.
pub fn routes() -> PageRoutes {
    PageRoutes::new()
        .page("/link/{token}", link::open)
        .page("/link/start", link::landing)
        .page("/link/platforms", link::select)
        .page_and_form(
            "/link/platforms/{key}/consent",
            link::consent,
            link::consent_submit,
        )
        .page("/link/callback/{key}", link::callback)
        .page("/link/connections/{id}", link::success)
        .form("/link/connections/{id}/retry", link::retry)
        .form("/link/connections/{id}/organisation", organisation::answer)
        .page_and_form(
            "/link/connections/{id}/reconsent",
            reconsent::link_show,
            reconsent::link_submit,
        )
        .page("/link/connections/{id}/reconsented", reconsent::link_done)
        .page_and_form("/link/nda", nda::show, nda::submit)
        .page("/link/nda/{file}", nda::link_file)
        .page("/manage/nda/{file}", nda::manage_file)
        .form("/link/manage", link::to_manage)
        .page("/link/finish", link::finish)
        .page_and_form("/link/exit", exit::show, exit::confirm)
        .page_and_form("/link/support", support::link_form, support::link_submit)
        .page("/manage", manage::index)
        .page("/manage/{token}", manage::open)
        .page("/manage/return/{token}", manage::open_personal)
        .page_and_form(
            "/manage/connections/{id}/disconnect",
            manage::confirm,
            manage::disconnect,
        )
        .form("/manage/connections/{id}/reconnect", manage::reconnect)
        .page("/manage/connections/{id}/access-log.csv", access_log::csv)
        .page_and_form(
            "/manage/connections/{id}/reconsent",
            reconsent::manage_show,
            reconsent::manage_submit,
        )
        .page(
            "/manage/connections/{id}/reconsented",
            reconsent::manage_done,
        )
        .page_and_form(
            "/manage/support",
            support::manage_form,
            support::manage_submit,
        )
        .page("/link/receipts/{id}", receipts::link_page)
        .page("/link/receipts/{id}/{file}", receipts::link_download)
        .page("/manage/receipts/{id}", receipts::manage_page)
        .page("/manage/receipts/{id}/{file}", receipts::manage_download)
        .page("/guide", info::guide)
        .page("/privacy", info::privacy)
        .page("/favicon.ico", info::favicon)
        .page("/assets/accord.css", info::css)
        .page("/assets/accord.js", info::js)
        .page("/assets/embed.js", info::embed_js)
        .page("/assets/marks/{file}", info::mark)
        .page("/brand/{tenant}/logo", brand::logo)
}

pub fn router(state: AppState) -> Router<AppState> {
    routes()
        .router
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), limit_posts))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::render_errors,
        ))
        .layer(middleware::from_fn(remember_language))
        .layer(middleware::from_fn_with_state(state, embed::bridge))
        .layer(middleware::from_fn(crate::security::page_headers))
}

/// `?lang=fr` from the language switch is remembered in a cookie, so the next pages keep it.
pub(crate) async fn remember_language(req: Request, next: Next) -> Response {
    let chosen = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "lang")
            .and_then(|(_, v)| v.parse::<Locale>().ok())
    });
    let mut res = next.run(req).await;
    if let Some(l) = chosen {
        let c = cookie::Cookie::build((ctx::LANG_COOKIE, l.as_str()))
            .path("/")
            .same_site(cookie::SameSite::Lax)
            .http_only(true)
            .max_age(cookie::time::Duration::days(365))
            .build();
        if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// Every form post of the flow and manage pages counts against its client IP's limit; over it,
/// the friendly 429 page (rendered by `render_errors`) and the handler never runs.
async fn limit_posts(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    if parts.method == axum::http::Method::POST {
        if let Some(ip) = form::client_ip(&parts, &state.config.trusted_proxies) {
            if let Err(limited) = state.limits.post(ip) {
                tracing::info!(
                    retry_after = limited.retry_after_secs,
                    "form post refused: rate limit"
                );
                return error::too_many(limited.retry_after_secs);
            }
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Unknown URLs get the friendly 404 page with the security headers.
async fn not_found() -> error::PageError {
    error::PageError::new(error::PageErrorKind::NotFound)
}

#[cfg(test)]
mod tests {
    /// Every state-changing page route, as the table registers it. Each was added through
    /// `PageRoutes::form` or `page_and_form`, so its handler takes `LinkForm` or `ManageForm`
    /// (checked by the compiler); a route added or removed here is a deliberate change. The HTTP
    /// suite posts to each without a token (`every_form_route_refuses_a_post_without_its_csrf_token`).
    #[test]
    fn the_form_routes_are_the_flow_and_manage_posts() {
        let routes = super::routes();
        let mut paths = routes.form_paths().to_vec();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "/link/connections/{id}/organisation",
                "/link/connections/{id}/reconsent",
                "/link/connections/{id}/retry",
                "/link/exit",
                "/link/manage",
                "/link/nda",
                "/link/platforms/{key}/consent",
                "/link/support",
                "/manage/connections/{id}/disconnect",
                "/manage/connections/{id}/reconnect",
                "/manage/connections/{id}/reconsent",
                "/manage/support",
            ]
        );
        for path in paths {
            assert!(
                path.starts_with("/link/") || path.starts_with("/manage/"),
                "{path}: the API and the sandbox have their own routers"
            );
        }
    }
}
