//! Leaving mid-flow: the exit control on every hosted-flow step asks once before the customer
//! leaves. With JavaScript it is a dialog (`<dialog>` opened modally: focus stays inside,
//! Escape cancels); without, the control is a link to this confirm page. "Yes, exit" posts
//! here (CSRF-checked) and goes through `/link/finish`, which learns the step left from.

use crate::pages::ctx::LinkCtx;
use crate::pages::error::{PageError, PageErrorKind};
use crate::pages::form::LinkForm;
use crate::pages::templates::ExitPage;
use accord_domain::funnel::FlowPage;
use askama::Template;
use axum::extract::Query;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct ExitQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    platform: Option<String>,
}

/// The page left from, if known (the funnel's [`FlowPage`] names, as `ctx::step_of` gives
/// them), else `other`; the platform only if it is in the catalog.
fn place(
    ctx: &crate::pages::ctx::PageCtx,
    from: &str,
    platform: Option<&str>,
) -> (FlowPage, Option<String>) {
    let step = FlowPage::parse(from).unwrap_or(FlowPage::Other);
    let platform = platform
        .and_then(|k| ctx.state.catalog.find(k))
        .map(|p| p.key.to_string());
    (step, platform)
}

/// Where "Go back" returns to.
fn back_url(step: FlowPage, platform: Option<&str>) -> String {
    match (step, platform) {
        (FlowPage::Landing, _) => "/link/start".to_owned(),
        (FlowPage::Consent | FlowPage::Reconsent, Some(k)) => {
            format!("/link/platforms/{k}/consent")
        }
        (FlowPage::Support, _) => "/link/support".to_owned(),
        _ => "/link/platforms".to_owned(),
    }
}

pub async fn show(
    LinkCtx(ctx): LinkCtx,
    Query(q): Query<ExitQuery>,
) -> Result<Response, PageError> {
    let (step, platform) = place(&ctx, &q.from, q.platform.as_deref());
    let text_html = crate::pages::brand::rich(
        &ctx.tenant.settings.exit_confirmation,
        ctx.locale(),
        &ctx.chrome.placeholders,
    )
    .unwrap_or_else(|| {
        // In the embed SDK's frame the host page made the link: "come back with the same
        // link" does not hold there.
        let id = if ctx.chrome.embed.is_some() {
            "exit-question-embedded"
        } else {
            "exit-question"
        };
        let t = ctx.tr.a1(id, "tenant", &ctx.tenant.name);
        format!(
            "<p>{}</p>",
            askama::filters::escape(&t, askama::filters::Html)
                .map_or_else(|_| String::new(), |e| e.to_string())
        )
    });
    let page = ExitPage {
        csrf: ctx.csrf.clone(),
        from: step.as_str().to_owned(),
        back_url: back_url(step, platform.as_deref()),
        platform,
        text_html,
        chrome: ctx.chrome,
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub struct ExitForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    platform: Option<String>,
}

pub async fn confirm(
    LinkForm { ctx, form, .. }: LinkForm<ExitForm>,
) -> Result<Response, PageError> {
    if form.from.len() > 40 {
        return Err(PageError::new(PageErrorKind::BadRequest));
    }
    let (step, platform) = place(&ctx, &form.from, form.platform.as_deref());
    let to = match platform {
        Some(p) => format!("/link/finish?exited={step}&platform={p}"),
        None => format!("/link/finish?exited={step}"),
    };
    Ok(Redirect::to(&to).into_response())
}
