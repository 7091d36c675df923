//! The funnel of the hosted flow: how many customers reached each step, without personal data.
//!
//! A funnel event is a step, the platform it concerns (if any) and, for an exit, the page the
//! customer left from. It is counted into an hourly bucket per tenant; nothing identifying the
//! customer (no IP, no user agent, no session or company id) is kept with it. Each step counts
//! once per link session and platform: a reload or a second click does not inflate the funnel
//! (the store remembers which steps a session already counted beside the session, not in the
//! analytics). [`FunnelReport`] turns stored counts into totals, conversions and a split by
//! platform for `GET /v1/analytics/funnel`.

use crate::catalog::PlatformKey;
use crate::ids::{BrowserSessionId, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A step of the flow that is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunnelStep {
    /// The landing page was shown.
    LandingViewed,
    /// The customer chose a platform (opened its consent step from the list).
    PlatformSelected,
    /// The consent notice of a platform was shown.
    ConsentViewed,
    /// The customer ticked the box and agreed; the consent is recorded.
    Consented,
    /// The customer chose not to connect on the consent step.
    Declined,
    /// The customer was sent to the platform to sign in.
    SentToPlatform,
    /// The platform sent the customer back with an authorization code (they approved).
    CallbackSucceeded,
    /// The platform sent the customer back with an error (denied, or it failed).
    CallbackFailed,
    /// The token exchange succeeded: the connection is linked.
    Connected,
    /// The customer left the flow; [`FunnelEvent::exited_at`] says from which page.
    Exited,
}

impl FunnelStep {
    pub const ALL: [FunnelStep; 10] = [
        Self::LandingViewed,
        Self::PlatformSelected,
        Self::ConsentViewed,
        Self::Consented,
        Self::Declined,
        Self::SentToPlatform,
        Self::CallbackSucceeded,
        Self::CallbackFailed,
        Self::Connected,
        Self::Exited,
    ];

    /// The main path, in order: conversions are reported between consecutive steps of it.
    /// `declined`, `callback_failed` and `exited` are branches off it.
    pub const MAIN_PATH: [FunnelStep; 7] = [
        Self::LandingViewed,
        Self::PlatformSelected,
        Self::ConsentViewed,
        Self::Consented,
        Self::SentToPlatform,
        Self::CallbackSucceeded,
        Self::Connected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LandingViewed => "landing_viewed",
            Self::PlatformSelected => "platform_selected",
            Self::ConsentViewed => "consent_viewed",
            Self::Consented => "consented",
            Self::Declined => "declined",
            Self::SentToPlatform => "sent_to_platform",
            Self::CallbackSucceeded => "callback_succeeded",
            Self::CallbackFailed => "callback_failed",
            Self::Connected => "connected",
            Self::Exited => "exited",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A page of the hosted flow a customer can leave from ("exited at page X"). The one
/// vocabulary of the exit control (`/link/exit?from=<page>`), of `/link/finish?exited=<page>`
/// and of the funnel's `exits`, so an exit is counted under the page it was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowPage {
    Landing,
    /// The platform list.
    Select,
    Consent,
    /// The page after "No thanks" on the consent step.
    Declined,
    /// The page explaining that the platform sign-in did not finish.
    Callback,
    /// A connection's success page (and the page after agreeing again).
    Success,
    /// Agreeing again to changed terms.
    Reconsent,
    /// The optional mutual NDA.
    Nda,
    /// The support form and its confirmation.
    Support,
    /// A consent receipt.
    Receipt,
    /// A page Accord does not know as a step (an exit link with an unknown `from`).
    Other,
}

impl FlowPage {
    pub const ALL: [FlowPage; 11] = [
        Self::Landing,
        Self::Select,
        Self::Consent,
        Self::Declined,
        Self::Callback,
        Self::Success,
        Self::Reconsent,
        Self::Nda,
        Self::Support,
        Self::Receipt,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Landing => "landing",
            Self::Select => "select",
            Self::Consent => "consent",
            Self::Declined => "declined",
            Self::Callback => "callback",
            Self::Success => "success",
            Self::Reconsent => "reconsent",
            Self::Nda => "nda",
            Self::Support => "support",
            Self::Receipt => "receipt",
            Self::Other => "other",
        }
    }

    /// The page named `s`. `platform`, this page's name in the first release (where it stood
    /// for the callback page; nothing produced it, but a stored count may hold it), reads as
    /// [`FlowPage::Callback`].
    pub fn parse(s: &str) -> Option<Self> {
        if s == "platform" {
            return Some(Self::Callback);
        }
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for FlowPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step reached, to be counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelEvent {
    pub tenant_id: TenantId,
    pub step: FunnelStep,
    pub platform: Option<PlatformKey>,
    /// For [`FunnelStep::Exited`]: the page left from.
    pub exited_at: Option<FlowPage>,
    pub at: OffsetDateTime,
    /// Count this step at most once for this browser session (and platform, and page). The
    /// session id only serves the de-duplication; it is never stored with the counts.
    pub once_per: Option<BrowserSessionId>,
}

impl FunnelEvent {
    /// The hour the event is counted in.
    pub fn bucket(&self) -> OffsetDateTime {
        hour_of(self.at)
    }

    /// What identifies "this step" within a session for de-duplication.
    pub fn mark(&self) -> String {
        format!(
            "{}:{}:{}",
            self.step.as_str(),
            self.platform.as_ref().map_or("", PlatformKey::as_str),
            self.exited_at.map_or("", FlowPage::as_str)
        )
    }
}

/// The start of the UTC hour `t` is in.
pub fn hour_of(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_time(time::Time::from_hms(t.hour(), 0, 0).expect("a valid hour"))
}

/// A stored count: how often `step` (for `platform`, left from `exited_at`) was reached in the
/// queried range. The store sums its hourly buckets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FunnelCount {
    pub step: FunnelStep,
    pub platform: Option<PlatformKey>,
    pub exited_at: Option<FlowPage>,
    pub count: i64,
}

/// A step's total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepTotal {
    pub step: FunnelStep,
    pub count: i64,
}

/// From one step of the main path to the next: `rate` = `to` / `from` (`None` when `from` is 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversion {
    pub from: FunnelStep,
    pub to: FunnelStep,
    pub rate: Option<f64>,
}

