//! The customer's side of the access log: on the manage page, what was accessed through each
//! connection — newest first, a page at a time through plain links (`?log=&before=`), in the
//! customer's language — and the whole log as a CSV download.

use crate::i18n::Tr;
use crate::pages::ctx::{ManageCtx, PageCtx};
use crate::pages::error::{PageError, PageErrorKind};
use crate::services::nda::long_date;
use accord_domain::access::{AccessKind, AccessOutcome, AccessRecord};
use accord_domain::catalog::Direction;
use accord_domain::connection::Connection;
use accord_domain::ids::{AccessId, ConnectionId};
use accord_domain::locale::Locale;
use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

/// Rows per page of one connection's log: enough to see what happens, light enough that the
/// manage page stays one quick download.
pub const PAGE: u32 = 20;
/// Rows read from the store per round while writing the CSV.
const CSV_CHUNK: u32 = 500;
/// The most rows one CSV holds; a log longer than this is cut, newest rows kept.
const CSV_MAX_ROWS: usize = 100_000;

/// One access as the customer reads it.
#[derive(Debug, Clone)]
pub struct AccessRow {
    pub at: String,
    /// RFC 3339, for `<time datetime>`.
    pub at_iso: String,
    /// "Read invoices — 20 records", "Read invoices — Refused: not covered by your consent".
    pub text: String,
    pub refused: bool,
}

/// A connection's log as its manage-page card shows it.
#[derive(Debug, Clone, Default)]
pub struct AccessLogView {
    pub rows: Vec<AccessRow>,
    /// The link to the next older page, when there is one.
    pub older: Option<String>,
    /// The link back to the newest page, when this is an older one.
    pub newest: Option<String>,
    pub csv_url: String,
}

/// The date and time of an access in the customer's language ("5 March 2026, 14:03 UTC").
pub fn when(locale: Locale, at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let date = long_date(locale, at.date());
    match locale {
        Locale::En => format!("{date}, {:02}:{:02} UTC", at.hour(), at.minute()),
        Locale::Fr => format!("{date} à {:02}:{:02} UTC", at.hour(), at.minute()),
    }
}

/// What an access was and how it ended, in plain words.
pub fn describe(tr: &Tr, r: &AccessRecord, tenant: &str) -> String {
    let data = r
        .data_type
        .map(|d| tr.t(&format!("data-type-{d}")).to_lowercase());
    let what = match (r.kind, data, r.direction) {
        (AccessKind::Credential, ..) => tr.a1("access-credential", "tenant", tenant),
        (_, Some(d), Some(Direction::Write)) => tr.a1("access-write", "data", &d),
        (_, Some(d), _) => tr.a1("access-read", "data", &d),
        (_, None, _) => tr.t("access-proxy"),
    };
    let outcome = match r.outcome {
        AccessOutcome::Served => r.records.map(|n| {
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            tr.n("access-records", "count", n)
        }),
        AccessOutcome::Refused(why) => Some(tr.t(&format!(
            "access-refused-{}",
            why.as_str().replace('_', "-")
        ))),
        AccessOutcome::PlatformError => Some(tr.t("access-platform-error")),
    };
    match outcome {
        Some(o) => format!("{what} — {o}"),
        None => what,
    }
}

fn row(tr: &Tr, r: &AccessRecord, tenant: &str) -> AccessRow {
    AccessRow {
        at: when(tr.locale, r.at),
        at_iso: r
            .at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        text: describe(tr, r, tenant),
        refused: matches!(r.outcome, AccessOutcome::Refused(_)),
    }
}

