//! The mutual NDA in the hosted flow: a separate, optional action offered beside the consent
//! (never inside the consent form, never needed to connect). `GET /link/nda` shows the document
//! with the parties and today's date filled in; `POST /link/nda` records the signature; the done
//! page, and the manage page, offer the signed PDF and its signed receipt.

use crate::markdown;
use crate::pages::ctx::{LinkCtx, ManageCtx, PageCtx};
use crate::pages::error::{PageError, PageErrorKind};
use crate::pages::form::LinkForm;
use crate::pages::templates::{NdaDonePage, NdaPage};
use crate::services::nda::{self, SignError, SIGNER_FIELD_MAX};
use accord_domain::ids::NdaAcceptanceId;
use accord_domain::nda::NdaAcceptance;
use accord_domain::settings::MndaSettings;
use accord_domain::validate::text_field;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

/// The tenant's MNDA, or 404 when it offers none.
fn offered(ctx: &PageCtx) -> Result<&MndaSettings, PageError> {
    ctx.tenant
        .settings
        .mnda
        .as_ref()
        .ok_or(PageError::new(PageErrorKind::NotFound))
}

/// Where "back" goes: the consent step the customer came from, else the platform list.
fn back_url(ctx: &PageCtx, platform: &str) -> (String, String) {
    match ctx.state.catalog.find(platform) {
        Some(p) => (
            format!("/link/platforms/{}/consent", p.key),
            p.key.to_string(),
        ),
        None => ("/link/platforms".to_owned(), String::new()),
    }
}

#[derive(Deserialize, Default)]
pub struct NdaQuery {
    #[serde(default)]
    platform: String,
}

#[derive(Deserialize)]
pub struct NdaForm {
    #[serde(default)]
    signer_name: String,
    #[serde(default)]
    signer_title: String,
    #[serde(default)]
    accept: Option<String>,
    #[serde(default)]
    platform: String,
}

fn form_page(
    ctx: &PageCtx,
    mnda: &MndaSettings,
    platform: &str,
    fields: (&str, &str),
    errors: Vec<(String, String)>,
) -> Result<Response, PageError> {
    // The signer's lines stay blank until they sign; `_` is escaped, so it stays text.
    let blank = "________________";
    let (doc_locale, text) = nda::render(
        &ctx.tenant,
        mnda,
        ctx.locale(),
        &ctx.company.name,
        (blank, blank),
        ctx.state.clock.now().date(),
    )
    .ok_or(PageError::new(PageErrorKind::NotFound))?;
    let (back, platform) = back_url(ctx, platform);
    let page = NdaPage {
        chrome: ctx.chrome.clone(),
        csrf: ctx.csrf.clone(),
        document_html: markdown::render(&text),
        document_lang: doc_locale.as_str(),
        signatory: format!("{}, {}", mnda.signatory_name, mnda.signatory_title),
        signer_name: fields.0.to_owned(),
        signer_title: fields.1.to_owned(),
        back_url: back,
        platform,
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Html(page.render()?)).into_response())
}

pub async fn show(LinkCtx(ctx): LinkCtx, Query(q): Query<NdaQuery>) -> Result<Response, PageError> {
    let mnda = offered(&ctx)?;
    form_page(&ctx, mnda, &q.platform, ("", ""), Vec::new())
}

pub async fn submit(LinkForm { ctx, form, .. }: LinkForm<NdaForm>) -> Result<Response, PageError> {
    let mnda = offered(&ctx)?;
    let mut errors = Vec::new();
    let name = text_field("signer_name", &form.signer_name, SIGNER_FIELD_MAX);
    if name.is_err() {
        errors.push(("signer_name".to_owned(), ctx.tr.t("nda-error-name")));
    }
    let title = text_field("signer_title", &form.signer_title, SIGNER_FIELD_MAX);
    if title.is_err() {
        errors.push(("signer_title".to_owned(), ctx.tr.t("nda-error-title")));
    }
    if form.accept.as_deref() != Some("yes") {
        errors.push(("accept".to_owned(), ctx.tr.t("nda-error-unticked")));
    }
    let (Ok(name), Ok(title), true) = (name, title, errors.is_empty()) else {
        return form_page(
            &ctx,
            mnda,
            &form.platform,
            (&form.signer_name, &form.signer_title),
            errors,
        );
    };
    match nda::sign(
        &ctx.state,
        &ctx.tenant,
        &ctx.company,
        ctx.locale(),
        &name,
        &title,
    )
    .await
    {
        Ok((signed, _)) => {
            let (_, platform) = back_url(&ctx, &form.platform);
            let query = if platform.is_empty() {
                String::new()
            } else {
                format!("?platform={platform}")
            };
            Ok(Redirect::to(&format!("/link/nda/{}{query}", signed.id)).into_response())
        }
        Err(SignError::NotOffered) => Err(PageError::new(PageErrorKind::NotFound)),
        Err(SignError::Store(e)) => Err(e.into()),
    }
}

