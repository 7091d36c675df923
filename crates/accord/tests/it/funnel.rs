//! The funnel: scripted flows through the sandbox, then the exact counts of
//! `GET /v1/analytics/funnel` — per step, conversions, exits and the split by platform —
//! with reloads not counted twice and no personal data kept with the counts.

use crate::helpers::{spawn_app, spawn_app_on_postgres, Browser, TestApp};
use serde_json::{json, Value};

async fn funnel(app: &TestApp, query: &str) -> (u16, Value) {
    app.api_json(
        reqwest::Method::GET,
        &format!("/v1/analytics/funnel{query}"),
        None,
    )
    .await
}

/// `{step: count}` of a `steps` array.
fn counts(steps: &Value) -> Vec<(String, i64)> {
    steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn expect(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect()
}

/// Opens a fresh link for a new company in `browser`, and views the landing page.
async fn enter(app: &TestApp, browser: &Browser, company: &str) {
    let company_id = app.new_company(company).await;
    let opened = browser.get(&app.new_link_url(&company_id).await).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let landing = browser.get(&opened.location()).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
}

/// Three customers:
/// 1. connects the sandbox (reloading the landing and the consent page on the way), then
///    finishes;
/// 2. views the sandbox bank's consent and declines;
/// 3. agrees to the sandbox, denies at the platform, and finishes with nothing connected.
async fn scripted_flows(app: &TestApp) {
    let one = app.browser();
    enter(app, &one, "Alder Ltd").await;
    assert_eq!(one.get("/link/start").await.status, 200, "a reload");
    assert_eq!(one.get("/link/platforms").await.status, 200);
    assert_eq!(
        one.get("/link/platforms/sandbox/consent").await.status,
        200,
        "viewed once before the helper views it again"
    );
    let success = one.connect(None, "sandbox").await;
    assert_eq!(success.status, 200);
    assert_eq!(one.get("/link/finish").await.status, 200);
    assert_eq!(
        one.get("/link/platforms").await.status,
        403,
        "finishing ended the session"
    );
    assert_eq!(
        one.get("/link/finish").await.status,
        200,
        "a reload shows the closing page again, and is not counted again"
    );

    let two = app.browser();
    enter(app, &two, "Birch Ltd").await;
    let consent = two.get("/link/platforms/sandbox-bank/consent").await;
    let (action, mut fields) = consent.quiet_form("form.consent-form");
    fields.insert("action".into(), "decline".into());
    assert_eq!(two.post(&action, &fields).await.status, 200);

    let three = app.browser();
    enter(app, &three, "Cedar Ltd").await;
    let to_platform = three.consent("sandbox", true).await;
    assert_eq!(to_platform.status, 303, "{}", to_platform.body);
    let callback = three
        .sandbox_decide(&to_platform.location(), "Cedar", false)
        .await;
    assert_eq!(three.get(&callback.location()).await.status, 200);
    assert_eq!(three.get("/link/finish").await.status, 200);
}

async fn assert_scripted_counts(app: &TestApp) {
    let (status, body) = funnel(app, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        counts(&body["steps"]),
        expect(&[
            ("landing_viewed", 3),
            ("platform_selected", 3),
            ("consent_viewed", 3),
            ("consented", 2),
            ("declined", 1),
            ("sent_to_platform", 2),
            ("callback_succeeded", 1),
            ("callback_failed", 1),
            ("connected", 1),
            ("exited", 2),
        ]),
        "{body:#}"
    );
    let rates: Vec<(String, String, Value)> = body["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["from"].as_str().unwrap().to_owned(),
                c["to"].as_str().unwrap().to_owned(),
                c["rate"].clone(),
            )
        })
        .collect();
    let rate = |from: &str, to: &str, r: f64| (from.to_owned(), to.to_owned(), json!(r));
    assert_eq!(
        rates,
        [
            rate("landing_viewed", "platform_selected", 1.0),
            rate("platform_selected", "consent_viewed", 1.0),
            rate("consent_viewed", "consented", 2.0 / 3.0),
            rate("consented", "sent_to_platform", 1.0),
            rate("sent_to_platform", "callback_succeeded", 0.5),
            rate("callback_succeeded", "connected", 1.0),
        ]
    );
    assert_eq!(
        body["exits"],
        json!([{"page": "select", "count": 1}, {"page": "success", "count": 1}])
    );
    let platforms = body["platforms"].as_array().unwrap();
    let names: Vec<&str> = platforms
        .iter()
        .map(|p| p["platform"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sandbox", "sandbox-bank"]);
    assert_eq!(
        counts(&platforms[0]["steps"]),
        expect(&[
            ("platform_selected", 2),
            ("consent_viewed", 2),
            ("consented", 2),
            ("declined", 0),
            ("sent_to_platform", 2),
            ("callback_succeeded", 1),
            ("callback_failed", 1),
            ("connected", 1),
        ])
    );
    assert_eq!(
        counts(&platforms[1]["steps"]),
        expect(&[
            ("platform_selected", 1),
            ("consent_viewed", 1),
            ("consented", 0),
            ("declined", 1),
            ("sent_to_platform", 0),
            ("callback_succeeded", 0),
            ("callback_failed", 0),
            ("connected", 0),
        ])
    );
    assert_eq!(platforms[1]["conversions"][1]["rate"], json!(0.0));
    assert_eq!(platforms[1]["conversions"][2]["rate"], Value::Null);
    // Nothing personal in the answer.
    let text = body.to_string();
    for personal in ["127.0.0.1", "AccordTest", "Alder", "Cedar", "Birch"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
}

#[tokio::test]
async fn scripted_flows_give_exact_funnel_counts() {
    let app = spawn_app().await;
    scripted_flows(&app).await;
    assert_scripted_counts(&app).await;
}

#[tokio::test]
async fn scripted_flows_give_exact_funnel_counts_on_postgres() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    scripted_flows(&app).await;
    assert_scripted_counts(&app).await;
}

/// Leaves the flow from `page` the way a customer without JavaScript does: its Exit link, the
/// confirmation page's "Yes, exit", then `/link/finish`. Returns the exit link followed.
async fn exit_from(browser: &Browser, page: &crate::helpers::Page) -> String {
    let link = page.attrs("a.exit[data-exit]", "href");
    assert_eq!(
        link.len(),
        1,
        "an exit control on {}: {}",
        page.url,
        page.body
    );
    let confirm = browser.get(&link[0]).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    // The dialog (JavaScript's way) names the same page as the link.
    let (_, dialog) = page.quiet_form("dialog#exit-dialog form");
    let (action, fields) = confirm.quiet_form("main form");
    assert_eq!(dialog["from"], fields["from"], "{}", page.url);
    let left = browser.post(&action, &fields).await;
    assert_eq!(left.status, 303, "{}", left.body);
    let finish = browser.get(&left.location()).await;
    assert_eq!(finish.status, 200, "{}", finish.body);
    link[0].clone()
}

/// Exits are counted under the page they were made from, in the funnel's own words: from the
/// consent step, from the page after declining, and from the page after a failed sign-in.
#[tokio::test]
async fn exits_are_counted_where_the_customer_left() {
    let app = spawn_app().await;

    let one = app.browser();
    enter(&app, &one, "Alder Ltd").await;
    let consent = one.get("/link/platforms/sandbox/consent").await;
    assert_eq!(
        exit_from(&one, &consent).await,
        "/link/exit?from=consent&platform=sandbox"
    );

    let two = app.browser();
    enter(&app, &two, "Birch Ltd").await;
    let to_platform = two.consent("sandbox", true).await;
    let callback = two
        .sandbox_decide(&to_platform.location(), "Birch", false)
        .await;
    let failed = two.get(&callback.location()).await;
    assert_eq!(failed.status, 200, "{}", failed.body);
    assert_eq!(
        exit_from(&two, &failed).await,
        "/link/exit?from=callback&platform=sandbox"
    );

    let three = app.browser();
    enter(&app, &three, "Cedar Ltd").await;
    let consent = three.get("/link/platforms/sandbox-bank/consent").await;
    let (action, mut fields) = consent.quiet_form("form.consent-form");
    fields.insert("action".into(), "decline".into());
    let declined = three.post(&action, &fields).await;
    assert_eq!(declined.status, 200);
    assert_eq!(
        exit_from(&three, &declined).await,
        "/link/exit?from=declined&platform=sandbox-bank"
    );

    // The support form is a page of its own, not the platform list.
    let four = app.browser();
    enter(&app, &four, "Dogwood Ltd").await;
    let support = four.get("/link/support?step=select").await;
    assert_eq!(exit_from(&four, &support).await, "/link/exit?from=support");

    let (status, body) = funnel(&app, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["exits"],
        json!([
            {"page": "consent", "count": 1},
            {"page": "declined", "count": 1},
            {"page": "callback", "count": 1},
            {"page": "support", "count": 1}
        ]),
        "{body:#}"
    );
    let exited = counts(&body["steps"])
        .into_iter()
        .find(|(s, _)| s == "exited")
        .unwrap();
    assert_eq!(exited.1, 4);
}

#[tokio::test]
async fn the_counts_hold_no_personal_data() {
    let app = spawn_app().await;
    scripted_flows(&app).await;
    // The counts are written once a second: write them now, before reading the table.
    app.state.funnel.flush(&*app.state.store).await;
    let db = app.data_dir.path().join("accord.db");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let strings = |sql: &str| -> Vec<String> {
        let mut statement = conn.prepare(sql).unwrap();
        let rows = statement.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    };
    let columns = strings("select name from pragma_table_info('funnel_counts')");
    assert_eq!(
        columns,
        [
            "tenant_id",
            "bucket",
            "step",
            "platform_key",
            "exited_at",
            "count"
        ]
    );
    let rows = strings(
        "select step || ' ' || platform_key || ' ' || exited_at || ' ' || count as line from funnel_counts",
    );
    assert!(!rows.is_empty());
    for row in &rows {
        assert!(
            !row.contains("127.0.0.1") && !row.contains("AccordTest"),
            "{row}"
        );
    }
}

#[tokio::test]
async fn the_range_selects_hours_and_bad_ranges_are_422() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    browser.get("/link/start").await;
    let (status, body) = funnel(&app, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["steps"][0],
        json!({"step": "landing_viewed", "count": 1})
    );

    // A day later, yesterday's landing is outside a range starting today.
    app.clock.advance(time::Duration::days(1));
    let today = accord_domain::Clock::now(&app.clock).date();
    let (status, body) = funnel(&app, &format!("?from={today}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["steps"][0]["count"], 0);
    assert_eq!(
        body["conversions"][0]["rate"],
        Value::Null,
        "no rate without a start"
    );
    let (status, body) = funnel(&app, "").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["steps"][0]["count"], 1,
        "the default is the last 30 days"
    );

    for (query, field) in [
        ("?from=yesterday", "from"),
        ("?to=2026-13-01", "to"),
        ("?from=2026-11-02&to=2026-11-01", "to"),
        ("?from=2020-01-01&to=2026-01-01", "to"),
    ] {
        let (status, body) = funnel(&app, query).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["errors"][0]["path"], field, "{query}: {body}");
    }
}

#[tokio::test]
async fn the_manage_page_is_not_part_of_the_funnel() {
    let app = spawn_app().await;
    let browser = app.browser();
    let opened = browser.get(&app.manage_url).await;
    browser.get(&opened.location()).await;
    let (_, body) = funnel(&app, "").await;
    assert!(
        counts(&body["steps"]).iter().all(|(_, n)| *n == 0),
        "{body}"
    );
}
