//! The overview: the hosted flow's funnel over a date range, as server-rendered SVG bar charts
//! (customers who started and who connected, by week and by platform), the completion rate, and
//! each step's count. The charts are drawn here (bars as integer rectangles), each with the same
//! figures in a table beside it for screen readers and for reading exact numbers.

use crate::console::error::ConsoleError;
use crate::console::session::Member;
use crate::console::view::{html, notice, Chrome};
use crate::state::AppState;
use accord_domain::funnel::{FunnelReport, FunnelStep};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use time::{Date, Duration, OffsetDateTime};

/// The longest range the overview draws, in weeks (one bar pair a week).
const MAX_WEEKS: i64 = 26;
/// The default range: this many weeks up to today.
const DEFAULT_WEEKS: i64 = 8;
/// The chart's drawing area, in SVG units.
const CHART_W: i64 = 640;
const CHART_H: i64 = 160;

/// One group of the bar chart: two bars (started, connected) and its label.
pub struct BarGroup {
    pub label: String,
    pub started: i64,
    pub connected: i64,
    pub x: i64,
    pub started_h: i64,
    pub connected_h: i64,
    pub bar_w: i64,
}

impl BarGroup {
    pub fn started_y(&self) -> i64 {
        CHART_H - self.started_h
    }
    pub fn connected_y(&self) -> i64 {
        CHART_H - self.connected_h
    }
    pub fn connected_x(&self) -> i64 {
        self.x + self.bar_w
    }
    pub fn label_x(&self) -> i64 {
        self.x + self.bar_w
    }
}

/// A chart's groups laid out across the drawing area, bars scaled to the largest count.
fn lay_out(groups: Vec<(String, i64, i64)>) -> Vec<BarGroup> {
    let n = i64::try_from(groups.len()).unwrap_or(1).max(1);
    let slot = CHART_W / n;
    let bar_w = (slot * 2 / 5).max(2);
    let max = groups
        .iter()
        .map(|(_, s, c)| (*s).max(*c))
        .max()
        .unwrap_or(0)
        .max(1);
    groups
        .into_iter()
        .enumerate()
        .map(|(i, (label, started, connected))| BarGroup {
            x: i64::try_from(i).unwrap_or(0) * slot + (slot - 2 * bar_w) / 2,
            started_h: started * CHART_H / max,
            connected_h: connected * CHART_H / max,
            bar_w,
            label,
            started,
            connected,
        })
        .collect()
}

/// One bar chart of the page.
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    pub bars: Vec<BarGroup>,
}

struct StepRow {
    label: String,
    count: i64,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    c: Chrome,
    from: String,
    to: String,
    charts: Vec<Chart>,
    completion: Option<String>,
    steps: Vec<StepRow>,
    error: Option<String>,
    notice: Option<String>,
    chart_w: i64,
    chart_h: i64,
}

#[derive(Deserialize, Default)]
pub struct RangeQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

fn parse_date(raw: Option<&str>) -> Result<Option<Date>, ()> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
            .map(Some)
            .map_err(|_| ()),
    }
}

/// The range asked for (dates, both days included), or the default; `Err` for a range that is
/// not dates, is backwards or is longer than [`MAX_WEEKS`].
fn range(q: &RangeQuery, today: Date) -> Result<(Date, Date), ()> {
    let to = parse_date(q.to.as_deref())?.unwrap_or(today);
    let from = parse_date(q.from.as_deref())?
        .unwrap_or(to - Duration::weeks(DEFAULT_WEEKS) + Duration::days(1));
    if from > to || to - from >= Duration::weeks(MAX_WEEKS) {
        return Err(());
    }
    Ok((from, to))
}

fn start(d: Date) -> OffsetDateTime {
    d.midnight().assume_utc()
}

fn count(report: &FunnelReport, step: FunnelStep) -> i64 {
    report
        .steps
        .iter()
        .find(|s| s.step == step)
        .map_or(0, |s| s.count)
}

