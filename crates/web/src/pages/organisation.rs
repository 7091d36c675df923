//! The question a reconnect asks when the customer signed in to a different organisation than
//! the connection had: keep the earlier one (the new grant is revoked, nothing else changes) or
//! connect the new organisation as a connection of its own. A plain form with two buttons, so it
//! works without JavaScript; the grant waits server-side (`services::organisation`).

use crate::pages::error::{PageError, PageErrorKind};
use crate::pages::form::LinkForm;
use crate::pages::link::{html, own_connection, ErrorPlace};
use crate::pages::templates::{OrganisationKeptPage, OrganisationQuestionPage};
use crate::services::organisation::{self, label, Question};
use accord_domain::catalog::Platform;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Asked at the callback, in place of linking.
pub(crate) async fn question(
    place: ErrorPlace<'_>,
    platform: &Platform,
    q: &Question,
) -> Result<Response, PageError> {
    let (tr, csrf, chrome) = place.chrome().await;
    html(&OrganisationQuestionPage {
        csrf,
        action: format!("/link/connections/{}/organisation", q.connection),
        handle: q.handle.clone(),
        lead: tr.a2(
            "organisation-question-lead",
            "previous",
            &label(Some(&q.previous), &platform.name),
            "new",
            &q.new.name,
        ),
        keep: tr.a1("organisation-question-keep", "previous", &q.previous.name),
        add: tr.a1("organisation-question-new", "new", &q.new.name),
        platform_key: platform.key.to_string(),
        chrome,
    })
}

#[derive(Deserialize, Debug, Default)]
pub struct AnswerForm {
    #[serde(default)]
    handle: String,
    #[serde(default)]
    choice: String,
}

/// The answer. An unknown, spent or expired handle finds no grant: the page for a sign-in that
/// can no longer complete, and nothing changes.
pub async fn answer(
    Path(id): Path<String>,
    LinkForm { ctx, form, .. }: LinkForm<AnswerForm>,
) -> Result<Response, PageError> {
    let conn = own_connection(&ctx, &id).await?;
    if !matches!(form.choice.as_str(), "keep" | "new") {
        return Err(PageError::new(PageErrorKind::BadRequest));
    }
    let Some(held) = organisation::take(&ctx.state, &ctx.session, conn.id, &form.handle).await?
    else {
        return Err(PageError::new(PageErrorKind::BadState));
    };
    let platform_name = ctx
        .state
        .catalog
        .get(&conn.platform_key)
        .map_or_else(|| conn.platform_key.to_string(), |p| p.name.clone());
    if form.choice == "new" {
        let linked = organisation::connect_new(&ctx.state, &conn, held).await?;
        let to = format!("/link/connections/{}", linked.connection.id);
        return Ok(Redirect::to(&to).into_response());
    }
    organisation::keep_previous(&ctx.state, &conn, &held).await?;
    html(&OrganisationKeptPage {
        body: ctx.tr.a2(
            "organisation-kept-body",
            "previous",
            &label(conn.upstream.as_ref(), &platform_name),
            "new",
            &held.upstream.name,
        ),
        platform_key: conn.platform_key.to_string(),
        chrome: ctx.chrome,
    })
}
