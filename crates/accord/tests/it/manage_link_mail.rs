//! The tenant has Accord e-mail a fresh personal manage link to its customer: the mail arrives
//! through a local SMTP sink in the customer's language, naming the tenant, with a link that
//! opens that company's manage page and disconnects with plain forms (no script); the link is
//! never in the API's answer nor readable in the job queue; bad input, no SMTP and too many
//! e-mails are refused and create nothing.

use crate::helpers::{spawn_app, spawn_app_with, Browser, TestApp};
use crate::smtp::{wait_for_messages, Received, SmtpSink};
use accord_domain::tenant::{Job, JobKind};
use reqwest::Method;
use serde_json::json;

async fn app_mailing_to(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    spawn_app_with(
        &[
            ("smtp.url", &url),
            ("smtp.from", "Accord <accord@accord.test>"),
        ],
        None,
    )
    .await
}

fn path(app: &TestApp) -> String {
    format!("/v1/companies/{}/manage-links", app.company_id)
}

async fn link_jobs(app: &TestApp) -> Vec<Job> {
    app.jobs(JobKind::SendLinkEmail).await
}

/// How many manage links of the demo company are stored (revoking them all says; the
/// company's links are then of no further use to the test).
async fn revoke_all(app: &TestApp) -> u64 {
    let (status, body) = app.api_json(Method::DELETE, &path(app), None).await;
    assert_eq!(status, 200, "{body}");
    body["revoked"].as_u64().unwrap()
}

/// The manage link in a mail's text (the whole URL).
fn link_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.contains("/manage/return/"))
        .unwrap_or_else(|| panic!("no manage link in:\n{text}"))
        .to_owned()
}

/// Opens `link` as a customer does (its page, then its one button, no script): the manage page.
async fn open(browser: &Browser, link: &str) -> crate::helpers::Page {
    let link = &link[link.find("/manage/return/").unwrap()..];
    let asked = browser.get(link).await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let opened = browser.get(&format!("{link}?go=1")).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    browser.get(&opened.location()).await
}

