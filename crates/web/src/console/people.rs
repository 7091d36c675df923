//! The people of the tenant's console: who has access with which role, invitations (a
//! single-use set-password link, e-mailed when SMTP is configured and shown once to copy),
//! role changes and removal.
//!
//! Admins invite viewers and admins; owners also invite owners, change roles and remove people.
//! Nobody changes their own role or removes themselves, so a tenant always keeps an owner.
//! A set-password link is handed only by someone whose role is at least the person's (the link
//! opens that account).

use crate::console::error::ConsoleError;
use crate::console::session::{ConsoleForm, Member};
use crate::console::view::{html, html_status, notice, Chrome};
use crate::services::console::{self as passwords, InviteError};
use crate::services::link_mail;
use crate::state::AppState;
use accord_domain::console::{ConsoleUser, Role, SetPasswordPurpose, SetPasswordToken, UserId};
use accord_store::StoreError;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

struct PersonRow {
    id: String,
    name: String,
    email: String,
    role: Role,
    role_label: String,
    /// `invited` (no password yet), `active` or `removed`.
    status: String,
    status_label: String,
    totp: bool,
    is_me: bool,
}

#[derive(Template)]
#[template(path = "console/people.html")]
struct PeoplePage {
    c: Chrome,
    csrf: String,
    people: Vec<PersonRow>,
    /// The roles this user may give.
    roles: Vec<(Role, String)>,
    can_manage: bool,
    can_invite: bool,
    /// A set-password link just made: for whom, and the link, shown this once.
    link: Option<(String, String)>,
    /// Whether that link was also e-mailed to the person (an invitation, SMTP configured).
    emailed: bool,
    /// Whether invitations are e-mailed (SMTP configured), for the form's hint.
    can_mail: bool,
    form_email: String,
    form_name: String,
    error: Option<String>,
    notice: Option<String>,
}

/// The roles `actor` may give: an owner any, an admin viewer or admin.
fn grantable(actor: Role) -> Vec<Role> {
    Role::ALL.into_iter().filter(|r| actor.allows(*r)).collect()
}

async fn page(
    state: &AppState,
    m: &Member,
    done: Option<&str>,
) -> Result<PeoplePage, ConsoleError> {
    let people = state
        .console()
        .users(m.tenant.id)
        .await?
        .into_iter()
        .map(|u| {
            let status = if u.disabled_at.is_some() {
                "removed"
            } else if u.password_hash.is_none() {
                "invited"
            } else {
                "active"
            };
            (u, status)
        })
        .map(|(u, status)| PersonRow {
            id: u.id.to_string(),
            status: status.to_owned(),
            status_label: m.chrome.tr.t(&format!("console-person-{status}")),
            totp: u.totp_secret.is_some(),
            is_me: u.id == m.user.id,
            role: u.role,
            role_label: m.chrome.role(u.role),
            name: u.name,
            email: u.email,
        })
        .collect();
    Ok(PeoplePage {
        c: m.chrome.clone(),
        csrf: m.csrf.clone(),
        people,
        roles: grantable(m.user.role)
            .into_iter()
            .map(|r| (r, m.chrome.role(r)))
            .collect(),
        can_manage: m.user.role.allows(Role::Owner),
        can_invite: m.user.role.allows(Role::Admin),
        link: None,
        emailed: false,
        can_mail: link_mail::can_send(state),
        form_email: String::new(),
        form_name: String::new(),
        error: None,
        notice: notice(&m.chrome.tr, done),
    })
}

pub async fn list(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<crate::console::account::DoneQuery>,
) -> Result<Response, ConsoleError> {
    html(&page(&state, &m, q.done.as_deref()).await?)
}

