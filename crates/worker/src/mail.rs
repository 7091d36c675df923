//! Support e-mails: a support request, sent to the tenant's support inbox over SMTP (lettre,
//! tokio + rustls). The message holds the reference, topic, message, the customer's way to
//! reply and the diagnostics; never a secret or a token (the diagnostics hold none). Besides,
//! the messages that carry a capability link to its reader (a manage link, a console
//! invitation), which arrive rendered and sealed in their job ([`accord_domain::link_mail`]).

use accord_domain::link_mail::LinkMail;
use accord_domain::tenant::{Company, SupportRequest, Tenant};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::fmt::Write as _;
use std::time::Duration;

/// How long one SMTP conversation may take before it counts as a failure (and is retried).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A configured SMTP relay and the sender address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the relay's credentials: not printed.
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// What is wrong with the SMTP settings (never quoting the URL: it may hold a password).
#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    #[error("smtp.url: allowed forms are smtp://[USER:PASSWORD@]HOST[:PORT] (add ?tls=required for STARTTLS) and smtps://…")]
    Url,
    #[error("smtp.from: must be an e-mail address such as \"Accord <accord@lender.example>\"")]
    From,
}

impl Mailer {
    /// `url`: `smtp://host:port` (plain, for a local relay; `?tls=required` for STARTTLS) or
    /// `smtps://host:port` (implicit TLS), optionally with `user:password@`. Nothing connects
    /// until the first message.
    pub fn new(url: &SecretString, from: &str) -> Result<Self, MailConfigError> {
        let u = url.expose_secret();
        if !(u.starts_with("smtp://") || u.starts_with("smtps://")) {
            return Err(MailConfigError::Url);
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(u)
            .map_err(|_| MailConfigError::Url)?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = from.parse::<Mailbox>().map_err(|_| MailConfigError::From)?;
        Ok(Self { transport, from })
    }

    /// Sends `request` to `inbox`. An error is the reason to retry later.
    pub async fn send_support_request(
        &self,
        inbox: &str,
        tenant: &Tenant,
        company: Option<&Company>,
        request: &SupportRequest,
    ) -> Result<(), String> {
        let to: Mailbox = inbox
            .parse()
            .map_err(|e| format!("support inbox is not an address: {e}"))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!(
                "Support request {} ({}) from {}",
                request.reference,
                topic_label(request),
                company.map_or("a customer", |c| c.name.as_str())
            ));
        // Replying to the e-mail reaches the customer when they left an address.
        if let Ok(reply_to) = request.reply_to.parse::<Mailbox>() {
            builder = builder.reply_to(reply_to);
        }
        let message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(body(tenant, company, request))
            .map_err(|e| format!("cannot build the message: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

impl Mailer {
    /// Sends a message carrying a capability link ([`accord_domain::link_mail`]), rendered and
    /// addressed by whoever made the link. An error is the reason to retry later.
    pub async fn send_link_mail(&self, mail: &LinkMail) -> Result<(), String> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| format!("recipient is not an address: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .map_err(|e| format!("cannot build the message: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

fn topic_label(request: &SupportRequest) -> &'static str {
    use accord_domain::tenant::SupportTopic;
    match request.topic {
        SupportTopic::PlatformMissing => "can't find my platform",
        SupportTopic::ConnectionFailed => "connection failed",
        SupportTopic::PrivacyQuestion => "privacy question",
        SupportTopic::Other => "other",
    }
}

/// The plain-text body: the request, then its diagnostics one per line.
fn body(tenant: &Tenant, company: Option<&Company>, request: &SupportRequest) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push('\n');
    };
    line("Reference", &request.reference);
    line("Topic", topic_label(request));
    line("Reply to", &request.reply_to);
    if let Some(c) = company {
        line("Company", &c.name);
        line("Company id", &c.id.to_string());
        if let Some(ext) = &c.external_id {
            line("Your reference", ext);
        }
    }
    line("Tenant", &tenant.name);
    let received = request
        .created_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    line("Received", &received);
    out.push_str("\nMessage:\n");
    out.push_str(&request.message);
    out.push_str("\n\nDiagnostics:\n");
    if let Some(d) = request.diagnostics.as_object() {
        for (k, v) in d {
            let v = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) if s.is_empty() => continue,
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(out, "  {k}: {v}");
        }
    }
    out.push_str("\nSent by Accord. The request is also listed at GET /v1/support-requests.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let url = |u: &str| SecretString::from(u.to_owned());
        assert!(Mailer::new(&url("smtp://127.0.0.1:2525"), "Accord <a@b.example>").is_ok());
        assert!(Mailer::new(&url("smtps://u:p@mail.example"), "a@b.example").is_ok());
        assert!(matches!(
            Mailer::new(&url("http://mail.example"), "a@b.example"),
            Err(MailConfigError::Url)
        ));
        assert!(matches!(
            Mailer::new(&url("smtp://mail.example"), "not an address"),
            Err(MailConfigError::From)
        ));
        let e = Mailer::new(&url("smtp//user:hunter2@x"), "a@b.example").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }
}
