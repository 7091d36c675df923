//! Build your own UI: everything the hosted flow's pages do, as JSON for the tenant's own
//! pages — the platforms offered to a company, the notice rendered with its version id and
//! text hash, recording the consent the tenant's UI collected (the same ledger event and
//! receipt as the hosted flow), and starting the platform authorization (`state` and PKCE kept
//! by Accord; the callback returns the customer to the tenant's return URL).

use crate::api::companies::own_company;
use crate::api::dto::DataUseDto;
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::error::{ApiError, Problem, Resource};
use crate::services::byo;
use crate::services::connect::{self, ConsentAction};
use crate::state::AppState;
use accord_domain::catalog::{Category, Platform};
use accord_domain::connection::ConnectionStatus;
use accord_domain::consent::{ConsentEvidence, ConsentMethod};
use accord_domain::ids::ConnectionId;
use accord_domain::locale::Locale;
use accord_domain::tenant::Tenant;
use accord_domain::validate::{text_field, FieldError, Invalid};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkDto {
    /// One to three characters drawn on `background`.
    pub monogram: String,
    /// `#RRGGBB`.
    pub background: String,
    pub foreground: String,
    /// The mark as SVG.
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionRef {
    pub id: Uuid,
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferedPlatform {
    pub key: String,
    pub name: String,
    /// `accounting`, `banking` or `commerce`.
    pub category: String,
    pub mark: MarkDto,
    /// This company's latest connection to the platform, if any.
    pub connection: Option<ConnectionRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferedPlatformList {
    pub data: Vec<OfferedPlatform>,
}

/// The platforms this company can connect (those you enabled), with names and marks.
#[utoipa::path(get, path = "/v1/companies/{company_id}/platforms", operation_id = "list_company_platforms", tag = "build-your-own",
    params(("company_id" = Uuid, Path)), responses((status = 200, body = OfferedPlatformList), (status = 404, body = Problem)))]
pub async fn platforms(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
) -> Result<Json<OfferedPlatformList>, ApiError> {
    let company = own_company(&state, &tenant, company_id).await?;
    let connections = state
        .connections()
        .company_connections(tenant.id, company.id)
        .await?;
    let data = byo::offered_platforms(&state, tenant.id)
        .await?
        .into_iter()
        .map(|p| OfferedPlatform {
            connection: connections
                .iter()
                .filter(|c| c.platform_key == p.key)
                .max_by_key(|c| c.updated_at)
                .map(|c| ConnectionRef {
                    id: c.id.0,
                    status: c.status.as_str().to_owned(),
                }),
            mark: MarkDto {
                url: state
                    .config
                    .url(&format!("/assets/marks/{}.svg", p.key.as_str())),
                monogram: p.mark.monogram.clone(),
                background: p.mark.background.clone(),
                foreground: p.mark.foreground.clone(),
            },
            key: p.key.to_string(),
            name: p.name.clone(),
            category: p.category.to_string(),
        })
        .collect();
    Ok(Json(OfferedPlatformList { data }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RenderQuery {
    /// The platform key (`sandbox`, `xero`…).
    #[param(required = true)]
    platform: Option<String>,
    /// Optional; when given it must be the platform's category.
    category: Option<String>,
    /// `en` or `fr` (default `en`).
    #[param(pattern = "^(en|fr)$")]
    locale: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RenderedNoticeDto {
    pub notice_version_id: Uuid,
    pub notice_version: i64,
    pub category: String,
    pub platform: String,
    /// The language the text is rendered in.
    pub locale: String,
    pub heading: String,
    pub purpose: String,
    pub data_uses: Vec<DataUseDto>,
    /// The exact text to show the customer; record the consent with its hash.
    pub text: String,
    /// SHA-256 (hex) of `text`: send it as `notice_sha256` when you record the consent (the
    /// consent keeps it under the same name).
    pub notice_sha256: String,
    /// The same value as `notice_sha256`, under its former name; removed in the next release.
    #[schema(deprecated)]
    pub text_hash: String,
}

/// A platform this tenant offers, or 422 on `path`.
async fn offered(state: &AppState, tenant: &Tenant, key: &str) -> Result<Platform, ApiError> {
    byo::offered_platforms(state, tenant.id)
        .await?
        .into_iter()
        .find(|p| p.key.as_str() == key)
        .ok_or_else(|| ApiError::invalid("platform", "is not a platform you enabled"))
}

fn parse_locale(raw: Option<&str>, invalid: &mut Invalid) -> Locale {
    match raw {
        Some(l) => l
            .parse::<Locale>()
            .map_err(|m| invalid.push(FieldError::new("locale", m)))
            .unwrap_or_default(),
        None => Locale::En,
    }
}

fn check_category(raw: Option<&str>, platform: &Platform, invalid: &mut Invalid) {
    if let Some(c) = raw {
        match c.parse::<Category>() {
            Ok(c) if c == platform.category => {}
            Ok(_) => invalid.push(FieldError::new(
                "category",
                format!("the platform is in `{}`", platform.category),
            )),
            Err(e) => invalid.push(FieldError::new("category", e.to_string())),
        }
    }
}

/// The notice to show for a platform (its category's notice in force) in a language: the same
/// text, version and hash the hosted flow shows.
#[utoipa::path(get, path = "/v1/notices/render", operation_id = "render_notice", tag = "build-your-own",
    params(RenderQuery), responses((status = 200, body = RenderedNoticeDto), (status = 422, body = Problem)))]
pub async fn render(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiQuery(q): ApiQuery<RenderQuery>,
) -> Result<Json<RenderedNoticeDto>, ApiError> {
    let mut invalid = Invalid::default();
    let locale = parse_locale(q.locale.as_deref(), &mut invalid);
    let Some(key) = q.platform.as_deref() else {
        invalid.push(FieldError::new("platform", "is required"));
        return Err(invalid.into());
    };
    let platform = offered(&state, &tenant, key).await?;
    check_category(q.category.as_deref(), &platform, &mut invalid);
    invalid.into_result()?;
    let (version, view, rendered) = byo::render_notice(&state, &tenant, &platform, locale)
        .await?
        .ok_or_else(|| {
            ApiError::invalid("platform", "no notice covers what this platform shares")
        })?;
    Ok(Json(RenderedNoticeDto {
        notice_version_id: version.id.0,
        notice_version: version.version,
        category: platform.category.to_string(),
        platform: platform.key.to_string(),
        locale: locale.to_string(),
        heading: view.heading.clone(),
        purpose: view.purpose.clone(),
        data_uses: view.data_uses.iter().map(DataUseDto::from).collect(),
        text: rendered.text,
        text_hash: rendered.sha256.clone(),
        notice_sha256: rendered.sha256,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordConsent {
    pub platform: String,
    /// Optional; when given it must be the platform's category.
    pub category: Option<String>,
    /// The language the customer read the notice in (`en` or `fr`).
    pub locale: String,
    /// `notice_version_id` of the rendered notice you showed.
    pub notice_version_id: Uuid,
    /// `notice_sha256` of the rendered notice you showed. Required (or, for one more release,
    /// its former name `text_hash`).
    pub notice_sha256: Option<String>,
    /// The former name of `notice_sha256`, still accepted for one release; send one of the two.
    #[schema(deprecated)]
    pub text_hash: Option<String>,
    /// The customer ticked an unticked box (or took an equally explicit action) themselves.
    pub checkbox_ticked: bool,
    /// The customer's IP address as your server saw it.
    pub ip: Option<String>,
    /// The customer's browser user agent.
    pub user_agent: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedConsent {
    pub consent_id: Uuid,
    pub connection_id: Uuid,
    /// `pending_auth` until the customer signs in at the platform.
    pub connection_status: String,
    pub notice_version_id: Uuid,
    /// SHA-256 (hex) of the notice text the customer agreed to.
    pub notice_sha256: String,
    /// The same value as `notice_sha256`, under its former name; removed in the next release.
    #[schema(deprecated)]
    pub text_hash: String,
    /// The signed receipt (JWS) of this consent.
    pub receipt_url: String,
}

/// The notice hash sent, under its name or its former one (`text_hash`, deprecated).
fn sent_hash(body: &RecordConsent, invalid: &mut Invalid) -> String {
    match (body.notice_sha256.as_deref(), body.text_hash.as_deref()) {
        (Some(h), None) | (None, Some(h)) => h.to_owned(),
        (Some(h), Some(old)) if h == old => h.to_owned(),
        (Some(h), Some(_)) => {
            invalid.push(FieldError::new(
                "text_hash",
                "differs from `notice_sha256`; send only `notice_sha256` (`text_hash` is its deprecated former name)",
            ));
            h.to_owned()
        }
        (None, None) => {
            invalid.push(FieldError::new(
                "notice_sha256",
                "is required: send the `notice_sha256` of the rendered notice you showed",
            ));
            String::new()
        }
    }
}

/// The notice the tenant says it showed.
struct Shown<'a> {
    version_id: Uuid,
    sha256: &'a str,
}

/// The 409 when the notice shown is not the one in force in the consent's language, saying
/// what to do: the tenant rendered it in another language, or the notice changed since.
async fn not_in_force(
    state: &AppState,
    tenant: &Tenant,
    platform: &Platform,
    locale: Locale,
    shown: &Shown<'_>,
    in_force: &accord_domain::notice::NoticeVersion,
) -> ApiError {
    for other in Locale::ALL.into_iter().filter(|l| *l != locale) {
        let Ok(Some((v, _, r))) = byo::render_notice(state, tenant, platform, other).await else {
            continue;
        };
        // The version may be shared by both languages (one falls back to the other); the hash
        // of the text, rendered in one language, tells which one was shown.
        if r.sha256 == shown.sha256 && v.id.0 == shown.version_id {
            return ApiError::Conflict(format!(
                "the notice was rendered in another language (`{other}`) than the one the consent names (`{locale}`): render it in `{locale}` and send that hash (GET /v1/notices/render?platform={key}&locale={locale}), after showing the customer that text; nothing was recorded",
                key = platform.key,
            ));
        }
    }
    if shown.version_id != in_force.id.0 {
        return ApiError::Conflict(format!(
            "the notice version is not the one in force (now version {} with id `{}`): render the notice again (GET /v1/notices/render?platform={}&locale={locale}) and show the customer the current text; nothing was recorded",
            in_force.version, in_force.id.0, platform.key,
        ));
    }
    ApiError::Conflict(format!(
        "`notice_sha256` is not the hash of the notice in force as rendered in `{locale}`: render the notice again (GET /v1/notices/render?platform={}&locale={locale}), show the customer that text and send its `notice_sha256` unchanged; nothing was recorded",
        platform.key,
    ))
}

/// Record a consent your own UI collected. The notice version and text hash must be those in
/// force now for this platform and language (else 409: render it again and show the customer
/// the current text). Writes the same connection, consent and ledger event as the hosted flow.
#[utoipa::path(post, path = "/v1/companies/{company_id}/consents", operation_id = "record_consent", tag = "build-your-own",
    params(("company_id" = Uuid, Path)), request_body = RecordConsent,
    responses((status = 201, body = RecordedConsent), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn record_consent(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RecordConsent>,
) -> Result<(StatusCode, Json<RecordedConsent>), ApiError> {
    let company = own_company(&state, &tenant, company_id).await?;
    let platform = offered(&state, &tenant, &body.platform).await?;
    let mut invalid = Invalid::default();
    let locale = parse_locale(Some(&body.locale), &mut invalid);
    check_category(body.category.as_deref(), &platform, &mut invalid);
    if !body.checkbox_ticked {
        invalid.push(FieldError::new(
            "checkbox_ticked",
            "Accord records only an explicit agreement: the customer ticks the box themselves",
        ));
    }
    let ip = body.ip.as_deref().and_then(|ip| {
        let parsed = ip.trim().parse::<std::net::IpAddr>().ok();
        if parsed.is_none() {
            invalid.push(FieldError::new("ip", "must be an IPv4 or IPv6 address"));
        }
        parsed.map(|a| a.to_string())
    });
    let user_agent = match body.user_agent.as_deref() {
        Some(ua) => text_field("user_agent", ua, 512)
            .map_err(|e| invalid.push(e))
            .ok(),
        None => None,
    };
    let sent_hash = sent_hash(&body, &mut invalid);
    invalid.into_result()?;
    let (version, view, rendered) = byo::render_notice(&state, &tenant, &platform, locale)
        .await?
        .ok_or_else(|| {
            ApiError::invalid("platform", "no notice covers what this platform shares")
        })?;
    if body.notice_version_id != version.id.0 || sent_hash != rendered.sha256 {
        let shown = Shown {
            version_id: body.notice_version_id,
            sha256: &sent_hash,
        };
        return Err(not_in_force(&state, &tenant, &platform, locale, &shown, &version).await);
    }
    let notice_sha256 = rendered.sha256.clone();
    let action = ConsentAction {
        tenant: tenant.id,
        company: company.id,
        platform: &platform,
        version: &version,
        view: &view,
        rendered,
        locale,
        evidence: ConsentEvidence {
            method: ConsentMethod::TenantApi,
            checkbox_ticked: true,
            ip,
            user_agent,
        },
    };
    let (connection_id, consent_id) = connect::consent_only(&state, action)
        .await
        .map_err(ApiError::from_service)?;
    Ok((
        StatusCode::CREATED,
        Json(RecordedConsent {
            consent_id: consent_id.0,
            connection_id: connection_id.0,
            connection_status: ConnectionStatus::PendingAuth.as_str().to_owned(),
            notice_version_id: version.id.0,
            text_hash: notice_sha256.clone(),
            notice_sha256,
            receipt_url: state
                .config
                .url(&format!("/v1/consents/{consent_id}/receipt")),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartAuthorization {
    /// The connection of the consent you recorded (status `pending_auth`).
    pub connection_id: Uuid,
    /// Where Accord sends the customer after the platform: exactly one of the link settings'
    /// `integration.return_urls`, with `companyId`, `connectionId`, `platform`, `status` and
    /// `errorCode` added to its query.
    pub return_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Authorization {
    /// Send the customer's browser here (the platform's sign-in). Works once, until
    /// `expires_at`.
    pub authorization_url: String,
    pub connection_id: Uuid,
    /// When `authorization_url` stops working: 10 minutes after the authorization was started.
    /// A customer who signs in later comes back to an error page; start a new authorization.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Start the platform sign-in for a connection whose consent you recorded. Accord keeps the
/// `state` and the PKCE verifier; the platform returns the customer to Accord, which finishes
/// the authorization and sends the customer to your return URL.
#[utoipa::path(post, path = "/v1/companies/{company_id}/authorizations", operation_id = "start_authorization", tag = "build-your-own",
    params(("company_id" = Uuid, Path)), request_body = StartAuthorization,
    responses((status = 201, body = Authorization), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn authorize(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<StartAuthorization>,
) -> Result<(StatusCode, Json<Authorization>), ApiError> {
    let company = own_company(&state, &tenant, company_id).await?;
    let connection = state
        .connections()
        .connection(tenant.id, ConnectionId(body.connection_id))
        .await?
        .filter(|c| c.company_id == company.id)
        .ok_or(ApiError::NotFound(Resource::Connection))?;
    let Some(return_url) = tenant.settings.integration.return_url(&body.return_url) else {
        return Err(ApiError::invalid(
            "return_url",
            "must be exactly one of your allowed return URLs (link settings `integration.return_urls`)",
        ));
    };
    if connection.status != ConnectionStatus::PendingAuth || connection.consent_id.is_none() {
        return Err(ApiError::Conflict(format!(
            "the connection is `{}`, not `pending_auth` with a recorded consent: record a consent first (POST /v1/companies/{}/consents), then start the authorization with the `connection_id` it returns",
            connection.status.as_str(),
            company.id,
        )));
    }
    let platform = offered(&state, &tenant, connection.platform_key.as_str()).await?;
    let (url, expires_at) = byo::authorize(&state, company.id, &connection, &platform, return_url)
        .await
        .map_err(ApiError::from_service)?;
    Ok((
        StatusCode::CREATED,
        Json(Authorization {
            authorization_url: url,
            connection_id: connection.id.0,
            expires_at,
        }),
    ))
}
