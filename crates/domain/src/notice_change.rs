//! What changed between two notice versions, and whether it matters. A change is *material*
//! when the purpose, the data types, their directions, the retention or the third-party sharing
//! changed: consent given to the old text no longer covers it, so linked connections need the
//! customer's agreement again. Anything else (how to withdraw, the policy link) is *editorial*.
//! Text comparison ignores whitespace differences only.

use crate::catalog::DataUse;
use crate::notice::NoticeContent;
use serde::Serialize;
use similar::{ChangeTag, TextDiff};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeClass {
    Editorial,
    Material,
}

/// A field of a notice, for "what changed" lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeField {
    Purpose,
    DataUses,
    Retention,
    ThirdPartySharing,
    Withdrawal,
    PrivacyPolicyUrl,
}

impl NoticeField {
    pub fn is_material(self) -> bool {
        matches!(
            self,
            Self::Purpose | Self::DataUses | Self::Retention | Self::ThirdPartySharing
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Purpose => "purpose",
            Self::DataUses => "data_uses",
            Self::Retention => "retention",
            Self::ThirdPartySharing => "third_party_sharing",
            Self::Withdrawal => "withdrawal",
            Self::PrivacyPolicyUrl => "privacy_policy_url",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeChange {
    pub class: ChangeClass,
    pub fields: Vec<NoticeField>,
    pub uses_added: Vec<DataUse>,
    pub uses_removed: Vec<DataUse>,
}

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn classify(old: &NoticeContent, new: &NoticeContent) -> NoticeChange {
    let mut fields = Vec::new();
    let pairs = [
        (NoticeField::Purpose, &old.purpose, &new.purpose),
        (NoticeField::Retention, &old.retention, &new.retention),
        (
            NoticeField::ThirdPartySharing,
            &old.third_party_sharing,
            &new.third_party_sharing,
        ),
        (NoticeField::Withdrawal, &old.withdrawal, &new.withdrawal),
        (
            NoticeField::PrivacyPolicyUrl,
            &old.privacy_policy_url,
            &new.privacy_policy_url,
        ),
    ];
    for (field, a, b) in pairs {
        if norm(a) != norm(b) {
            fields.push(field);
        }
    }
    let uses_added: Vec<DataUse> = new
        .data_uses
        .iter()
        .filter(|u| !old.data_uses.contains(u))
        .copied()
        .collect();
    let uses_removed: Vec<DataUse> = old
        .data_uses
        .iter()
        .filter(|u| !new.data_uses.contains(u))
        .copied()
        .collect();
    if !uses_added.is_empty() || !uses_removed.is_empty() {
        fields.insert(
            usize::from(fields.first() == Some(&NoticeField::Purpose)),
            NoticeField::DataUses,
        );
    }
    let class = if fields.iter().any(|f| f.is_material()) {
        ChangeClass::Material
    } else {
        ChangeClass::Editorial
    };
    NoticeChange {
        class,
        fields,
        uses_added,
        uses_removed,
    }
}

/// A piece of a word-level diff for display: unchanged, removed or added text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", content = "text", rename_all = "snake_case")]
pub enum DiffPiece {
    Same(String),
    Removed(String),
    Added(String),
}

/// A readable word diff of two texts (adjacent pieces of the same kind merged).
pub fn diff_words(old: &str, new: &str) -> Vec<DiffPiece> {
    let diff = TextDiff::from_words(old, new);
    let mut out: Vec<DiffPiece> = Vec::new();
    for change in diff.iter_all_changes() {
        let text = change.value().to_owned();
        let piece = match change.tag() {
            ChangeTag::Equal => DiffPiece::Same(text),
            ChangeTag::Delete => DiffPiece::Removed(text),
            ChangeTag::Insert => DiffPiece::Added(text),
        };
        match (out.last_mut(), &piece) {
            (Some(DiffPiece::Same(a)), DiffPiece::Same(b))
            | (Some(DiffPiece::Removed(a)), DiffPiece::Removed(b))
            | (Some(DiffPiece::Added(a)), DiffPiece::Added(b)) => a.push_str(b),
            _ => out.push(piece),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{DataType, Direction};

    fn content() -> NoticeContent {
        NoticeContent {
            purpose: "To assess your loan application.".into(),
            data_uses: vec![DataUse {
                data_type: DataType::Invoices,
                direction: Direction::Read,
            }],
            retention: "12 months".into(),
            third_party_sharing: "Never.".into(),
            withdrawal: "Disconnect at any time.".into(),
            privacy_policy_url: "https://lender.example/privacy".into(),
        }
    }

    #[test]
    fn wording_of_withdrawal_or_policy_link_is_editorial() {
        let mut new = content();
        new.withdrawal = "Disconnect whenever you like.".into();
        new.privacy_policy_url = "https://lender.example/privacy-v2".into();
        let c = classify(&content(), &new);
        assert_eq!(c.class, ChangeClass::Editorial);
        assert_eq!(
            c.fields,
            [NoticeField::Withdrawal, NoticeField::PrivacyPolicyUrl]
        );
    }

    #[test]
    fn whitespace_is_not_a_change() {
        let mut new = content();
        new.purpose = "To  assess your loan\napplication.".into();
        assert!(classify(&content(), &new).fields.is_empty());
    }

    #[test]
    fn purpose_data_direction_retention_sharing_are_material() {
        let base = content();
        let mut a = base.clone();
        a.data_uses.push(DataUse {
            data_type: DataType::Invoices,
            direction: Direction::Write,
        });
        let c = classify(&base, &a);
        assert_eq!(
            (c.class, c.fields.clone()),
            (ChangeClass::Material, vec![NoticeField::DataUses])
        );
        assert_eq!(c.uses_added.len(), 1);
        for edit in [
            |c: &mut NoticeContent| c.purpose = "To market products to you.".into(),
            |c: &mut NoticeContent| c.retention = "Forever".into(),
            |c: &mut NoticeContent| c.third_party_sharing = "Shared with partners.".into(),
        ] {
            let mut n = base.clone();
            edit(&mut n);
            assert_eq!(classify(&base, &n).class, ChangeClass::Material);
        }
    }

    #[test]
    fn word_diff_marks_changes() {
        let d = diff_words("kept for 12 months", "kept for 24 months");
        assert_eq!(d[0], DiffPiece::Same("kept for ".into()));
        assert!(d.contains(&DiffPiece::Removed("12".into())));
        assert!(d.contains(&DiffPiece::Added("24".into())));
    }
}