#[tokio::test]
async fn an_emailed_link_arrives_opens_the_company_page_and_disconnects_without_script() {
    let sink = SmtpSink::start(0).await;
    let app = app_mailing_to(&sink).await;
    app.browser().connect(Some(&app.link_url), "sandbox").await;

    let (status, body) = app
        .api_json(
            Method::POST,
            &path(&app),
            Some(json!({ "email": "owner@bluebell.example" })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, json!({ "emailed_to": "owner@bluebell.example" }));

    let jobs = link_jobs(&app).await;
    assert_eq!(jobs.len(), 1, "one e-mail job");
    let queued = jobs[0].payload.to_string();
    assert_eq!(jobs[0].payload["purpose"], "manage_link");
    assert!(!queued.contains("/manage/return/"), "{queued}");
    assert!(
        !queued.contains("bluebell"),
        "the address is sealed too: {queued}"
    );

    let mail: Received = wait_for_messages(&sink, 1).await.remove(0);
    assert_eq!(mail.from, "<accord@accord.test>");
    assert_eq!(mail.to, ["<owner@bluebell.example>"]);
    let (headers, text) = mail.decoded();
    assert!(
        headers.contains(
            "Subject: Your personal link to manage what you share with Northwind Lending"
        ),
        "{headers}"
    );
    for expected in [
        "Northwind Lending sent you a personal link to the page where Bluebell",
        "withdraw access (disconnect) at any time, and download your records of consent",
        "This link is personal",
        "Questions? Contact Northwind Lending: help@northwind-lending.example",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    let link = link_in(&text);
    let token = link.rsplit('/').next().unwrap().to_owned();

    // Once sent, the job keeps nothing of the message; at no time was the link stored readable.
    let done = app.wait_job_done(jobs[0].id).await;
    assert_eq!((done.attempts, done.last_error), (1, None));
    assert!(done.payload.get("message_ct").is_none(), "{}", done.payload);
    for (file, bytes) in app.data_files() {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the link's token is readable in {file}"
        );
    }

    let browser = app.browser();
    let page = open(&browser, &link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Bluebell"), "{}", page.body);
    let href = page.attrs("article.connection a.danger", "href").remove(0);
    let confirm = browser.get(&href).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let (action, fields) = confirm.quiet_form("main form[method=post]");
    let disconnected = browser.post(&action, &fields).await;
    assert_eq!(disconnected.status, 303, "{}", disconnected.body);
    assert_eq!(app.connections().await[0]["status"], "disconnected");
}

#[tokio::test]
async fn the_mail_is_in_french_when_asked() {
    let sink = SmtpSink::start(0).await;
    let app = app_mailing_to(&sink).await;
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let (status, body) = app
        .api_json(
            Method::POST,
            &path(&app),
            Some(json!({ "email": "patron@bluebell.example", "locale": "fr" })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (_, text) = wait_for_messages(&sink, 1).await.remove(0).decoded();
    for expected in [
        "Bonjour,",
        "Northwind Lending vous a envoyé un lien personnel vers la page où Bluebell",
        "retirer l’accès (couper la connexion) à tout moment et télécharger vos justificatifs de consentement\u{202f}:",
        "Ce lien est personnel\u{202f}:",
        "Des questions\u{202f}? Contactez Northwind Lending\u{202f}: help@northwind-lending.example",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    assert!(link_in(&text).contains("/manage/return/"));
}

#[tokio::test]
async fn bad_input_is_refused_and_creates_nothing() {
    let sink = SmtpSink::start(0).await;
    let app = app_mailing_to(&sink).await;
    // Nothing in force yet: 409 as without e-mail, and nothing made.
    let (status, problem) = app
        .api_json(
            Method::POST,
            &path(&app),
            Some(json!({ "email": "owner@bluebell.example" })),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(revoke_all(&app).await, 0);

    app.browser().connect(Some(&app.link_url), "sandbox").await;
    for (body, field) in [
        (json!({ "email": "not an address" }), "email"),
        (
            json!({ "email": "Owner <owner@bluebell.example>" }),
            "email",
        ),
        (
            json!({ "email": "owner@bluebell.example\r\nBcc: x@evil.example" }),
            "email",
        ),
        (
            json!({ "email": "owner@bluebell.example", "locale": "de" }),
            "locale",
        ),
        (json!({ "locale": "de" }), "locale"),
    ] {
        let (status, problem) = app
            .api_json(Method::POST, &path(&app), Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["path"], field, "{problem}");
    }
    let (status, problem) = app
        .api_json(
            Method::POST,
            &path(&app),
            Some(json!({ "emial": "x@y.example" })),
        )
        .await;
    assert_eq!(status, 422, "an unknown field: {problem}");
    assert!(link_jobs(&app).await.is_empty(), "no job queued");
    assert_eq!(
        revoke_all(&app).await,
        1,
        "only the flow's own link was stored"
    );
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn without_smtp_the_link_cannot_be_emailed_and_nothing_is_created() {
    let app = spawn_app().await;
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let (status, problem) = app
        .api_json(
            Method::POST,
            &path(&app),
            Some(json!({ "email": "owner@bluebell.example" })),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("this Accord has no SMTP configured"),
        "{problem}"
    );
    assert!(link_jobs(&app).await.is_empty());
    assert_eq!(
        revoke_all(&app).await,
        1,
        "only the flow's own link was stored"
    );

    // Without a body, or with the JSON `null` the document allows, or with only a locale, the
    // link is still handed out to send yourself.
    for body in [None, Some(json!(null)), Some(json!({ "locale": "fr" }))] {
        let (status, answer) = app.api_json(Method::POST, &path(&app), body.clone()).await;
        assert_eq!(status, 201, "{body:?}: {answer}");
        assert!(answer["url"].as_str().unwrap().contains("/manage/return/"));
    }
}

#[tokio::test]
async fn emailed_links_are_limited_per_company_with_retry_after() {
    let sink = SmtpSink::start(0).await;
    let app = app_mailing_to(&sink).await;
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let send = || async {
        let res = app
            .api(Method::POST, &path(&app))
            .json(&json!({ "email": "owner@bluebell.example" }))
            .send()
            .await
            .unwrap();
        let retry = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (res.status().as_u16(), retry)
    };
    for _ in 0..5 {
        assert_eq!(send().await.0, 202);
    }
    let (status, retry) = send().await;
    assert_eq!(status, 429);
    assert_eq!(retry.as_deref(), Some("720"), "one more every 12 minutes");
    assert_eq!(
        link_jobs(&app).await.len(),
        5,
        "the refused one queued nothing"
    );
    assert_eq!(
        revoke_all(&app).await,
        6,
        "the flow's link and five e-mailed"
    );

    // Another company of the tenant has its own allowance.
    let other = app.new_company("Acme Widgets").await;
    let other_url = app.new_link_url(&other).await;
    app.browser().connect(Some(&other_url), "sandbox").await;
    let (status, _) = app
        .api_json(
            Method::POST,
            &format!("/v1/companies/{other}/manage-links"),
            Some(json!({ "email": "owner@acme.example" })),
        )
        .await;
    assert_eq!(status, 202);

    app.clock.advance(time::Duration::minutes(12));
    assert_eq!(send().await.0, 202, "allowed again once the time passed");
    wait_for_messages(&sink, 7).await;
}
