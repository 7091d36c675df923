//! The tenant console (`/console`): the lender's team signs in and runs Accord from a browser.
//! Server-rendered like the flow (no script needed, the same nonce CSP and security headers, no
//! third-party request), in English and French.
//!
//! Every route is declared once, in [`routes`], with the least role it needs (or none, for the
//! sign-in and set-password pages). The table wraps each signed-in route in [`session::require`],
//! which loads the session from its cookie, ends it after 30 minutes idle or 12 hours in all,
//! and answers 403 to a role below the route's; a handler cannot be added without a role, and a
//! form post cannot be added without the CSRF-checking extractor as its last argument (the
//! compiler refuses it, as for the flow's forms).

pub mod account;
pub mod audit;
pub mod auth;
pub mod companies;
pub mod error;
pub mod keys;
pub mod ledger;
pub mod notice_draft;
pub mod notices;
pub mod overview;
pub mod people;
pub mod platforms;
pub mod receipts;
pub mod session;
pub mod settings;
pub mod settings_form;
pub mod settings_preview;
pub mod support;
pub mod view;
pub mod webhooks;

use crate::state::AppState;
use accord_domain::console::Role;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::{header, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;

/// One route of the console, as the table registers it: the walk in the HTTP suite visits each
/// as every role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: Method,
    pub path: &'static str,
    /// The least role allowed; `None` for the pages reached signed out.
    pub role: Option<Role>,
}

/// The console's routes, in one table (see the module's documentation).
pub struct ConsoleRoutes {
    router: Router<AppState>,
    table: Vec<RouteInfo>,
    state: AppState,
}

/// The extractor list of a handler (axum's `Handler<T, _>` parameter: a marker, then each
/// extractor) whose last extractor checks the CSRF token.
pub trait EndsInCheckedForm {}

macro_rules! ends_in_checked_form {
    ($($ty:ident),*) => {
        impl<M, $($ty,)* Last: session::CsrfChecked> EndsInCheckedForm for (M, $($ty,)* Last,) {}
    };
}
ends_in_checked_form!();
ends_in_checked_form!(T1);
ends_in_checked_form!(T1, T2);
ends_in_checked_form!(T1, T2, T3);
ends_in_checked_form!(T1, T2, T3, T4);

impl ConsoleRoutes {
    fn new(state: AppState) -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
            state,
        }
    }

    fn add(
        mut self,
        method: Method,
        path: &'static str,
        role: Option<Role>,
        r: MethodRouter<AppState>,
    ) -> Self {
        let r = match role {
            Some(role) => r.route_layer(middleware::from_fn_with_state(
                (self.state.clone(), role),
                session::require,
            )),
            None => r,
        };
        self.router = self.router.route(path, r);
        self.table.push(RouteInfo { method, path, role });
        self
    }

    /// A page reached signed out (sign-in, set-password).
    fn open_page<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::GET, path, None, get(handler))
    }

    /// A form posted signed out; its last extractor checks the pre-session CSRF token.
    fn open_form<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: EndsInCheckedForm + 'static,
    {
        self.add(Method::POST, path, None, post(handler))
    }

    /// A page for `role` and above.
    fn page<H, T>(self, role: Role, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::GET, path, Some(role), get(handler))
    }

    /// A form post for `role` and above.
    fn form<H, T>(self, role: Role, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: EndsInCheckedForm + 'static,
    {
        self.add(Method::POST, path, Some(role), post(handler))
    }

    /// Every route, as registered (with its `{param}` placeholders).
    pub fn table(&self) -> &[RouteInfo] {
        &self.table
    }
}