/// A signed NDA of this session's company, or 404.
async fn own(ctx: &PageCtx, id: &str) -> Result<NdaAcceptance, PageError> {
    let id: NdaAcceptanceId = id
        .parse()
        .map_err(|_| PageError::new(PageErrorKind::NotFound))?;
    ctx.state
        .ndas()
        .nda(ctx.tenant.id, id)
        .await?
        .filter(|n| n.company_id == ctx.company.id)
        .ok_or(PageError::new(PageErrorKind::NotFound))
}

/// `{id}` (the done page), `{id}.pdf` (the signed document) or `{id}.jws` (its receipt).
async fn file(ctx: PageCtx, file: String, platform: &str) -> Result<Response, PageError> {
    if let Some(id) = file.strip_suffix(".pdf") {
        let signed = own(&ctx, id).await?;
        let pdf = nda::pdf(&ctx.state, &ctx.tenant, &signed).await?;
        return Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (header::CONTENT_DISPOSITION, nda::file_name(&signed, "pdf")),
            ],
            pdf,
        )
            .into_response());
    }
    if let Some(id) = file.strip_suffix(".jws") {
        let signed = own(&ctx, id).await?;
        let r = nda::receipt(&ctx.state, &ctx.tenant, &signed)
            .await?
            .ok_or(PageError::new(PageErrorKind::NotFound))?;
        return Ok((
            [
                (header::CONTENT_TYPE, "application/jose".to_owned()),
                (header::CONTENT_DISPOSITION, nda::file_name(&signed, "jws")),
            ],
            r.jws,
        )
            .into_response());
    }
    let signed = own(&ctx, &file).await?;
    let base = format!("/{}/nda/{}", ctx.kind.as_str(), signed.id);
    let back = match ctx.kind {
        accord_domain::flow::SessionKind::Link => back_url(&ctx, platform).0,
        accord_domain::flow::SessionKind::Manage => "/manage".to_owned(),
    };
    let page = NdaDonePage {
        document_html: markdown::render(&signed.document_text),
        document_lang: signed.locale.as_str(),
        signer: format!("{}, {}", signed.signer_name, signed.signer_title),
        date: nda::shown_time(ctx.locale(), signed.accepted_at),
        sha256: signed.document_sha256.clone(),
        position: signed.ledger_seq,
        pdf_url: format!("{base}.pdf"),
        receipt_url: format!("{base}.jws"),
        back_url: back,
        chrome: ctx.chrome,
    };
    Ok(Html(page.render()?).into_response())
}

pub async fn link_file(
    LinkCtx(ctx): LinkCtx,
    Path(name): Path<String>,
    Query(q): Query<NdaQuery>,
) -> Result<Response, PageError> {
    file(ctx, name, &q.platform).await
}

pub async fn manage_file(
    ManageCtx(ctx): ManageCtx,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    file(ctx, name, "").await
}

/// A signed NDA as the manage page lists it.
#[derive(Debug, Clone)]
pub struct NdaRow {
    pub signer: String,
    pub date: String,
    pub sha256: String,
    pub page_url: String,
    pub pdf_url: String,
    pub receipt_url: String,
}

/// The company's signed NDAs, newest first, for the manage page.
pub async fn rows(ctx: &PageCtx) -> Result<Vec<NdaRow>, PageError> {
    let list = ctx
        .state
        .ndas()
        .company_ndas(ctx.tenant.id, ctx.company.id)
        .await?;
    Ok(list
        .iter()
        .rev()
        .map(|n| {
            let base = format!("/{}/nda/{}", ctx.kind.as_str(), n.id);
            NdaRow {
                signer: format!("{}, {}", n.signer_name, n.signer_title),
                date: nda::shown_time(ctx.locale(), n.accepted_at),
                sha256: n.document_sha256.clone(),
                pdf_url: format!("{base}.pdf"),
                receipt_url: format!("{base}.jws"),
                page_url: base,
            }
        })
        .collect())
}
