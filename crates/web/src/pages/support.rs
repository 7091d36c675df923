//! Support requests from any step, JavaScript optional: topic, message and a way to reply, with
//! diagnostics attached automatically (surface, link session, step, platform, last error code,
//! correlation id, locale, user agent) and a reference number shown to the customer. A hidden
//! honeypot field catches naive bots: they see a confirmation, nothing is stored. Requests are
//! rate-limited per client IP and per session (429 with `Retry-After`, nothing stored). When
//! SMTP is configured and the tenant has a support inbox, the request is e-mailed to it by a
//! durable job queued in the same transaction as the request.

use crate::pages::ctx::{LinkCtx, ManageCtx, PageCtx};
use crate::pages::error::{too_many, PageError};
use crate::pages::form::{ClientMeta, LinkForm, ManageForm};
use crate::pages::templates::{SupportDonePage, SupportPage};
use accord_domain::ids::{JobId, SupportRequestId};
use accord_domain::tenant::{SupportRequest, SupportTopic};
use accord_domain::validate::{email_field, phone_field, text_field};
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use rand::Rng as _;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct SupportQuery {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    error: String,
    /// From an error page: the correlation id it showed.
    #[serde(default)]
    correlation_id: String,
    /// From the platform list: what the customer searched for.
    #[serde(default)]
    q: String,
}

#[derive(Deserialize, Default)]
pub struct SupportForm {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    reply_to: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    platform: String,
    /// The error code the customer came with (carried from the page that linked here).
    #[serde(default)]
    error: String,
    #[serde(default)]
    correlation_id: String,
    /// Honeypot: hidden from people, filled by bots.
    #[serde(default)]
    website: String,
}

fn short(s: &str, n: usize) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(n)
        .collect()
}