/// One platform's part of the funnel (steps that concern a platform).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformFunnel {
    pub platform: String,
    pub steps: Vec<StepTotal>,
    pub conversions: Vec<Conversion>,
}

/// How many exits from one page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExitTotal {
    pub page: FlowPage,
    pub count: i64,
}

/// The funnel over a time range: totals per step (every step, zeros included), conversions
/// along the main path, exits by page, and the split by platform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunnelReport {
    pub steps: Vec<StepTotal>,
    pub conversions: Vec<Conversion>,
    pub exits: Vec<ExitTotal>,
    pub platforms: Vec<PlatformFunnel>,
}

fn conversions(totals: &BTreeMap<FunnelStep, i64>, path: &[FunnelStep]) -> Vec<Conversion> {
    path.windows(2)
        .map(|w| {
            let from = totals.get(&w[0]).copied().unwrap_or(0);
            let to = totals.get(&w[1]).copied().unwrap_or(0);
            #[allow(clippy::cast_precision_loss)] // counts far below 2^52
            let rate = (from > 0).then(|| to as f64 / from as f64);
            Conversion {
                from: w[0],
                to: w[1],
                rate,
            }
        })
        .collect()
}

impl FunnelReport {
    pub fn build(counts: &[FunnelCount]) -> Self {
        let mut totals: BTreeMap<FunnelStep, i64> = BTreeMap::new();
        let mut exits: BTreeMap<FlowPage, i64> = BTreeMap::new();
        let mut by_platform: BTreeMap<String, BTreeMap<FunnelStep, i64>> = BTreeMap::new();
        for c in counts {
            *totals.entry(c.step).or_default() += c.count;
            if let Some(page) = c.exited_at {
                *exits.entry(page).or_default() += c.count;
            }
            if let Some(p) = &c.platform {
                *by_platform
                    .entry(p.as_str().to_owned())
                    .or_default()
                    .entry(c.step)
                    .or_default() += c.count;
            }
        }
        let steps = FunnelStep::ALL
            .iter()
            .map(|s| StepTotal {
                step: *s,
                count: totals.get(s).copied().unwrap_or(0),
            })
            .collect();
        // Landing and exits are not per platform: a platform's path starts at its selection.
        let platform_path = &FunnelStep::MAIN_PATH[1..];
        let platforms = by_platform
            .into_iter()
            .map(|(platform, t)| PlatformFunnel {
                platform,
                steps: FunnelStep::ALL
                    .iter()
                    .filter(|s| !matches!(s, FunnelStep::LandingViewed | FunnelStep::Exited))
                    .map(|s| StepTotal {
                        step: *s,
                        count: t.get(s).copied().unwrap_or(0),
                    })
                    .collect(),
                conversions: conversions(&t, platform_path),
            })
            .collect();
        Self {
            conversions: conversions(&totals, &FunnelStep::MAIN_PATH),
            steps,
            exits: exits
                .into_iter()
                .map(|(page, count)| ExitTotal { page, count })
                .collect(),
            platforms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(step: FunnelStep, platform: Option<&str>, n: i64) -> FunnelCount {
        FunnelCount {
            step,
            platform: platform.map(|p| PlatformKey::parse(p).unwrap()),
            exited_at: None,
            count: n,
        }
    }

    #[test]
    fn steps_round_trip() {
        for s in FunnelStep::ALL {
            assert_eq!(FunnelStep::parse(s.as_str()), Some(s));
        }
        for p in FlowPage::ALL {
            assert_eq!(FlowPage::parse(p.as_str()), Some(p));
        }
        assert_eq!(FunnelStep::parse("viewed"), None);
        assert_eq!(FlowPage::parse("platform"), Some(FlowPage::Callback));
        assert_eq!(FlowPage::parse("<script>"), None);
    }

    #[test]
    fn buckets_are_utc_hours() {
        let t = time::macros::datetime!(2030-01-01 10:59:59.5 +02:00);
        assert_eq!(hour_of(t), time::macros::datetime!(2030-01-01 08:00 UTC));
    }

    #[test]
    fn marks_name_step_platform_and_page() {
        let e = FunnelEvent {
            tenant_id: TenantId::new(),
            step: FunnelStep::Exited,
            platform: None,
            exited_at: Some(FlowPage::Consent),
            at: OffsetDateTime::UNIX_EPOCH,
            once_per: None,
        };
        assert_eq!(e.mark(), "exited::consent");
    }

    #[test]
    fn a_report_sums_converts_and_splits() {
        let counts = [
            count(FunnelStep::LandingViewed, None, 10),
            count(FunnelStep::PlatformSelected, Some("sandbox"), 6),
            count(FunnelStep::PlatformSelected, Some("xero"), 2),
            count(FunnelStep::ConsentViewed, Some("sandbox"), 6),
            count(FunnelStep::Consented, Some("sandbox"), 3),
            FunnelCount {
                step: FunnelStep::Exited,
                platform: None,
                exited_at: Some(FlowPage::Consent),
                count: 2,
            },
        ];
        let r = FunnelReport::build(&counts);
        assert_eq!(r.steps.len(), FunnelStep::ALL.len());
        assert_eq!(r.steps[1].count, 8);
        assert_eq!(r.conversions[0].rate, Some(0.8));
        assert_eq!(r.conversions[1].rate, Some(0.75));
        assert_eq!(r.conversions[2].rate, Some(0.5), "3 consents of 6 views");
        assert_eq!(
            r.conversions[3].rate,
            Some(0.0),
            "consented → sent: nobody sent"
        );
        assert_eq!(r.conversions[4].rate, None, "nobody sent, no rate");
        assert_eq!(
            r.exits,
            vec![ExitTotal {
                page: FlowPage::Consent,
                count: 2
            }]
        );
        assert_eq!(r.platforms.len(), 2);
        assert_eq!(r.platforms[0].platform, "sandbox");
        assert_eq!(r.platforms[0].steps[0].count, 6);
        assert_eq!(r.platforms[0].conversions[0].rate, Some(1.0));
        assert_eq!(r.platforms[1].platform, "xero");
        assert_eq!(r.platforms[1].conversions[0].rate, Some(0.0));
    }
}
