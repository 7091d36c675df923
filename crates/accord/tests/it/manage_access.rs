//! The manage page's side of data access: each connection's access log in the customer's
//! language (newest first, paged with plain links), the CSV download, and when the consent ends
//! with an offer to renew it in the last 30 days. Access records are written through the store,
//! as the gateway writes them.

use crate::helpers::{spawn_app, Browser, Page, TestApp};
use accord_domain::access::{AccessKind, AccessOutcome, AccessRecord, Refusal};
use accord_domain::catalog::{DataType, Direction};
use accord_domain::ids::{AccessId, ConnectionId};
use reqwest::Method;
use serde_json::json;

async fn connected(app: &TestApp) -> String {
    let success = app.browser().connect(Some(&app.link_url), "sandbox").await;
    success.url.rsplit('/').next().unwrap().to_owned()
}

async fn manage_page(app: &TestApp, accept: &str) -> (Browser, Page) {
    let (status, body) = app
        .api_json(
            Method::POST,
            &format!("/v1/companies/{}/manage-sessions", app.company_id),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let browser = Browser::with_accept_language(&app.base, accept);
    let opened = browser.get(body["url"].as_str().unwrap()).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let page = browser.get("/manage").await;
    assert_eq!(page.status, 200, "{}", page.body);
    (browser, page)
}

/// `n` invoice reads, oldest first, a minute apart; every fifth one refused.
async fn seed(app: &TestApp, connection: &str, n: usize) {
    let connection: ConnectionId = connection.parse().unwrap();
    let company = app.company_id.parse().unwrap();
    let start = accord_domain::Clock::now(&app.clock);
    let mut records = Vec::new();
    for i in 0..n {
        let refused = i % 5 == 4;
        records.push(AccessRecord {
            id: AccessId::new(),
            tenant_id: app.tenant(),
            company_id: company,
            connection_id: connection,
            at: start + time::Duration::minutes(i64::try_from(i).unwrap()),
            kind: AccessKind::Data,
            data_type: Some(DataType::Invoices),
            direction: Some(Direction::Read),
            outcome: if refused {
                AccessOutcome::Refused(Refusal::NotConsented)
            } else {
                AccessOutcome::Served
            },
            platform_status: (!refused).then_some(200),
            records: (!refused).then_some(20),
            bytes: None,
            api_key_id: Some(if i == 0 {
                "=HYPERLINK(\"http://evil\",\"x\")".to_owned()
            } else {
                "acc_test".to_owned()
            }),
        });
        // Ids are time-ordered: one at a time keeps them in order.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    app.state.store.record_access(&records).await.unwrap();
}

fn log_rows(page: &Page) -> Vec<String> {
    page.quiet_texts("section.access-log ol.access li")
        .iter()
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manage_page_shows_the_access_log_newest_first_paged_in_both_languages() {
    let app = spawn_app().await;
    let id = connected(&app).await;
    let (_, empty) = manage_page(&app, "en").await;
    assert_eq!(
        empty.quiet_texts("section.access-log p.muted"),
        ["No data has been accessed through this connection yet."]
    );

    seed(&app, &id, 25).await;
    let (browser, page) = manage_page(&app, "en").await;
    assert_eq!(
        page.quiet_texts("section.access-log h3"),
        ["What was accessed"]
    );
    let rows = log_rows(&page);
    assert_eq!(rows.len(), 20, "{rows:?}");
    // Newest first: the 25th record (index 24) was refused.
    assert!(
        rows[0].ends_with("Read invoices — Refused: not covered by your consent"),
        "{rows:?}"
    );
    assert!(rows[1].ends_with("Read invoices — 20 records"), "{rows:?}");
    assert!(rows[1].contains(" UTC "), "a date and time: {}", rows[1]);
    let older = page.attrs("section.access-log a[rel=next]", "href");
    assert_eq!(older.len(), 1);
    assert!(
        older[0].starts_with(&format!("/manage?log={id}&before=")),
        "{older:?}"
    );
    let next = browser.get(&older[0]).await;
    assert_eq!(next.status, 200);
    assert_eq!(log_rows(&next).len(), 5);
    assert!(!next.has("section.access-log a[rel=next]"), "the last page");
    assert_eq!(
        next.quiet_texts("section.access-log .access-nav a")[0],
        "Newest"
    );

    let (_, fr) = manage_page(&app, "fr").await;
    assert_eq!(
        fr.quiet_texts("section.access-log h3"),
        ["Données consultées"]
    );
    let rows = log_rows(&fr);
    assert!(
        rows[0]
            .ends_with("Consultation : factures clients — Refusé : non couvert par votre accord"),
        "{rows:?}"
    );
    assert!(
        rows[1].ends_with("Consultation : factures clients — 20 enregistrements"),
        "{rows:?}"
    );
    assert!(rows[1].contains(" à "), "{}", rows[1]);
    // The rows above were read with whitespace folded; the page keeps French spacing.
    assert!(fr
        .body
        .contains("Consultation\u{a0}: factures clients — 20\u{a0}enregistrements"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_downloads_as_a_safe_csv_for_this_company_only() {
    let app = spawn_app().await;
    let id = connected(&app).await;
    seed(&app, &id, 3).await;
    let (browser, page) = manage_page(&app, "en").await;
    let href = page.attrs("section.access-log a[download]", "href");
    assert_eq!(href, [format!("/manage/connections/{id}/access-log.csv")]);
    let csv = browser.get(&href[0]).await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    let today = accord_domain::Clock::now(&app.clock).date();
    assert_eq!(
        csv.header("content-disposition"),
        format!("attachment; filename=\"access-log-sandbox-{today}.csv\"")
    );
    let lines: Vec<&str> = csv.body.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "time,kind,data_type,direction,outcome,records,platform_status,api_key_id,description"
    );
    assert_eq!(
        lines.len(),
        5,
        "header, three rows, the final line break: {lines:?}"
    );
    // Newest first; the oldest carries the formula, neutralised and quoted.
    assert!(
        lines[3].contains(",data,invoices,read,served,20,200,"),
        "{}",
        lines[3]
    );
    assert!(
        lines[3].contains(r#""'=HYPERLINK(""http://evil"",""x"")""#),
        "{}",
        lines[3]
    );
    assert!(
        lines[3].ends_with(",Read invoices — 20 records"),
        "{}",
        lines[3]
    );

    // Another company's connection is not found, exactly like one that does not exist.
    let other = app.new_company("Other Co").await;
    let other_link = app.new_link_url(&other).await;
    let other_success = app.browser().connect(Some(&other_link), "sandbox").await;
    let other_id = other_success.url.rsplit('/').next().unwrap().to_owned();
    seed_other(&app, &other, &other_id).await;
    let refused = browser
        .get(&format!("/manage/connections/{other_id}/access-log.csv"))
        .await;
    assert_eq!(refused.status, 404);
    assert!(!refused.body.contains("acc_other"));
    let peek = browser
        .get(&format!(
            "/manage?log={other_id}&before={}",
            AccessId::new()
        ))
        .await;
    assert_eq!(peek.status, 200);
    assert!(!peek.body.contains("acc_other"));
    let missing = browser
        .get(&format!(
            "/manage/connections/{}/access-log.csv",
            ConnectionId::new()
        ))
        .await;
    assert_eq!(missing.status, 404);
}

async fn seed_other(app: &TestApp, company: &str, connection: &str) {
    let record = AccessRecord {
        id: AccessId::new(),
        tenant_id: app.tenant(),
        company_id: company.parse().unwrap(),
        connection_id: connection.parse().unwrap(),
        at: accord_domain::Clock::now(&app.clock),
        kind: AccessKind::Credential,
        data_type: None,
        direction: None,
        outcome: AccessOutcome::Served,
        platform_status: None,
        records: None,
        bytes: None,
        api_key_id: Some("acc_other".into()),
    };
    app.state.store.record_access(&[record]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manage_page_says_when_the_consent_ends_and_offers_renewal_in_its_last_30_days() {
    let app = spawn_app().await;
    let id = connected(&app).await;
    let (_, page) = manage_page(&app, "en").await;
    assert!(
        !page.has("article.connection p.ends"),
        "valid until withdrawn"
    );

    let (status, mut settings) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    assert_eq!(status, 200);
    settings["consent_validity_days"] = json!(90);
    let (status, body) = app
        .api_json(Method::PUT, "/v1/link-settings", Some(settings))
        .await;
    assert_eq!(status, 200, "{body}");
    let ends = accord_domain::Clock::now(&app.clock) + time::Duration::days(90);
    let en_date = format!("{} {} {}", ends.day(), ends.month(), ends.year());
    let (_, page) = manage_page(&app, "en").await;
    assert_eq!(
        page.quiet_texts("article.connection p.ends"),
        [format!("Your agreement ends on {en_date}.")]
    );
    assert!(!page.has("article.connection p.ends a"), "no renewal yet");

    app.clock.advance(time::Duration::days(61));
    let (browser, page) = manage_page(&app, "en").await;
    let renew = page.attrs("article.connection p.ends a", "href");
    assert_eq!(renew, [format!("/manage/connections/{id}/reconsent")]);
    assert_eq!(
        page.quiet_texts("article.connection p.ends a"),
        ["Renew it now"]
    );
    let screen = browser.get(&renew[0]).await;
    assert_eq!(screen.status, 200, "the re-consent screen: {}", screen.body);

    let (_, fr) = manage_page(&app, "fr").await;
    let text = fr.quiet_texts("article.connection p.ends").join(" ");
    assert!(text.starts_with("Votre accord prend fin le "), "{text}");
    assert!(text.contains("Le renouveler maintenant"), "{text}");
}
