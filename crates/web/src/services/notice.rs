//! Notices as the customer reads them: built-in defaults (from the Fluent files), the view a
//! page renders, and the canonical plain text whose SHA-256 is recorded with the consent.

use crate::i18n::Tr;
use accord_domain::catalog::{Category, DataUse, Direction, Platform};
use accord_domain::notice::{NoticeContent, NoticeVersion, RenderedNotice};

/// Accord's built-in notice for a category in the translator's language.
pub fn default_content(tr: &Tr, category: Category, privacy_policy_url: &str) -> NoticeContent {
    NoticeContent {
        purpose: tr.t(&format!("notice-default-purpose-{category}")),
        data_uses: accord_domain::notice::default_data_uses(category),
        retention: tr.t("notice-default-retention"),
        third_party_sharing: tr.t("notice-default-sharing"),
        withdrawal: tr.t("notice-default-withdrawal"),
        privacy_policy_url: privacy_policy_url.to_owned(),
    }
}

/// One data use, said in words ("Invoices — read from Xero").
#[derive(Debug, Clone)]
pub struct UseLine {
    pub label: String,
    pub direction: String,
    pub is_write: bool,
}

/// Whether any use writes to the platform: if none does, the tenant can only view.
pub fn any_write(uses: &[UseLine]) -> bool {
    uses.iter().any(|u| u.is_write)
}

/// What the consent step shows; also the source of the canonical text.
#[derive(Debug, Clone)]
pub struct NoticeView {
    pub heading: String,
    pub category_label: String,
    pub platform_name: String,
    pub purpose: String,
    pub uses: Vec<UseLine>,
    pub retention: String,
    pub sharing: String,
    pub withdrawal: String,
    pub privacy_policy_url: String,
    pub version: i64,
    /// The data uses this platform can serve, in notice order: what the consent covers and
    /// what scopes are requested.
    pub data_uses: Vec<DataUse>,
}

impl NoticeView {
    pub fn build(tr: &Tr, tenant_name: &str, platform: &Platform, version: &NoticeVersion) -> Self {
        let data_uses = platform.supported_uses(&version.content.data_uses);
        let uses = data_uses
            .iter()
            .map(|u| UseLine {
                label: tr.t(&format!("data-type-{}", u.data_type)),
                direction: match u.direction {
                    Direction::Read => tr.a("direction-read", &[("platform", &platform.name)]),
                    Direction::Write => tr.a("direction-write", &[("platform", &platform.name)]),
                },
                is_write: u.direction == Direction::Write,
            })
            .collect();
        let category_label = tr.t(&format!("category-{}", platform.category));
        Self {
            heading: tr.a(
                "notice-heading",
                &[
                    ("tenant", tenant_name),
                    ("category", platform.category.as_str()),
                    ("platform", &platform.name),
                ],
            ),
            category_label,
            platform_name: platform.name.clone(),
            purpose: version.content.purpose.clone(),
            uses,
            retention: version.content.retention.clone(),
            sharing: version.content.third_party_sharing.clone(),
            withdrawal: version.content.withdrawal.clone(),
            privacy_policy_url: version.content.privacy_policy_url.clone(),
            version: version.version,
            data_uses,
        }
    }

    /// The canonical text of exactly what is shown, in the shown language. Its SHA-256 goes
    /// with the consent, so the tenant can later prove which words were agreed to.
    pub fn render(&self, tr: &Tr) -> RenderedNotice {
        // French sets a non-breaking space before the colon, as its messages do.
        let colon = match tr.locale {
            accord_domain::locale::Locale::Fr => "\u{a0}:",
            accord_domain::locale::Locale::En => ":",
        };
        let mut lines = vec![
            self.heading.clone(),
            format!("{}{colon} {}", tr.t("notice-category"), self.category_label),
            format!("{}{colon} {}", tr.t("notice-purpose"), self.purpose),
            format!("{}{colon}", tr.t("notice-data-used")),
        ];
        lines.extend(
            self.uses
                .iter()
                .map(|u| format!("- {}{colon} {}", u.label, u.direction)),
        );
        let field = |id: &str, value: &str| format!("{}{colon} {value}", tr.t(id));
        lines.push(field("notice-retention", &self.retention));
        lines.push(field("notice-sharing", &self.sharing));
        lines.push(field("notice-withdrawal", &self.withdrawal));
        lines.push(field("notice-privacy-policy", &self.privacy_policy_url));
        lines.push(field("notice-version", &self.version.to_string()));
        RenderedNotice::new(lines.join("\n"))
    }
}

/// Publishes a new version of a tenant's notice, for the API's `POST /v1/notices` and the
/// console's publish alike (its content already checked). The version and the re-consent a
/// material change calls for commit together, with one `consent.reconsent_required` webhook
/// per connection.
pub async fn publish(
    state: &crate::state::AppState,
    tenant: accord_domain::ids::TenantId,
    (category, locale): (Category, accord_domain::locale::Locale),
    content: &NoticeContent,
) -> Result<accord_store::PublishedNotice, accord_store::StoreError> {
    let published = state
        .notices()
        .publish_notice_version(tenant, category, locale, content, state.clock.now())
        .await;
    // Whatever the answer (a failure may come after the commit), the next page reads the
    // notice in force anew.
    state.snapshots.forget(tenant);
    let published = published?;
    let (v, reconsent) = (&published.version, &published.reconsent_required);
    if !reconsent.is_empty() {
        tracing::info!(notice = %v.notice_id, version = v.version, connections = reconsent.len(), "material notice change: re-consent required");
    }
    Ok(published)
}