pub async fn show(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ConsoleError> {
    let today = state.clock.now().date();
    let (error, (from, to)) = match range(&q, today) {
        Ok(r) => (None, r),
        Err(()) => (
            Some(
                m.chrome
                    .tr
                    .n("console-overview-range-invalid", "weeks", MAX_WEEKS),
            ),
            range(&RangeQuery::default(), today).map_err(|()| ConsoleError::BadRequest)?,
        ),
    };
    // The last second's counts are still in memory: written first, so the chart is current.
    state.funnel.flush(&*state.store).await;
    let funnel = state.funnel_counts();
    let end = start(to) + Duration::days(1);
    let report = FunnelReport::build(&funnel.funnel_counts(m.tenant.id, start(from), end).await?);
    let mut weeks = Vec::new();
    let mut week = from;
    while week <= to {
        let next = (week + Duration::weeks(1)).min(to + Duration::days(1));
        let r = FunnelReport::build(
            &funnel
                .funnel_counts(m.tenant.id, start(week), start(next))
                .await?,
        );
        weeks.push((
            crate::i18n::long_date(m.chrome.tr.locale, week),
            count(&r, FunnelStep::LandingViewed),
            count(&r, FunnelStep::Connected),
        ));
        week = next;
    }
    let platforms = report
        .platforms
        .iter()
        .map(|p| {
            let name = state
                .catalog
                .find(&p.platform)
                .map_or_else(|| p.platform.clone(), |e| e.name.clone());
            let of = |step| {
                p.steps
                    .iter()
                    .find(|s| s.step == step)
                    .map_or(0, |s| s.count)
            };
            (
                name,
                of(FunnelStep::PlatformSelected),
                of(FunnelStep::Connected),
            )
        })
        .collect();
    let started = count(&report, FunnelStep::LandingViewed);
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let completion = (started > 0).then(|| {
        let pct = count(&report, FunnelStep::Connected) as f64 * 100.0 / started as f64;
        format!("{pct:.1} %")
    });
    let steps = report
        .steps
        .iter()
        .map(|s| StepRow {
            label: m.chrome.tr.t(&format!(
                "console-step-{}",
                s.step.as_str().replace('_', "-")
            )),
            count: s.count,
        })
        .collect();
    let charts = vec![
        Chart {
            id: "weeks",
            title: m.chrome.tr.t("console-by-week"),
            bars: lay_out(weeks),
        },
        Chart {
            id: "platforms",
            title: m.chrome.tr.t("console-by-platform"),
            bars: lay_out(platforms),
        },
    ];
    html(&OverviewPage {
        notice: notice(&m.chrome.tr, q.done.as_deref()),
        c: m.chrome,
        from: from.to_string(),
        to: to.to_string(),
        charts,
        completion,
        steps,
        error,
        chart_w: CHART_W,
        chart_h: CHART_H,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_count() {
        let bars = lay_out(vec![("a".into(), 10, 5), ("b".into(), 4, 0)]);
        assert_eq!(bars[0].started_h, CHART_H);
        assert_eq!(bars[0].connected_h, CHART_H / 2);
        assert_eq!(bars[1].connected_h, 0);
        assert!(bars[1].x > bars[0].connected_x());
        let empty = lay_out(vec![("a".into(), 0, 0)]);
        assert_eq!(empty[0].started_h, 0);
    }

    #[test]
    fn ranges_are_dates_forwards_and_bounded() {
        let today = time::macros::date!(2026 - 12 - 07);
        let q = |f: &str, t: &str| RangeQuery {
            from: Some(f.into()),
            to: Some(t.into()),
            done: None,
        };
        assert_eq!(range(&RangeQuery::default(), today).unwrap().1, today);
        assert!(range(&q("2026-12-01", "2026-11-01"), today).is_err());
        assert!(range(&q("2025-01-01", "2026-11-01"), today).is_err());
        assert!(range(&q("yesterday", ""), today).is_err());
        assert!(range(&q("2026-11-01", "2026-12-01"), today).is_ok());
    }
}