/// Every route of the console. Viewers look; admins act on the tenant's data and settings and
/// invite viewers and admins; owners also manage people's roles and the other owners.
pub fn routes(state: &AppState) -> ConsoleRoutes {
    use Role::{Admin, Owner, Viewer};
    ConsoleRoutes::new(state.clone())
        .open_page("/console/sign-in", auth::sign_in_page)
        .open_form("/console/sign-in", auth::sign_in)
        .open_page("/console/set-password/{token}", auth::open_link)
        .open_page("/console/set-password", auth::set_password_page)
        .open_form("/console/set-password", auth::set_password)
        .form(Viewer, "/console/sign-out", auth::sign_out)
        .page(Viewer, "/console", overview::show)
        .page(Viewer, "/console/account", account::show)
        .form(Viewer, "/console/account/totp", account::enable_totp)
        .form(Viewer, "/console/account/totp/off", account::disable_totp)
        .form(
            Viewer,
            "/console/account/sessions/end-others",
            account::end_other_sessions,
        )
        .page(Viewer, "/console/companies", companies::list)
        .form(Admin, "/console/companies", companies::create)
        .page(Viewer, "/console/companies/{id}", companies::show)
        .page(
            Viewer,
            "/console/companies/{id}/consents/{consent}",
            receipts::show,
        )
        .page(
            Viewer,
            "/console/companies/{id}/consents/{consent}/receipts/{file}",
            receipts::download,
        )
        .form(
            Admin,
            "/console/companies/{id}/link",
            companies::create_link,
        )
        .page(Viewer, "/console/support", support::inbox)
        .form(Admin, "/console/support/{id}/resolve", support::resolve)
        .form(Admin, "/console/support/{id}/reopen", support::reopen)
        .page(Viewer, "/console/platforms", platforms::list)
        .form(Admin, "/console/platforms/{key}", platforms::save)
        .page(Viewer, "/console/webhooks", webhooks::list)
        .form(
            Admin,
            "/console/webhooks/{endpoint}/rotate-secret",
            webhooks::rotate,
        )
        .form(
            Admin,
            "/console/webhooks/{endpoint}/deliveries/{delivery}/replay",
            webhooks::replay,
        )
        .page(Viewer, "/console/notices", notices::list)
        .page(Viewer, "/console/notices/{id}", notices::show)
        .page(Admin, "/console/notices/draft", notice_draft::draft)
        .form(Admin, "/console/notices/review", notice_draft::review)
        .form(Admin, "/console/notices/publish", notice_draft::publish)
        .page(Viewer, "/console/ledger", ledger::show)
        .page(Viewer, "/console/settings", settings::show)
        .form(Admin, "/console/settings", settings::save)
        .form(
            Viewer,
            "/console/settings/preview",
            settings_preview::preview,
        )
        .page(Viewer, "/console/settings/preview", settings_preview::show)
        .page(
            Viewer,
            "/console/settings/preview/frame",
            settings_preview::frame,
        )
        .form(
            Admin,
            "/console/settings/versions/{number}/restore",
            settings::restore,
        )
        .page(Admin, "/console/api-keys", keys::list)
        .form(Admin, "/console/api-keys", keys::create)
        .form(Admin, "/console/api-keys/{id}/revoke", keys::revoke)
        .page(Viewer, "/console/people", people::list)
        .form(Admin, "/console/people", people::invite)
        .form(Owner, "/console/people/{id}/role", people::change_role)
        .form(Owner, "/console/people/{id}/remove", people::remove)
        .form(Admin, "/console/people/{id}/reset", people::reset_link)
        .page(Admin, "/console/audit", audit::list)
        .open_page("/console/assets/console.css", css)
}

/// The console router, with its own middleware: the pages' CSP nonce and headers, the
/// language cookie, the console's error pages and the form-post rate limit.
pub fn router(state: &AppState) -> Router<AppState> {
    routes(state)
        .router
        // The flow's router holds the application's fallback; unknown console paths get the
        // console's own page.
        .route("/console/{*rest}", axum::routing::any(not_found))
        .layer(middleware::from_fn_with_state(state.clone(), limit_posts))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::render_errors,
        ))
        .layer(middleware::from_fn(crate::pages::remember_language))
        .layer(middleware::from_fn(crate::security::page_headers))
}

const CSS: &str = include_str!("../../assets/console.css");

/// The console's own styles, beside the flow's stylesheet (its colours, type and controls).
async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn not_found() -> error::ConsoleError {
    error::ConsoleError::NotFound
}

/// Every console post counts against its client IP's allowance of form posts (the flow's).
async fn limit_posts(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() == Method::POST {
        let (parts, body) = req.into_parts();
        if let Some(ip) = crate::pages::form::client_ip(&parts, &state.config.trusted_proxies) {
            if let Err(limited) = state.limits.post(ip) {
                return error::ConsoleError::TooMany(limited.retry_after_secs).into_response();
            }
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    next.run(req).await
}