/// A new set-password link for `user`; returns its full URL (the secret is not stored).
async fn issue_link(
    state: &AppState,
    user: &ConsoleUser,
    purpose: SetPasswordPurpose,
) -> Result<String, ConsoleError> {
    let (token, secret) = passwords::new_set_password_token(user, purpose, state.clock.now());
    state.console().add_set_password_token(&token).await?;
    Ok(passwords::set_password_url(state, &secret))
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

/// Invites someone with a role the inviter may give: a user without a password, and a link to
/// choose one. When this Accord has SMTP configured the link is e-mailed to them, in the
/// inviter's console language, and the page says so; it still shows the link once, for the
/// inviter to pass on should the e-mail not arrive. Without SMTP the link is shown once to copy.
pub async fn invite(
    State(state): State<AppState>,
    ConsoleForm { member: m, form }: ConsoleForm<InviteForm>,
) -> Result<Response, ConsoleError> {
    let mut p = page(&state, &m, None).await?;
    p.form_email.clone_from(&form.email);
    p.form_name.clone_from(&form.name);
    let role = form
        .role
        .parse::<Role>()
        .ok()
        .filter(|r| m.user.role.allows(*r));
    let user = role.and_then(|role| {
        passwords::new_user(
            m.tenant.id,
            &form.email,
            &form.name,
            role,
            state.clock.now(),
        )
        .ok()
    });
    let Some(user) = user else {
        p.error = Some(m.chrome.tr.t("console-invite-invalid"));
        return html_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
    };
    let (user, link) = match passwords::invite_user(&state, user, &m.user.email).await {
        Ok(done) => done,
        Err(InviteError::Store(StoreError::Conflict(_))) => {
            // Another tenant's account may hold the address: the answer does not say whose.
            p.error = Some(m.chrome.tr.t("console-invite-taken"));
            return html_status(StatusCode::CONFLICT, &p);
        }
        Err(InviteError::Invalid(_)) => {
            p.error = Some(m.chrome.tr.t("console-invite-invalid"));
            return html_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
        }
        Err(InviteError::Store(e)) => return Err(e.into()),
    };
    let emailed = email_invitation(&state, &m, &user, &link).await?;
    let mut p = page(&state, &m, None).await?;
    p.link = Some((user.email, link.expose_secret().to_owned()));
    p.emailed = emailed;
    html_status(StatusCode::CREATED, &p)
}

/// Queues the invitation e-mail to `user` with its set-password `link`, when SMTP is configured
/// and the address is one the mail library sends to; whether it was queued.
async fn email_invitation(
    state: &AppState,
    m: &Member,
    user: &ConsoleUser,
    link: &SecretString,
) -> Result<bool, ConsoleError> {
    if !link_mail::can_send(state) {
        return Ok(false);
    }
    let Ok(to) = link_mail::recipient("email", &user.email) else {
        return Ok(false);
    };
    let mail = link_mail::console_invitation(
        &m.chrome.tr,
        &m.tenant,
        &m.user.name,
        &m.chrome.role(user.role),
        to,
        link.expose_secret(),
        state.clock.now() + SetPasswordToken::INVITE_TTL,
    );
    link_mail::queue_invitation(state, m.tenant.id, &mail).await?;
    Ok(true)
}

/// Another user of this tenant (never the actor), or 404.
async fn other_user(state: &AppState, m: &Member, id: &str) -> Result<ConsoleUser, ConsoleError> {
    let id: UserId = id.parse().map_err(|_| ConsoleError::NotFound)?;
    let user = state
        .console()
        .user(id)
        .await?
        .filter(|u| u.tenant_id == m.tenant.id)
        .ok_or(ConsoleError::NotFound)?;
    if user.id == m.user.id {
        return Err(ConsoleError::Forbidden);
    }
    Ok(user)
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

pub async fn change_role(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { member: m, form }: ConsoleForm<RoleForm>,
) -> Result<Response, ConsoleError> {
    let mut user = other_user(&state, &m, &id).await?;
    let role: Role = form.role.parse().map_err(|_| ConsoleError::BadRequest)?;
    let before = user.role;
    if before != role {
        user.role = role;
        state.console().update_user(&user).await?;
        m.audit(
            &state,
            "console.role_changed",
            Some(user.email.clone()),
            serde_json::json!({ "from": before.as_str(), "to": role.as_str() }),
        )
        .await?;
    }
    Ok(Redirect::to("/console/people?done=role-changed").into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { member: m, .. }: ConsoleForm<crate::console::auth::NoFields>,
) -> Result<Response, ConsoleError> {
    let mut user = other_user(&state, &m, &id).await?;
    let now = state.clock.now();
    if user.disabled_at.is_none() {
        user.disabled_at = Some(now);
        state.console().update_user(&user).await?;
        state.console().end_user_sessions(user.id, now).await?;
        m.audit(
            &state,
            "console.user_removed",
            Some(user.email.clone()),
            serde_json::json!({}),
        )
        .await?;
    }
    Ok(Redirect::to("/console/people?done=person-removed").into_response())
}

/// A new set-password link for someone who lost theirs or their password.
pub async fn reset_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { member: m, .. }: ConsoleForm<crate::console::auth::NoFields>,
) -> Result<Response, ConsoleError> {
    let user = other_user(&state, &m, &id).await?;
    if user.disabled_at.is_some() {
        // A removed person has no account left to open.
        return Err(ConsoleError::NotFound);
    }
    if !m.user.role.allows(user.role) {
        return Err(ConsoleError::Forbidden);
    }
    let purpose = if user.password_hash.is_some() {
        SetPasswordPurpose::Reset
    } else {
        SetPasswordPurpose::Invite
    };
    let link = issue_link(&state, &user, purpose).await?;
    m.audit(
        &state,
        "console.password_link_issued",
        Some(user.email.clone()),
        serde_json::json!({ "purpose": purpose.as_str() }),
    )
    .await?;
    let mut p = page(&state, &m, None).await?;
    p.link = Some((user.email, link));
    html(&p)
}
