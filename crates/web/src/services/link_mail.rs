//! E-mails that carry a capability link to its reader: a customer's fresh manage link (sent by
//! the tenant from the API) and a console invitation. The message is rendered here, in the
//! reader's language from the Fluent messages, because this crate holds them and knows the
//! link; it is then sealed into a `send_link_email` job ([`accord_domain::link_mail`]) that the
//! worker opens and sends, so the link never sits readable in the job queue.

use crate::i18n::Tr;
use crate::services::manage_links;
use crate::state::AppState;
use accord_domain::ids::TenantId;
use accord_domain::link_mail::{self, LinkMail, LinkMailPurpose};
use accord_domain::locale::Locale;
use accord_domain::tenant::{Company, Tenant};
use accord_domain::validate::FieldError;
use accord_store::StoreError;

/// The most characters of an address accepted (RFC 5321 §4.5.3.1.3 caps a path at 256).
const MAX_ADDRESS: usize = 254;

/// `raw` as a recipient address, checked by the mail library that will send to it (a bare
/// address, `local@domain`; no display name); `path` names the field in the error.
pub fn recipient(path: &str, raw: &str) -> Result<String, FieldError> {
    let raw = raw.trim();
    let invalid = || FieldError {
        path: path.to_owned(),
        message: "must be an e-mail address such as customer@example.com".to_owned(),
    };
    if raw.len() > MAX_ADDRESS {
        return Err(invalid());
    }
    raw.parse::<lettre::Address>()
        .map(|a| a.to_string())
        .map_err(|_| invalid())
}

/// Whether this Accord can send e-mail (SMTP configured).
pub fn can_send(state: &AppState) -> bool {
    state.config.support_email
}

/// How the reader reaches the tenant: its public support e-mail and phone, as its link
/// settings give them.
fn support_contact(tenant: &Tenant) -> Option<String> {
    let s = &tenant.settings.support;
    let parts: Vec<&str> = [s.email.as_deref(), s.phone.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The e-mail handing `company` a fresh personal link `url` to its manage page, from
/// `tenant`, in `locale`.
pub fn manage_link(
    state: &AppState,
    tenant: &Tenant,
    company: &Company,
    locale: Locale,
    to: String,
    url: &str,
) -> LinkMail {
    let tr = Tr::new(state.i18n.clone(), locale);
    let names = [
        ("tenant", tenant.name.as_str()),
        ("company", company.name.as_str()),
    ];
    let support = match support_contact(tenant) {
        Some(contact) => tr.a(
            "manage-link-mail-support",
            &[("tenant", &tenant.name), ("contact", &contact)],
        ),
        None => tr.a("manage-link-mail-no-support", &names),
    };
    let text = [
        tr.t("manage-link-mail-greeting"),
        tr.a("manage-link-mail-intro", &names),
        tr.t("manage-link-mail-what"),
        url.to_owned(),
        tr.a("manage-link-mail-personal", &names),
        support,
        tr.a("manage-link-mail-footer", &names),
    ]
    .join("\n\n");
    LinkMail {
        to,
        subject: tr.a("manage-link-mail-subject", &names),
        text: text + "\n",
    }
}

/// Stores a fresh manage link for `company` and queues its e-mail to `to` in `locale`, in one
/// store transaction. The caller checked that the company has a connection in force and that
/// SMTP is configured.
pub async fn email_manage_link(
    state: &AppState,
    tenant: &Tenant,
    company: &Company,
    locale: Locale,
    to: String,
) -> Result<(), StoreError> {
    let (token, link) = manage_links::mint(state, tenant.id, company.id);
    let mail = manage_link(
        state,
        tenant,
        company,
        locale,
        to,
        &manage_links::url(state, &token),
    );
    let job = link_mail::job(
        &state.keyring,
        tenant.id,
        LinkMailPurpose::ManageLink,
        &mail,
        state.clock.now(),
    );
    state.jobs().queue_link_email(&job, Some(&link)).await?;
    state.jobs.notify_one();
    Ok(())
}

/// Queues `mail` (a console invitation) for sending; its set-password link is already stored.
pub async fn queue_invitation(
    state: &AppState,
    tenant: TenantId,
    mail: &LinkMail,
) -> Result<(), StoreError> {
    let job = link_mail::job(
        &state.keyring,
        tenant,
        LinkMailPurpose::ConsoleInvitation,
        mail,
        state.clock.now(),
    );
    state.jobs().queue_link_email(&job, None).await?;
    state.jobs.notify_one();
    Ok(())
}

/// The e-mail inviting `to` to `tenant`'s console as `role_label`, from `inviter`, with the
/// set-password link `url` valid until `expires`, in `tr`'s language.
pub fn console_invitation(
    tr: &Tr,
    tenant: &Tenant,
    inviter: &str,
    role_label: &str,
    to: String,
    url: &str,
    expires: time::OffsetDateTime,
) -> LinkMail {
    let until = crate::i18n::long_date_time(tr.locale, expires);
    let args = [
        ("tenant", tenant.name.as_str()),
        ("inviter", inviter),
        ("role", role_label),
        ("expires", until.as_str()),
    ];
    let text = [
        tr.a("console-invite-mail-intro", &args),
        tr.a("console-invite-mail-action", &args),
        url.to_owned(),
        tr.a("console-invite-mail-personal", &args),
        tr.a("console-invite-mail-footer", &args),
    ]
    .join("\n\n");
    LinkMail {
        to,
        subject: tr.a("console-invite-mail-subject", &args),
        text: text + "\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_checked_by_the_mail_library() {
        assert_eq!(
            recipient("email", " owner@bluebell.example ").unwrap(),
            "owner@bluebell.example"
        );
        for bad in [
            "",
            "owner",
            "owner@",
            "@bluebell.example",
            "Owner <owner@bluebell.example>",
            "a b@bluebell.example",
            "owner@bluebell.example\r\nBcc: x@evil.example",
        ] {
            let e = recipient("email", bad).unwrap_err();
            assert_eq!(e.path, "email", "{bad:?}");
        }
        let long = format!("{}@bluebell.example", "a".repeat(250));
        assert!(recipient("email", &long).is_err());
    }
}
