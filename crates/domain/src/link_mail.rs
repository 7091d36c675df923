//! E-mails that carry a capability link: a customer's personal manage link, a console
//! invitation. The link opens something (a company's manage page, an account's set-password
//! form), so it must not sit readable in the job queue: the whole message — recipient, subject
//! and text, the link inside — is sealed with the key ring into the `send_link_email` job's
//! payload, with associated data binding it to the tenant, the job and the purpose. A copy of
//! the ciphertext onto another tenant's job, another job, or a job of another purpose does not
//! open. The payload is cleared when the job ends, like every job's.
//!
//! The message is rendered where the link is made (the web crate, which holds the Fluent
//! messages and knows the reader's language); the worker only opens and sends it.

use crate::crypto::{aad, CryptoError, Keyring};
use crate::ids::{JobId, TenantId};
use crate::tenant::{Job, JobKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What the link in the e-mail opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkMailPurpose {
    /// A company's personal link to its manage page, sent to the customer by the tenant.
    ManageLink,
    /// A console invitation: the single-use link to choose a password.
    ConsoleInvitation,
}

impl LinkMailPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManageLink => "manage_link",
            Self::ConsoleInvitation => "console_invitation",
        }
    }
}

/// The message as it will be sent: plain text (like the support e-mails).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkMail {
    /// The recipient's address, already checked by the caller.
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// The job's payload: the purpose in clear (for an operator reading the queue), the message
/// sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkMailPayload {
    pub purpose: LinkMailPurpose,
    pub message_ct: String,
}

/// What keeps a sealed message from being opened.
#[derive(Debug, thiserror::Error)]
pub enum LinkMailError {
    #[error("payload unreadable: {0}")]
    Payload(#[from] serde_json::Error),
    #[error("message ciphertext unreadable: {0}")]
    Crypto(#[from] CryptoError),
}

/// The associated data of a sealed message: tenant, job and purpose.
fn message_aad(tenant: TenantId, job: JobId, purpose: LinkMailPurpose) -> Vec<u8> {
    aad(&tenant, &job, &format!("link-mail/{}", purpose.as_str()))
}

/// A `send_link_email` job for `tenant`, due at `now`, carrying `mail` sealed.
pub fn job(
    keyring: &Keyring,
    tenant: TenantId,
    purpose: LinkMailPurpose,
    mail: &LinkMail,
    now: OffsetDateTime,
) -> Job {
    let id = JobId::new();
    let plain = serde_json::to_vec(mail).expect("a message of strings always serialises");
    let payload = LinkMailPayload {
        purpose,
        message_ct: keyring.encrypt(&plain, &message_aad(tenant, id, purpose)),
    };
    Job {
        id,
        tenant_id: tenant,
        kind: JobKind::SendLinkEmail,
        payload: serde_json::to_value(payload).expect("a payload of strings always serialises"),
        attempts: 0,
        run_at: now,
        last_error: None,
        done_at: None,
        created_at: now,
    }
}

/// The purpose and message a `send_link_email` job carries.
pub fn open(keyring: &Keyring, job: &Job) -> Result<(LinkMailPurpose, LinkMail), LinkMailError> {
    let p: LinkMailPayload = serde_json::from_value(job.payload.clone())?;
    let plain = keyring.decrypt(
        &p.message_ct,
        &message_aad(job.tenant_id, job.id, p.purpose),
    )?;
    Ok((p.purpose, serde_json::from_slice(&plain)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> LinkMail {
        LinkMail {
            to: "owner@bluebell.example".into(),
            subject: "Your link".into(),
            text: "Open https://accord.test/manage/return/SECRET-TOKEN".into(),
        }
    }

    #[test]
    fn the_link_is_sealed_and_opens_only_for_its_tenant_job_and_purpose() {
        let keyring = Keyring::from_file_text(&Keyring::generate_file()).unwrap();
        let tenant = TenantId::new();
        let now = OffsetDateTime::UNIX_EPOCH;
        let job = job(&keyring, tenant, LinkMailPurpose::ManageLink, &mail(), now);
        assert_eq!(job.kind, JobKind::SendLinkEmail);
        let stored = job.payload.to_string();
        assert!(!stored.contains("SECRET-TOKEN"), "{stored}");
        assert!(!stored.contains("bluebell"), "{stored}");
        assert_eq!(
            open(&keyring, &job).unwrap(),
            (LinkMailPurpose::ManageLink, mail())
        );

        let other_tenant = Job {
            tenant_id: TenantId::new(),
            ..job.clone()
        };
        assert!(open(&keyring, &other_tenant).is_err());
        let other_job = Job {
            id: JobId::new(),
            ..job.clone()
        };
        assert!(open(&keyring, &other_job).is_err());
        let mut other_purpose = job.clone();
        other_purpose.payload["purpose"] = "console_invitation".into();
        assert!(open(&keyring, &other_purpose).is_err());
    }
}