fn form_page(
    ctx: &PageCtx,
    action: &str,
    form: &SupportForm,
    errors: Vec<(String, String)>,
) -> Result<Response, PageError> {
    let topics = SupportTopic::ALL
        .iter()
        .map(|t| {
            (
                t.as_str().to_owned(),
                ctx.tr
                    .t(&format!("support-topic-{}", t.as_str().replace('_', "-"))),
            )
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = SupportPage {
        chrome: ctx.chrome.clone(),
        csrf: ctx.csrf.clone(),
        action: action.to_owned(),
        step: short(&form.step, 20),
        platform: short(&form.platform, 40),
        error_code: short(&form.error, 40),
        correlation_id: short(&form.correlation_id, 40),
        topic: SupportTopic::parse(&form.topic)
            .unwrap_or(SupportTopic::Other)
            .as_str()
            .to_owned(),
        topics,
        message: form.message.clone(),
        reply_to: form.reply_to.clone(),
        errors,
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// The form exists only when the tenant offers it.
fn offered(ctx: &PageCtx) -> Result<(), PageError> {
    if ctx.tenant.settings.support.form_enabled {
        Ok(())
    } else {
        Err(PageError::new(crate::pages::error::PageErrorKind::NotFound))
    }
}

fn show(ctx: &PageCtx, action: &str, q: SupportQuery) -> Result<Response, PageError> {
    offered(ctx)?;
    let mut message = String::new();
    // A failed platform sign-in quotes its error code; an error page's code (`error-not-found`…)
    // only travels in the diagnostics.
    let connection_failed =
        q.topic == SupportTopic::ConnectionFailed.as_str() || q.step == "callback";
    if !q.error.is_empty() && connection_failed {
        message = ctx
            .tr
            .a1("support-prefill-error", "code", &short(&q.error, 40));
    } else if q.topic == SupportTopic::PlatformMissing.as_str() {
        // "Can't find your platform?": the request starts with what they looked for.
        let searched: String = q.q.trim().chars().take(80).collect();
        message = if searched.is_empty() {
            ctx.tr.t("support-prefill-platform")
        } else {
            ctx.tr
                .a1("support-prefill-platform-searched", "query", &searched)
        };
    }
    let form = SupportForm {
        topic: q.topic,
        step: q.step,
        platform: q.platform,
        error: q.error,
        correlation_id: q.correlation_id,
        message,
        ..SupportForm::default()
    };
    form_page(ctx, action, &form, Vec::new())
}

async fn submit(
    ctx: &PageCtx,
    meta: ClientMeta,
    action: &str,
    back: &str,
    form: SupportForm,
) -> Result<Response, PageError> {
    offered(ctx)?;
    // Over a limit, nothing is validated or stored (the honeypot's bots included).
    let ip = meta.ip.as_deref().and_then(|ip| ip.parse().ok());
    if let Err(limited) = ctx.state.limits.support(ip, ctx.session.id) {
        tracing::info!(
            retry_after = limited.retry_after_secs,
            "support request refused: rate limit"
        );
        return Ok(too_many(limited.retry_after_secs));
    }
    let reference = reference();
    if !form.website.is_empty() {
        return done(ctx, reference, back);
    }
    let mut errors = Vec::new();
    let topic = SupportTopic::parse(&form.topic);
    if topic.is_none() {
        errors.push(("topic".to_owned(), ctx.tr.t("support-error-topic")));
    }
    let message = text_field("message", &form.message, 4000);
    if message.is_err() {
        errors.push(("message".to_owned(), ctx.tr.t("support-error-message")));
    }
    let reply = email_field("reply_to", &form.reply_to)
        .or_else(|_| phone_field("reply_to", &form.reply_to));
    if reply.is_err() {
        errors.push(("reply_to".to_owned(), ctx.tr.t("support-error-reply")));
    }
    let (Some(topic), Ok(message), Ok(reply_to)) = (topic, message, reply) else {
        return form_page(ctx, action, &form, errors);
    };
    let platform = short(&form.platform, 40);
    let error_code = match short(&form.error, 40) {
        code if !code.is_empty() => Some(code),
        _ => last_error_code(ctx, &platform).await?,
    };
    let correlation_id = Some(short(&form.correlation_id, 40)).filter(|c| !c.is_empty());
    let diagnostics = serde_json::json!({
        "surface": ctx.kind.as_str(),
        "link_session": ctx.session.link_session_id.map(|id| id.to_string()),
        "step": short(&form.step, 20),
        "platform": platform,
        "error_code": error_code,
        "correlation_id": correlation_id,
        "locale": ctx.locale().as_str(),
        "user_agent": meta.user_agent,
    });
    let request = SupportRequest {
        id: SupportRequestId::new(),
        tenant_id: ctx.tenant.id,
        company_id: Some(ctx.company.id),
        reference: reference.clone(),
        topic,
        message,
        reply_to,
        diagnostics,
        created_at: ctx.state.clock.now(),
    };
    // E-mailed only when SMTP is configured and the tenant has an inbox; the job commits with
    // the request, and the worker retries it on the job schedule.
    let email_job = (ctx.state.config.support_email
        && ctx.tenant.settings.support.inbox().is_some())
    .then(JobId::new);
    ctx.state
        .support()
        .create_support_request(&request, email_job)
        .await?;
    if email_job.is_some() {
        ctx.state.jobs.notify_one();
    }
    done(ctx, reference, back)
}

/// The last failure code of this company's connections still waiting for sign-in: of
/// `platform`'s when given, else of any.
async fn last_error_code(ctx: &PageCtx, platform: &str) -> Result<Option<String>, PageError> {
    let connections = ctx
        .state
        .connections()
        .company_connections(ctx.tenant.id, ctx.company.id)
        .await?;
    Ok(connections
        .into_iter()
        .filter(|c| platform.is_empty() || c.platform_key.as_str() == platform)
        .filter(|c| c.last_error.is_some())
        .max_by_key(|c| c.updated_at)
        .and_then(|c| c.last_error))
}

fn done(ctx: &PageCtx, reference: String, back: &str) -> Result<Response, PageError> {
    let page = SupportDonePage {
        chrome: ctx.chrome.clone(),
        reference,
        back: back.to_owned(),
    };
    Ok(Html(page.render()?).into_response())
}

/// `SR-` and 8 characters from an alphabet without look-alikes (no 0/O, 1/I).
fn reference() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let s: String = (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("SR-{s}")
}

pub async fn link_form(
    LinkCtx(ctx): LinkCtx,
    Query(q): Query<SupportQuery>,
) -> Result<Response, PageError> {
    show(&ctx, "/link/support", q)
}

pub async fn link_submit(
    LinkForm { ctx, meta, form }: LinkForm<SupportForm>,
) -> Result<Response, PageError> {
    submit(&ctx, meta, "/link/support", "/link/platforms", form).await
}

pub async fn manage_form(
    ManageCtx(ctx): ManageCtx,
    Query(q): Query<SupportQuery>,
) -> Result<Response, PageError> {
    show(&ctx, "/manage/support", q)
}

pub async fn manage_submit(
    ManageForm { ctx, meta, form }: ManageForm<SupportForm>,
) -> Result<Response, PageError> {
    submit(&ctx, meta, "/manage/support", "/manage", form).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn references_are_readable() {
        let r = super::reference();
        assert!(r.starts_with("SR-") && r.len() == 11);
        assert!(!r[3..].contains(['0', 'O', '1', 'I']));
    }
}
