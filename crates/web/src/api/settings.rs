//! Link settings (the tenant's voice in the flow), their versions (who changed what), the
//! tenant's logo, and the support requests customers sent.

use crate::api::dto::SupportRequestList;
use crate::api::extract::{from_value, ApiJson, ApiQuery, Auth, AuthKey};
use crate::error::{ApiError, Problem, Resource};
use crate::state::AppState;
use accord_domain::brand::{self, Logo, LogoError};
use accord_domain::guardrails;
use accord_domain::ids::SupportRequestId;
use accord_domain::settings::{LinkSettings, SettingsVersion};
use accord_store::Page;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The header carrying the number of the settings version a `PUT` created.
pub const VERSION_HEADER: &str = "accord-settings-version";

/// The current link settings.
#[utoipa::path(get, path = "/v1/link-settings", operation_id = "get_link_settings", tag = "settings",
    responses((status = 200, description = "The link settings document", body = Object)))]
pub async fn get(Auth(tenant): Auth) -> Json<LinkSettings> {
    Json(tenant.settings.clone())
}

/// Replace the link settings (validated as a whole; nothing changes on error). Each success
/// is stored as a new version, with the API key that made it and the fields that changed.
/// Settings that reach for a dark pattern (`consent_prechecked`, `hide_decline`, …) are
/// refused with the guardrail's reason.
#[utoipa::path(put, path = "/v1/link-settings", operation_id = "put_link_settings", tag = "settings",
    request_body(content = Object, description = "The link settings document (see docs/link-settings.md)"),
    responses(
        (status = 200, body = Object, headers(("accord-settings-version" = i64, description = "The version this change created"))),
        (status = 422, body = Problem)))]
pub async fn put(
    State(state): State<AppState>,
    AuthKey(tenant, key): AuthKey,
    ApiJson(doc): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    save(&state, &tenant, &key, doc).await
}

/// The media type of a JSON Merge Patch (RFC 7396).
pub const MERGE_PATCH: &str = "application/merge-patch+json";

/// Change part of the link settings: a JSON Merge Patch (`Content-Type:
/// application/merge-patch+json`) applied to the current document (an object merges, `null`
/// removes, anything else replaces), then validated and saved exactly like `PUT` (one new
/// version; nothing changes on error). `{"integration": {"embedding_origins": [...]}}` changes
/// that list and leaves every other setting as it is.
#[utoipa::path(patch, path = "/v1/link-settings", operation_id = "patch_link_settings", tag = "settings",
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "A JSON Merge Patch of the link settings document"),
    responses(
        (status = 200, body = Object, headers(("accord-settings-version" = i64, description = "The version this change created"))),
        (status = 400, body = Problem),
        (status = 415, body = Problem),
        (status = 422, body = Problem)))]
pub async fn patch(
    State(state): State<AppState>,
    AuthKey(tenant, key): AuthKey,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let is_patch = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(MERGE_PATCH));
    if !is_patch {
        return Err(ApiError::UnsupportedMediaType(format!(
            "send the patch as `Content-Type: {MERGE_PATCH}` (JSON Merge Patch), or the whole document with PUT"
        )));
    }
    let patch: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    if !patch.is_object() {
        return Err(ApiError::BadRequest(
            "a merge patch of the link settings is a JSON object".into(),
        ));
    }
    let mut doc =
        serde_json::to_value(&tenant.settings).map_err(|e| ApiError::Internal(e.to_string()))?;
    merge_patch(&mut doc, &patch);
    save(&state, &tenant, &key, doc).await
}

/// RFC 7396 §2: objects merge member by member, `null` removes a member, anything else
/// (arrays included) replaces.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    let serde_json::Value::Object(out) = target else {
        return;
    };
    for (name, value) in members {
        if value.is_null() {
            out.remove(name);
        } else {
            merge_patch(
                out.entry(name.clone()).or_insert(serde_json::Value::Null),
                value,
            );
        }
    }
}

/// Validates a whole settings document and saves it as a new version (`PUT` and `PATCH`).
async fn save(
    state: &AppState,
    tenant: &accord_domain::tenant::Tenant,
    key: &accord_domain::tenant::ApiKeyRecord,
    doc: serde_json::Value,
) -> Result<Response, ApiError> {
    let refused = guardrails::refusals(&doc);
    if !refused.0.is_empty() {
        return Err(ApiError::Invalid(refused));
    }
    let settings: LinkSettings = from_value(doc)?;
    // Accord's own Connect and Decline labels stand beside a label the tenant sets alone.
    settings.validate_with_catalog(
        state.config.allow_http_localhost,
        &state.catalog,
        &state.i18n.builtin_labels(),
    )?;
    let version = state
        .settings()
        .save_link_settings(tenant.id, &settings, &key.key_id, state.clock.now())
        .await;
    // Whatever the answer (a failure may come after the commit), the pages read anew.
    state.snapshots.forget(tenant.id);
    let version = version?;
    state.api_keys.forget_tenant(tenant.id);
    let mut res = Json(settings).into_response();
    with_version(&mut res, &version);
    Ok(res)
}

/// One saved version of the link settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsVersionDto {
    pub number: i64,
    /// The top-level fields that changed from the version before.
    pub changed_fields: Vec<String>,
    /// The public id of the API key that made the change.
    pub changed_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The whole settings document as saved.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
}

