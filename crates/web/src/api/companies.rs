//! Companies, and the link and manage sessions that send one into the hosted pages.

use crate::api::dto::{CompanyDto, CompanyList, SessionUrl};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::error::{ApiError, Problem, Resource};
use crate::state::AppState;
use accord_domain::catalog::Category;
use accord_domain::crypto::{random_token, TokenHash};
use accord_domain::flow::{LinkSession, SessionKind};
use accord_domain::ids::{CompanyId, LinkSessionId};
use accord_domain::locale::Locale;
use accord_domain::tenant::{name_field, Company};
use accord_domain::validate::{text_field, FieldError, Invalid};
use accord_store::Page;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCompany {
    /// The business's name, shown to the customer.
    pub name: String,
    /// Your own reference for this customer; unique among your companies.
    pub external_id: Option<String>,
}

/// Create a company.
#[utoipa::path(post, path = "/v1/companies", operation_id = "create_company", tag = "companies", request_body = CreateCompany,
    responses((status = 201, body = CompanyDto), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiJson(body): ApiJson<CreateCompany>,
) -> Result<(StatusCode, Json<CompanyDto>), ApiError> {
    let mut invalid = Invalid::default();
    let name = name_field("name", &body.name)
        .map_err(|e| invalid.push(e))
        .ok();
    let external_id = match body.external_id.as_deref() {
        Some(x) => text_field("external_id", x, 200)
            .map_err(|e| invalid.push(e))
            .ok(),
        None => None,
    };
    invalid.into_result()?;
    // Stored at microsecond precision: answer with exactly what a later GET returns.
    let now = state.clock.now();
    let created_at = now
        .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now);
    let company = Company {
        id: CompanyId::new(),
        tenant_id: tenant.id,
        name: name.unwrap_or_default(),
        external_id,
        created_at,
    };
    state
        .companies()
        .create_company(&company)
        .await
        .map_err(ApiError::conflict_means(
            "a company with this external_id exists",
        ))?;
    Ok((StatusCode::CREATED, Json(company.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Return companies created after this one (the previous page's `next_cursor`).
    after: Option<Uuid>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// List companies, oldest first.
#[utoipa::path(get, path = "/v1/companies", operation_id = "list_companies", tag = "companies", params(ListQuery),
    responses((status = 200, body = CompanyList), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<CompanyList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    let page = state
        .companies()
        .list_companies(
            tenant.id,
            Page {
                after: q.after.map(CompanyId),
                limit,
            },
        )
        .await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.last().map(|c| c.id.0))
        .flatten();
    Ok(Json(CompanyList {
        data: page.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

pub(crate) async fn own_company(
    state: &AppState,
    tenant: &accord_domain::tenant::Tenant,
    id: Uuid,
) -> Result<Company, ApiError> {
    state
        .companies()
        .company(tenant.id, CompanyId(id))
        .await?
        .ok_or(ApiError::NotFound(Resource::Company))
}

/// Get a company.
#[utoipa::path(get, path = "/v1/companies/{company_id}", operation_id = "get_company", tag = "companies",
    params(("company_id" = Uuid, Path)), responses((status = 200, body = CompanyDto), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
) -> Result<Json<CompanyDto>, ApiError> {
    Ok(Json(own_company(&state, &tenant, company_id).await?.into()))
}

/// Delete a company: its connections are disconnected at once (tokens destroyed, revoked at the
/// platform); its consent records are kept as the tenant's proof.
#[utoipa::path(delete, path = "/v1/companies/{company_id}", operation_id = "delete_company", tag = "companies",
    params(("company_id" = Uuid, Path)), responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let company = CompanyId(company_id);
    // No data call through the company's connections is answered after this one is.
    let gates = crate::services::access::hold_company_gates(&state, tenant.id, company).await?;
    let deleted = state
        .companies()
        .delete_company(tenant.id, company, state.clock.now())
        .await?;
    drop(gates);
    if deleted {
        state.jobs.notify_one();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(Resource::Company))
    }
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateLinkSession {
    /// `en` or `fr`; default: the customer's browser language.
    pub locale: Option<String>,
    /// Categories to offer (`accounting`, `banking`, `commerce`); default: all.
    pub categories: Option<Vec<String>>,
    /// Where to send the customer when they finish: exactly one of the link settings'
    /// `integration.return_urls`. The customer returns with `companyId`, `connectionId`,
    /// `platform`, `status` and `errorCode` added to its query.
    pub return_url: Option<String>,
}

/// Create a link session: a single-use URL into the hosted flow for this company.
#[utoipa::path(post, path = "/v1/companies/{company_id}/link-sessions", operation_id = "create_link_session", tag = "companies",
    params(("company_id" = Uuid, Path)), request_body(content = CreateLinkSession, description = "All fields optional; `{}` is fine."),
    responses((status = 201, body = SessionUrl), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_link_session(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CreateLinkSession>,
) -> Result<(StatusCode, Json<SessionUrl>), ApiError> {
    let company = own_company(&state, &tenant, company_id).await?;
    let mut invalid = Invalid::default();
    let locale = match body.locale.as_deref() {
        Some(l) => l
            .parse::<Locale>()
            .map_err(|m| invalid.push(FieldError::new("locale", m)))
            .ok(),
        None => None,
    };
    let mut categories = Vec::new();
    for (i, c) in body.categories.unwrap_or_default().iter().enumerate() {
        match c.parse::<Category>() {
            Ok(c) if !categories.contains(&c) => categories.push(c),
            Ok(_) => invalid.push(FieldError::new(
                format!("categories.{i}"),
                "is listed twice",
            )),
            Err(e) => invalid.push(FieldError::new(format!("categories.{i}"), e.to_string())),
        }
    }
    // Exact match against the tenant's registered return URLs: a prefix or pattern match would
    // let an attacker's look-alike receive the customer; nothing is normalised, so look-alikes
    // are refused.
    let return_url = body.return_url.as_deref().and_then(|u| {
        let registered = tenant.settings.integration.return_url(u);
        if registered.is_none() {
            invalid.push(FieldError::new(
                "return_url",
                "must be exactly one of your allowed return URLs (link settings `integration.return_urls`)",
            ));
        }
        registered.map(str::to_owned)
    });
    invalid.into_result()?;
    let (id, url, expires_at) = mint(
        &state,
        &company,
        SessionKind::Link,
        locale,
        categories,
        return_url,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionUrl {
            id: Some(id.0),
            url,
            expires_at,
        }),
    ))
}

/// Create a manage session: a single-use URL to the page where the company sees and
/// disconnects its connections.
#[utoipa::path(post, path = "/v1/companies/{company_id}/manage-sessions", operation_id = "create_manage_session", tag = "companies",
    params(("company_id" = Uuid, Path)), responses((status = 201, body = SessionUrl), (status = 404, body = Problem)))]
pub async fn create_manage_session(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<SessionUrl>), ApiError> {
    let company = own_company(&state, &tenant, company_id).await?;
    let (_, url, expires_at) = mint(
        &state,
        &company,
        SessionKind::Manage,
        None,
        Vec::new(),
        None,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionUrl {
            id: None,
            url,
            expires_at,
        }),
    ))
}

pub(crate) async fn mint(
    state: &AppState,
    company: &Company,
    kind: SessionKind,
    locale: Option<Locale>,
    categories: Vec<Category>,
    return_url: Option<String>,
) -> Result<(LinkSessionId, String, time::OffsetDateTime), ApiError> {
    let token = random_token(32);
    let now = state.clock.now();
    let ttl = match kind {
        SessionKind::Link => state.config.link_session_ttl,
        SessionKind::Manage => state.config.manage_session_ttl,
    };
    let session = LinkSession {
        id: LinkSessionId::new(),
        tenant_id: company.tenant_id,
        company_id: company.id,
        kind,
        token_hash: TokenHash::of(&token),
        locale,
        categories,
        return_url,
        created_at: now,
        expires_at: now + ttl,
        used_at: None,
    };
    state.flow().create_link_session(&session).await?;
    let path = match kind {
        SessionKind::Link => format!("/link/{token}"),
        SessionKind::Manage => format!("/manage/{token}"),
    };
    Ok((session.id, state.config.url(&path), session.expires_at))
}
