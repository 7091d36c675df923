//! Console invitations by e-mail: with SMTP configured the set-password link is e-mailed to
//! the person invited, in the inviter's console language, sealed in its job until sent, and the
//! page says it was sent; without SMTP it is shown to copy as before.

use crate::helpers::console::{csrf, fields, member, set_password, signed_in};
use crate::helpers::{spawn_app_with, Browser, Page, TestApp};
use crate::smtp::{wait_for_messages, SmtpSink};
use accord_domain::console::Role;
use accord_domain::tenant::JobKind;

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

/// Invites `email` as an admin from `owner`'s console, posting to `at` (the people page, with
/// a language when one is chosen); returns the answered page.
async fn invite(owner: &Browser, at: &str, email: &str) -> Page {
    let token = csrf(owner).await;
    let form = fields(&[
        ("csrf", &token),
        ("email", email),
        ("name", "New Person"),
        ("role", "admin"),
    ]);
    owner.post(at, &form).await
}

/// The set-password link in a mail's text (its path).
fn link_in(text: &str) -> String {
    let url = text
        .split_whitespace()
        .find(|w| w.contains("/console/set-password/"))
        .unwrap_or_else(|| panic!("no set-password link in:\n{text}"));
    url[url.find("/console/").unwrap()..].to_owned()
}

#[tokio::test]
async fn an_invitation_is_emailed_and_its_link_opens_the_account() {
    let sink = SmtpSink::start(0).await;
    let app = app_mailing_to(&sink).await;
    let (owner, _) = member(&app, "owner@lender.example", Role::Owner).await;
    let hint = owner.get("/console/people").await;
    assert!(
        hint.body.contains("Accord e-mails it to the person"),
        "{}",
        hint.body
    );

    let page = invite(&owner, "/console/people", "New.Person@Lender.example").await;
    assert_eq!(page.status, 201, "{}", page.body);
    let flash = page.quiet_texts(".flash p").join(" ");
    assert!(
        flash.contains("Invitation sent to new.person@lender.example."),
        "{flash}"
    );
    let shown = page.quiet_texts(".flash code").join("");

    let jobs = app.jobs(JobKind::SendLinkEmail).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].payload["purpose"], "console_invitation");
    assert!(!jobs[0].payload.to_string().contains("set-password"));

    let mail = wait_for_messages(&sink, 1).await.remove(0);
    assert_eq!(mail.to, ["<new.person@lender.example>"]);
    let (headers, text) = mail.decoded();
    assert!(
        headers.contains(
            "Subject: owner of the demo invited you to Northwind Lending's Accord console"
        ),
        "{headers}"
    );
    for expected in [
        "owner of the demo invited you to the Accord console of Northwind Lending, as Admin.",
        "it works once, until",
        "The link is personal",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    let path = link_in(&text);
    assert!(
        shown.ends_with(&path),
        "the page shows the same link: {shown}"
    );
    app.wait_job_done(jobs[0].id).await;

    let done = set_password(&app.browser(), &path).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), "/console?done=password-set");
}

#[tokio::test]
async fn the_invitation_is_in_the_inviters_console_language() {
    let sink = SmtpSink::start(0).await;
    let app = app_mailing_to(&sink).await;
    let (owner, _) = member(&app, "owner@lender.example", Role::Owner).await;
    let page = invite(&owner, "/console/people?lang=fr", "nouvelle@lender.example").await;
    assert_eq!(page.status, 201, "{}", page.body);
    assert!(
        page.quiet_texts(".flash p")
            .join(" ")
            .contains("Invitation envoyée à nouvelle@lender.example."),
        "{}",
        page.body
    );
    let (_, text) = wait_for_messages(&sink, 1).await.remove(0).decoded();
    for expected in [
        "vous invite dans la console Accord de Northwind Lending",
        "Pour accepter, choisissez votre mot de passe avec ce lien",
        "Ce lien est personnel\u{202f}:",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn without_smtp_the_invitation_is_a_link_to_copy() {
    let (app, owner, _) = signed_in(Role::Owner).await;
    let page = invite(&owner, "/console/people", "copy@lender.example").await;
    assert_eq!(page.status, 201, "{}", page.body);
    let flash = page.quiet_texts(".flash p").join(" ");
    assert!(
        flash.contains("The link for copy@lender.example"),
        "{flash}"
    );
    assert!(!flash.contains("Invitation sent"), "{flash}");
    assert!(app.jobs(JobKind::SendLinkEmail).await.is_empty());
    let shown = page.quiet_texts(".flash code").join("");
    let path = shown[shown.find("/console/").unwrap()..].to_owned();
    assert_eq!(set_password(&app.browser(), &path).await.status, 303);
}