impl From<SettingsVersion> for SettingsVersionDto {
    fn from(v: SettingsVersion) -> Self {
        Self {
            number: v.number,
            changed_fields: v.changed_fields,
            changed_by: v.changed_by,
            created_at: v.created_at,
            settings: v.settings,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsVersionList {
    /// Newest first.
    pub data: Vec<SettingsVersionDto>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionsQuery {
    /// Only versions numbered below this.
    pub before: Option<i64>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// The saved versions of the link settings, newest first.
#[utoipa::path(get, path = "/v1/link-settings/versions", operation_id = "list_link_settings_versions", tag = "settings",
    params(VersionsQuery),
    responses((status = 200, body = SettingsVersionList), (status = 422, body = Problem)))]
pub async fn versions(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiQuery(q): ApiQuery<VersionsQuery>,
) -> Result<Json<SettingsVersionList>, ApiError> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 100"));
    }
    let data = state
        .settings()
        .link_settings_versions(tenant.id, q.before, limit + 1)
        .await?;
    let more = data.len() > limit as usize;
    let data: Vec<SettingsVersionDto> = data
        .into_iter()
        .take(limit as usize)
        .map(Into::into)
        .collect();
    Ok(Json(SettingsVersionList {
        next_before: if more {
            data.last().map(|v| v.number)
        } else {
            None
        },
        data,
    }))
}

/// The logo as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogoDto {
    /// Where the flow loads it (stable until the logo changes).
    pub url: String,
    pub content_type: String,
    pub size: usize,
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The public path of a tenant's logo.
pub fn logo_path(logo: &Logo) -> String {
    format!(
        "/brand/{}/logo?v={}",
        logo.tenant_id,
        &logo.sha256[..16.min(logo.sha256.len())]
    )
}

/// Upload the logo: the request body is the image itself, PNG, JPEG or WebP (recognised by its
/// bytes, whatever the `Content-Type`), at most 256 KiB. SVG and other types are refused. The
/// change is a settings version like any other (`changed_fields: ["logo"]`, with the API key).
#[utoipa::path(put, path = "/v1/link-settings/logo", operation_id = "put_logo", tag = "settings",
    request_body(content = Vec<u8>, description = "The image bytes", content_type = "application/octet-stream"),
    responses(
        (status = 200, body = LogoDto, headers(("accord-settings-version" = i64, description = "The version this change created"))),
        (status = 413, body = Problem), (status = 415, body = Problem)))]
pub async fn put_logo(
    State(state): State<AppState>,
    AuthKey(tenant, key): AuthKey,
    body: Bytes,
) -> Result<Response, ApiError> {
    let format = brand::sniff(&body).map_err(|e| match e {
        LogoError::TooLarge => ApiError::PayloadTooLarge(e.to_string()),
        LogoError::Empty => ApiError::invalid("logo", &e.to_string()),
        LogoError::Svg | LogoError::Unsupported => ApiError::UnsupportedMediaType(e.to_string()),
    })?;
    let logo = Logo {
        tenant_id: tenant.id,
        format,
        sha256: brand::sha256_hex(&body),
        bytes: body.to_vec(),
        updated_at: state.clock.now(),
    };
    let version = state.settings().put_logo(&logo, &key.key_id).await;
    state.snapshots.forget(tenant.id);
    let version = version?;
    let mut res = Json(LogoDto {
        url: state.config.url(&logo_path(&logo)),
        content_type: format.content_type().to_owned(),
        size: logo.bytes.len(),
        sha256: logo.sha256,
        updated_at: logo.updated_at,
    })
    .into_response();
    with_version(&mut res, &version);
    Ok(res)
}

/// Remove the logo (the flow then shows the tenant's name only); a settings version records it.
#[utoipa::path(delete, path = "/v1/link-settings/logo", operation_id = "delete_logo", tag = "settings",
    responses(
        (status = 204, description = "Removed", headers(("accord-settings-version" = i64, description = "The version this change created"))),
        (status = 404, body = Problem)))]
pub async fn delete_logo(
    State(state): State<AppState>,
    AuthKey(tenant, key): AuthKey,
) -> Result<Response, ApiError> {
    let deleted = state
        .settings()
        .delete_logo(tenant.id, &key.key_id, state.clock.now())
        .await;
    state.snapshots.forget(tenant.id);
    match deleted? {
        Some(version) => {
            let mut res = StatusCode::NO_CONTENT.into_response();
            with_version(&mut res, &version);
            Ok(res)
        }
        None => Err(ApiError::NotFound(Resource::Logo)),
    }
}

/// Names the version a change created in the response's [`VERSION_HEADER`].
fn with_version(res: &mut Response, version: &SettingsVersion) {
    res.headers_mut().insert(
        HeaderName::from_static(VERSION_HEADER),
        HeaderValue::from(version.number),
    );
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SupportRequestQuery {
    /// Return requests received after this one (the previous page's `next_cursor`).
    after: Option<Uuid>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Support requests from customers, oldest first, with their diagnostics.
#[utoipa::path(get, path = "/v1/support-requests", operation_id = "list_support_requests", tag = "support", params(SupportRequestQuery),
    responses((status = 200, body = SupportRequestList), (status = 422, body = Problem)))]
pub async fn support_requests(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiQuery(q): ApiQuery<SupportRequestQuery>,
) -> Result<Json<SupportRequestList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    let page = state
        .support()
        .support_requests(
            tenant.id,
            Page {
                after: q.after.map(SupportRequestId),
                limit,
            },
        )
        .await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.last().map(|r| r.request.id.0))
        .flatten();
    Ok(Json(SupportRequestList {
        data: page.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// The examples of RFC 7396's appendix A that a settings document can meet.
    #[test]
    fn merge_patch_follows_the_rfc() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            super::merge_patch(&mut target, &patch);
            assert_eq!(target, want, "patch {patch}");
        }
    }
}
