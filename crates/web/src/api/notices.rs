//! Notices: list them, publish a new version (versions never change), read the history.
//! Publishing compares the new version with the previous one: a *material* change (purpose,
//! data types, directions, retention, third-party sharing) marks the linked connections whose
//! consent quotes an older version `reconsent_required`.

use crate::api::dto::{
    uses, DataUseDto, NoticeContentDto, NoticeList, NoticeVersionDto, NoticeVersionList,
};
use crate::api::extract::{ApiJson, ApiPath, Auth};
use crate::error::{ApiError, Problem, Resource};
use crate::state::AppState;
use accord_domain::catalog::{Category, DataType, DataUse, Direction};
use accord_domain::ids::NoticeId;
use accord_domain::locale::Locale;
use accord_domain::notice::NoticeContent;
use accord_domain::notice_change::{classify, ChangeClass, NoticeChange};
use accord_domain::validate::{FieldError, Invalid};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// List notices (one per category × locale) with their current version number.
#[utoipa::path(get, path = "/v1/notices", operation_id = "list_notices", tag = "notices", responses((status = 200, body = NoticeList)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(tenant): Auth,
) -> Result<Json<NoticeList>, ApiError> {
    let data = state.notices().notices(tenant.id).await?;
    Ok(Json(NoticeList {
        data: data.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishNotice {
    /// `accounting`, `banking` or `commerce`.
    pub category: String,
    /// `en` or `fr`.
    pub locale: String,
    pub content: NoticeContentDto,
}

/// How a published version differs from the previous version of the same notice.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeChangeDto {
    /// `editorial` (wording of how to withdraw, policy link) or `material` (purpose, data
    /// types, directions, retention or third-party sharing): a material change needs the
    /// customers' agreement again.
    #[schema(example = "material")]
    pub class: String,
    /// The fields that changed: `purpose`, `data_uses`, `retention`, `third_party_sharing`,
    /// `withdrawal`, `privacy_policy_url`.
    #[schema(example = json!(["data_uses"]))]
    pub fields: Vec<String>,
    pub data_uses_added: Vec<DataUseDto>,
    pub data_uses_removed: Vec<DataUseDto>,
}

impl From<&NoticeChange> for NoticeChangeDto {
    fn from(c: &NoticeChange) -> Self {
        Self {
            class: match c.class {
                ChangeClass::Editorial => "editorial",
                ChangeClass::Material => "material",
            }
            .to_owned(),
            fields: c.fields.iter().map(|f| f.as_str().to_owned()).collect(),
            data_uses_added: uses(&c.uses_added),
            data_uses_removed: uses(&c.uses_removed),
        }
    }
}

/// A newly published version, with how it differs from the previous one.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedNoticeVersion {
    #[serde(flatten)]
    pub version: NoticeVersionDto,
    /// The change from the previous version; `null` for the first version of a notice.
    pub change: Option<NoticeChangeDto>,
    /// Connections that need the customer's agreement again because of this (material) change:
    /// they were linked with a consent to an older version, and are now `reconsent_required`.
    /// The customer is asked on their next visit (link or manage page).
    pub reconsent_required_connections: Vec<Uuid>,
}

/// Publish a new version of the notice for a category and locale. Customers see it from now on;
/// consents already given keep the text that was agreed. A material change (purpose, data
/// types, directions, retention or third-party sharing) moves the linked connections whose
/// consent quotes an older version to `reconsent_required`.
#[utoipa::path(post, path = "/v1/notices", operation_id = "publish_notice", tag = "notices", request_body = PublishNotice,
    responses((status = 201, body = PublishedNoticeVersion), (status = 422, body = Problem)))]
pub async fn publish(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiJson(body): ApiJson<PublishNotice>,
) -> Result<(StatusCode, Json<PublishedNoticeVersion>), ApiError> {
    let mut invalid = Invalid::default();
    let category = body
        .category
        .parse::<Category>()
        .map_err(|e| invalid.push(FieldError::new("category", e.to_string())))
        .ok();
    let locale = body
        .locale
        .parse::<Locale>()
        .map_err(|e| invalid.push(FieldError::new("locale", e)))
        .ok();
    let listed = !body.content.data_uses.is_empty();
    let mut data_uses = Vec::new();
    // The request index of each parsed data use, so later errors name the entry sent.
    let mut sent_index = Vec::new();
    for (i, u) in body.content.data_uses.iter().enumerate() {
        let dt = u.data_type.parse::<DataType>();
        let dir = match u.direction.as_str() {
            "read" => Some(Direction::Read),
            "write" => Some(Direction::Write),
            _ => None,
        };
        match (dt, dir) {
            (Ok(data_type), Some(direction)) => {
                data_uses.push(DataUse {
                    data_type,
                    direction,
                });
                sent_index.push(i);
            }
            (Err(e), _) => invalid.push(FieldError::new(
                format!("content.data_uses.{i}.data_type"),
                e.to_string(),
            )),
            (_, None) => invalid.push(FieldError::new(
                format!("content.data_uses.{i}.direction"),
                "must be `read` or `write`",
            )),
        }
    }
    let content = NoticeContent {
        purpose: body.content.purpose,
        data_uses,
        retention: body.content.retention,
        third_party_sharing: body.content.third_party_sharing,
        withdrawal: body.content.withdrawal,
        privacy_policy_url: body.content.privacy_policy_url,
    };
    if let Err(e) = content.validate(state.config.allow_http_localhost) {
        for f in e.0 {
            let path = match f
                .path
                .strip_prefix("data_uses.")
                .and_then(|k| k.parse::<usize>().ok())
            {
                Some(k) => format!("data_uses.{}", sent_index.get(k).copied().unwrap_or(k)),
                // Entries were sent but none parsed: each is already reported by its path.
                None if f.path == "data_uses" && listed => continue,
                None => f.path,
            };
            invalid.push(FieldError::new(format!("content.{path}"), f.message));
        }
    }
    invalid.into_result()?;
    let (Some(category), Some(locale)) = (category, locale) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let published =
        crate::services::notice::publish(&state, tenant.id, (category, locale), &content).await?;
    let v = published.version;
    let change = published.previous.map(|p| classify(&p.content, &v.content));
    let reconsent = published.reconsent_required;
    Ok((
        StatusCode::CREATED,
        Json(PublishedNoticeVersion {
            change: change.as_ref().map(NoticeChangeDto::from),
            reconsent_required_connections: reconsent.iter().map(|c| c.id.0).collect(),
            version: v.into(),
        }),
    ))
}

/// Every version of a notice, oldest first.
#[utoipa::path(get, path = "/v1/notices/{notice_id}/versions", operation_id = "list_notice_versions", tag = "notices",
    params(("notice_id" = Uuid, Path)), responses((status = 200, body = NoticeVersionList), (status = 404, body = Problem)))]
pub async fn versions(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(notice_id): ApiPath<Uuid>,
) -> Result<Json<NoticeVersionList>, ApiError> {
    let notice = state
        .notices()
        .notice(tenant.id, NoticeId(notice_id))
        .await?
        .ok_or(ApiError::NotFound(Resource::Notice))?;
    let data = state
        .notices()
        .notice_versions(tenant.id, notice.id)
        .await?;
    Ok(Json(NoticeVersionList {
        data: data.into_iter().map(Into::into).collect(),
    }))
}