/// One page of `conn`'s log for its card: the newest, or the one before `before` when the
/// customer paged this connection's log (`?log={id}&before={access id}`).
pub async fn view(
    ctx: &PageCtx,
    conn: &Connection,
    paged: Option<(ConnectionId, Option<AccessId>)>,
) -> Result<AccessLogView, PageError> {
    let before = paged.filter(|(id, _)| *id == conn.id).and_then(|(_, b)| b);
    let mut records = ctx
        .state
        .access_log()
        .access_log(ctx.tenant.id, conn.id, before, PAGE + 1)
        .await?;
    let more = records.len() > PAGE as usize;
    records.truncate(PAGE as usize);
    let older = match records.last() {
        Some(last) if more => Some(format!(
            "/manage?log={}&before={}#log-{}",
            conn.id, last.id, conn.id
        )),
        _ => None,
    };
    Ok(AccessLogView {
        rows: records
            .iter()
            .map(|r| row(&ctx.tr, r, &ctx.tenant.name))
            .collect(),
        older,
        newest: before.map(|_| format!("/manage#log-{}", conn.id)),
        csv_url: format!("/manage/connections/{}/access-log.csv", conn.id),
    })
}

/// A CSV cell: RFC 4180 quoting, and a cell a spreadsheet would read as a formula (starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return) made plain text with a leading `'`.
pub fn cell(value: &str) -> String {
    let neutral = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if neutral.contains([',', '"', '\n', '\r']) || neutral != neutral.trim() {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

const CSV_HEADER: [&str; 9] = [
    "time",
    "kind",
    "data_type",
    "direction",
    "outcome",
    "records",
    "platform_status",
    "api_key_id",
    "description",
];

fn csv_line(out: &mut String, cells: &[String]) {
    let line: Vec<String> = cells.iter().map(|c| cell(c)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

fn csv_record(out: &mut String, tr: &Tr, r: &AccessRecord, tenant: &str) {
    let opt = |v: Option<String>| v.unwrap_or_default();
    csv_line(
        out,
        &[
            r.at.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            r.kind.as_str().to_owned(),
            opt(r.data_type.map(|d| d.to_string())),
            opt(r.direction.map(|d| d.as_str().to_owned())),
            r.outcome.as_str().to_owned(),
            opt(r.records.map(|n| n.to_string())),
            opt(r.platform_status.map(|n| n.to_string())),
            opt(r.api_key_id.clone()),
            describe(tr, r, tenant),
        ],
    );
}

/// `GET /manage/connections/{id}/access-log.csv`: the connection's whole log, newest first,
/// with a header row. Another company's connection is 404, exactly like one that does not exist.
pub async fn csv(ManageCtx(ctx): ManageCtx, Path(id): Path<String>) -> Result<Response, PageError> {
    let id: ConnectionId = id
        .parse()
        .map_err(|_| PageError::new(PageErrorKind::NotFound))?;
    let conn = ctx
        .state
        .connections()
        .connection(ctx.tenant.id, id)
        .await?
        .filter(|c| c.company_id == ctx.company.id)
        .ok_or(PageError::new(PageErrorKind::NotFound))?;
    let mut out = String::new();
    csv_line(&mut out, &CSV_HEADER.map(str::to_owned));
    let (mut before, mut rows) = (None, 0);
    loop {
        let chunk = ctx
            .state
            .access_log()
            .access_log(ctx.tenant.id, conn.id, before, CSV_CHUNK)
            .await?;
        for r in &chunk {
            csv_record(&mut out, &ctx.tr, r, &ctx.tenant.name);
        }
        rows += chunk.len();
        match chunk.last() {
            Some(last) if chunk.len() == CSV_CHUNK as usize && rows < CSV_MAX_ROWS => {
                before = Some(last.id);
            }
            _ => break,
        }
    }
    // The platform key is a catalog key ([a-z0-9-]), so the name needs no escaping.
    let date = ctx.state.clock.now().date();
    let filename = format!("access-log-{}-{date}.csv", conn.platform_key);
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .map_err(|e| PageError::internal(&e))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_as_rfc_4180_says() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn formulas_become_text() {
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("+33"), "'+33");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(
            cell("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
        assert_eq!(cell("a=b"), "a=b");
    }
}
