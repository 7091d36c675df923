//! Funnel analytics of the hosted flow: how many customers reached each step, the conversion
//! between consecutive steps, exits by page, and the split by platform. The counts hold no
//! personal data (no IP, no user agent, no session or company).

use crate::api::extract::{ApiQuery, Auth};
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use accord_domain::funnel::{hour_of, FunnelReport};
use accord_domain::validate::{FieldError, Invalid};
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};

/// The longest range one request may ask for.
const MAX_RANGE_DAYS: i64 = 366;
/// The range when `from` is not given: this many days before `to`.
const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FunnelQuery {
    /// Start of the range (inclusive): an RFC 3339 time or a date (`2026-11-01`, midnight
    /// UTC). Default: 30 days before `to`.
    #[serde(default)]
    pub from: Option<String>,
    /// End of the range (exclusive): an RFC 3339 time or a date (that whole day included).
    /// Default: now.
    #[serde(default)]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepCountDto {
    /// `landing_viewed`, `platform_selected`, `consent_viewed`, `consented`, `declined`,
    /// `sent_to_platform`, `callback_succeeded`, `callback_failed`, `connected` or `exited`.
    #[schema(example = "consented")]
    pub step: String,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversionDto {
    pub from: String,
    pub to: String,
    /// `to` / `from`; null when nobody reached `from`.
    #[schema(example = 0.75)]
    pub rate: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExitCountDto {
    /// The page left from: `landing`, `select`, `consent`, `declined`, `callback` (the page
    /// after a failed platform sign-in), `success`, `reconsent`, `nda`, `support`, `receipt`
    /// or `other`.
    #[schema(example = "consent")]
    pub page: String,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformFunnelDto {
    #[schema(example = "xero")]
    pub platform: String,
    /// The steps that concern a platform (all but `landing_viewed` and `exited`).
    pub steps: Vec<StepCountDto>,
    /// From `platform_selected` to `connected`.
    pub conversions: Vec<ConversionDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelDto {
    /// The range counted, widened to whole UTC hours (counts are kept per hour).
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    /// Every step, zeros included. Each step counts once per link session (and platform).
    pub steps: Vec<StepCountDto>,
    /// Between consecutive steps of the main path: `landing_viewed` → `platform_selected` →
    /// `consent_viewed` → `consented` → `sent_to_platform` → `callback_succeeded` → `connected`.
    pub conversions: Vec<ConversionDto>,
    pub exits: Vec<ExitCountDto>,
    pub platforms: Vec<PlatformFunnelDto>,
}

/// An RFC 3339 time, or a date: its midnight (UTC), or for an end the next midnight.
fn parse_time(path: &str, raw: &str, is_end: bool) -> Result<OffsetDateTime, FieldError> {
    if let Ok(t) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Ok(t);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(raw, date_format) {
        Ok(d) => {
            let start = d.midnight().assume_utc();
            Ok(if is_end {
                start + Duration::days(1)
            } else {
                start
            })
        }
        Err(_) => Err(FieldError::new(
            path,
            "must be an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01)",
        )),
    }
}

/// The first hour boundary at or after `t`.
fn ceil_hour(t: OffsetDateTime) -> OffsetDateTime {
    let h = hour_of(t);
    if h == t {
        h
    } else {
        h + Duration::hours(1)
    }
}

fn range(
    q: &FunnelQuery,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), Invalid> {
    let mut invalid = Invalid::default();
    let to = match q.to.as_deref() {
        Some(raw) => parse_time("to", raw, true)
            .map_err(|e| invalid.push(e))
            .ok(),
        None => Some(now),
    };
    let from = match q.from.as_deref() {
        Some(raw) => parse_time("from", raw, false)
            .map_err(|e| invalid.push(e))
            .ok(),
        None => to.map(|t| t - Duration::days(DEFAULT_DAYS)),
    };
    if let (Some(from), Some(to)) = (from, to) {
        let (from, to) = (hour_of(from), ceil_hour(to));
        if from >= to {
            invalid.push(FieldError::new("to", "must be after `from`"));
        } else if to - from > Duration::days(MAX_RANGE_DAYS) {
            invalid.push(FieldError::new(
                "to",
                format!("the range may span at most {MAX_RANGE_DAYS} days"),
            ));
        } else {
            invalid.into_result()?;
            return Ok((from, to));
        }
    }
    Err(invalid)
}

/// The funnel of the hosted flow over a time range.
#[utoipa::path(get, path = "/v1/analytics/funnel", operation_id = "get_funnel", tag = "analytics",
    params(FunnelQuery),
    responses((status = 200, body = FunnelDto), (status = 422, body = Problem)))]
pub async fn funnel(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiQuery(q): ApiQuery<FunnelQuery>,
) -> Result<Json<FunnelDto>, ApiError> {
    let (from, to) = range(&q, state.clock.now())?;
    // The counts of the last second are still in memory: written first, so the answer holds
    // every page view made before the request.
    state.funnel.flush(&*state.store).await;
    let counts = state
        .funnel_counts()
        .funnel_counts(tenant.id, from, to)
        .await?;
    let report = FunnelReport::build(&counts);
    let step = |s: &accord_domain::funnel::StepTotal| StepCountDto {
        step: s.step.as_str().to_owned(),
        count: s.count,
    };
    let conversion = |c: &accord_domain::funnel::Conversion| ConversionDto {
        from: c.from.as_str().to_owned(),
        to: c.to.as_str().to_owned(),
        rate: c.rate,
    };
    Ok(Json(FunnelDto {
        from,
        to,
        steps: report.steps.iter().map(step).collect(),
        conversions: report.conversions.iter().map(conversion).collect(),
        exits: report
            .exits
            .iter()
            .map(|e| ExitCountDto {
                page: e.page.as_str().to_owned(),
                count: e.count,
            })
            .collect(),
        platforms: report
            .platforms
            .iter()
            .map(|p| PlatformFunnelDto {
                platform: p.platform.clone(),
                steps: p.steps.iter().map(step).collect(),
                conversions: p.conversions.iter().map(conversion).collect(),
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn q(from: Option<&str>, to: Option<&str>) -> FunnelQuery {
        FunnelQuery {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
        }
    }

    fn paths(e: Invalid) -> Vec<String> {
        e.0.into_iter().map(|f| f.path).collect()
    }

    #[test]
    fn ranges_take_times_and_dates_and_widen_to_hours() {
        let now = datetime!(2026-11-22 10:30 UTC);
        assert_eq!(
            range(&q(None, None), now).unwrap(),
            (
                datetime!(2026-10-23 10:00 UTC),
                datetime!(2026-11-22 11:00 UTC)
            )
        );
        assert_eq!(
            range(&q(Some("2026-11-01"), Some("2026-11-02")), now).unwrap(),
            (
                datetime!(2026-11-01 00:00 UTC),
                datetime!(2026-11-03 00:00 UTC)
            ),
            "a `to` date includes that day"
        );
        assert_eq!(
            range(
                &q(
                    Some("2026-11-01T08:15:00+01:00"),
                    Some("2026-11-01T09:00:00Z")
                ),
                now
            )
            .unwrap(),
            (
                datetime!(2026-11-01 07:00 UTC),
                datetime!(2026-11-01 09:00 UTC)
            )
        );
    }

    #[test]
    fn bad_ranges_name_their_fields() {
        let now = datetime!(2026-11-22 10:30 UTC);
        assert_eq!(
            paths(range(&q(Some("yesterday"), Some("soon")), now).unwrap_err()),
            ["to", "from"]
        );
        assert_eq!(
            paths(range(&q(Some("2026-11-02"), Some("2026-11-01")), now).unwrap_err()),
            ["to"]
        );
        assert_eq!(
            paths(range(&q(Some("2024-01-01"), Some("2026-01-01")), now).unwrap_err()),
            ["to"]
        );
    }
}
