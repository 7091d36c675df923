//! Dark-pattern guardrails on link settings. A tenant shapes the flow's voice, never its
//! honesty: the consent box starts unticked (consent is the customer's own act, GDPR Art. 4(11)
//! and 7; CJEU C-673/17 *Planet49*), Decline is a button as visible and as large as Connect,
//! the "disconnect at any time" statement and the how-to-withdraw text are always shown
//! (withdrawal as easy as giving, Art. 7(3)), and settings cannot make optional data required.
//!
//! Most of this is unrepresentable: those texts and controls belong to Accord's templates and
//! have no setting. What a tenant *can* write is checked here: Decline's label must stay a
//! clear, comparable label; and a settings document that reaches for a plausible field such as
//! `consent_prechecked` or `hide_decline` is refused with the reason, not a bare "unknown field".

use crate::settings::{ButtonLabels, Localized};
use crate::validate::{FieldError, Invalid};
use serde_json::Value;

/// Why a kind of setting does not exist.
pub const REASON_PRETICK: &str = "refused by a guardrail: the consent box is always unticked; \
     the customer's own tick is the consent (GDPR Art. 4(11), CJEU Planet49)";
pub const REASON_DECLINE: &str = "refused by a guardrail: Decline is always a button beside \
     Connect, as visible and as large; only its label can change (button_labels.decline)";
pub const REASON_WITHDRAW: &str = "refused by a guardrail: the \"disconnect at any time\" \
     statement and the how-to-withdraw text are always shown and cannot be removed or replaced";
pub const REASON_REQUIRED_DATA: &str = "refused by a guardrail: settings cannot make data \
     required; the data used and its purpose are set by the notice, and every connection \
     stays the customer's choice (categories.N.requirement only says what you ask for)";
pub const REASON_EXIT: &str = "refused by a guardrail: the customer can always leave the flow; \
     the exit control cannot be hidden (only its label and confirmation text can change)";

/// Normalised name fragments (lowercase, without `_`/`-`) that reveal each dark pattern.
const PATTERNS: &[(&[&str], &str)] = &[
    (
        &[
            "precheck",
            "pretick",
            "preselect",
            "defaultcheck",
            "checkboxdefault",
            "checkboxstate",
            "checkedbydefault",
            "defaultticked",
            "autoconsent",
            "consentdefault",
            "defaultconsent",
            "implicitconsent",
            "assumeconsent",
        ],
        REASON_PRETICK,
    ),
    (
        &[
            "hidedecline",
            "declinehidden",
            "declinevisible",
            "showdecline",
            "declinestyle",
            "declinesize",
            "declineaslink",
            "declinevariant",
            "declineposition",
            "declinecolour",
            "declinecolor",
            "nodecline",
            "disabledecline",
            "declineenabled",
            "declinebutton",
        ],
        REASON_DECLINE,
    ),
    (
        // Specific enough not to catch other settings about disconnection (a webhook, a
        // redirect after it): only its statement, and the withdrawal text.
        &[
            "disconnectstatement",
            "disconnectmessage",
            "disconnecttext",
            "disconnectnotice",
            "disconnectpromise",
            "hidedisconnect",
            "showdisconnect",
            "withdraw",
            "revocationtext",
            "hidepromise",
            "showpromise",
            "promisetext",
        ],
        REASON_WITHDRAW,
    ),
    (
        &[
            "requireddata",
            "datarequired",
            "requiredtypes",
            "datatypes",
            "mandatory",
            "requiredscopes",
        ],
        REASON_REQUIRED_DATA,
    ),
    (
        &[
            "hideexit",
            "exitenabled",
            "noexit",
            "disableexit",
            "showexit",
        ],
        REASON_EXIT,
    ),
];

/// Refusals for fields of a settings document (as sent, before it is parsed) whose names ask
/// for a dark pattern. Known fields never match (a test checks the whole schema).
pub fn refusals(doc: &Value) -> Invalid {
    let mut invalid = Invalid::default();
    walk(doc, "", &mut invalid);
    invalid
}

fn walk(v: &Value, path: &str, invalid: &mut Invalid) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter().take(200) {
                let here = if path.is_empty() {
                    clip(k)
                } else {
                    format!("{path}.{}", clip(k))
                };
                // Platform keys name platforms, not settings: never read as a request.
                if path == "platform_guide_urls" {
                    continue;
                }
                if let Some(reason) = reason_for(k) {
                    invalid.push(FieldError::new(here, reason));
                } else {
                    walk(child, &here, invalid);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate().take(200) {
                walk(child, &format!("{path}.{i}"), invalid);
            }
        }
        _ => {}
    }
}

fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

/// The guardrail a field name reaches for, if any.
pub fn reason_for(field: &str) -> Option<&'static str> {
    let norm: String = field
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    PATTERNS
        .iter()
        .find(|(frags, _)| frags.iter().any(|f| norm.contains(f)))
        .map(|(_, reason)| *reason)
}

/// Decline must stay a clear choice: at least two letters, not the Connect label, and not
/// much shorter than it (a third of its length at least), in each language where both are set.
pub fn check_labels(labels: &ButtonLabels, invalid: &mut Invalid) {
    for (loc, decline, connect) in pairs(&labels.decline, &labels.connect) {
        let Some(decline) = decline else { continue };
        let path = format!("button_labels.decline.{loc}");
        let letters = decline.chars().filter(|c| c.is_alphabetic()).count();
        if letters < 2 {
            invalid.push(FieldError::new(
                path,
                "refused by a guardrail: Decline's label must say what it does in words",
            ));
            continue;
        }
        if let Some(connect) = connect {
            let (d, c) = (decline.trim(), connect.trim());
            if d.eq_ignore_ascii_case(c) {
                invalid.push(FieldError::new(
                    path,
                    "refused by a guardrail: Decline's label must differ from Connect's",
                ));
            } else if d.chars().count() * 3 < c.chars().count() {
                invalid.push(FieldError::new(
                    path,
                    "refused by a guardrail: Decline's label must not be much shorter than \
                     Connect's (at least a third of its length)",
                ));
            }
        }
    }
}

fn pairs<'a>(
    a: &'a Localized,
    b: &'a Localized,
) -> [(&'static str, Option<&'a str>, Option<&'a str>); 2] {
    [
        ("en", a.en.as_deref(), b.en.as_deref()),
        ("fr", a.fr.as_deref(), b.fr.as_deref()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::LinkSettings;
    use serde_json::json;

    #[test]
    fn plausible_dark_pattern_fields_get_a_reason() {
        let doc = json!({
            "consent_prechecked": true,
            "hide_decline": true,
            "button_labels": {"decline_style": "link"},
            "show_disconnect_statement": false,
            "withdrawal_text": {"en": ""},
            "categories": [{"category": "banking", "required_data_types": ["invoices"]}],
            "hide_exit": true
        });
        let got: Vec<(String, &str)> = refusals(&doc)
            .0
            .into_iter()
            .map(|e| {
                (
                    e.path,
                    if e.message.contains("unticked") {
                        "pretick"
                    } else if e.message.contains("Decline") {
                        "decline"
                    } else if e.message.contains("disconnect") {
                        "withdraw"
                    } else if e.message.contains("make data") {
                        "data"
                    } else {
                        "exit"
                    },
                )
            })
            .collect();
        let expect = [
            ("button_labels.decline_style", "decline"),
            ("categories.0.required_data_types", "data"),
            ("consent_prechecked", "pretick"),
            ("hide_decline", "decline"),
            ("hide_exit", "exit"),
            ("show_disconnect_statement", "withdraw"),
            ("withdrawal_text", "withdraw"),
        ];
        let mut got = got;
        got.sort();
        assert_eq!(got, expect.map(|(p, r)| (p.to_owned(), r)).to_vec());
    }

    /// No field of the real schema (every field set) trips a guardrail.
    #[test]
    fn the_schema_itself_is_clean() {
        let full = json!({
            "legal_name": "L", "landing_enabled": true, "trust_message": {"en": "x"},
            "trust_statistics": [{"en": "x"}], "privacy_policy_url": "https://a.example",
            "terms_url": "https://a.example", "connection_guide_url": "https://a.example",
            "support": {"phone": "+44 20 7946 0000", "email": "a@b.example", "hours": {"en": "x"}, "form_enabled": true},
            "powered_by_badge": true, "consent_validity_days": 90,
            "mnda": {"template": {"en": "x"}, "signatory_name": "A", "signatory_title": "B"},
            "landing": {"title": {"en": "x"}, "body": {"en": "x"}},
            "platform_guide_urls": {"sandbox": "https://a.example"},
            "categories": [{"category": "banking", "requirement": "required"}],
            "allowed_platforms": ["sandbox"],
            "button_labels": {"continue": {"en": "Go on"}, "connect": {"en": "Connect"}, "decline": {"en": "Decline"}, "add_another": {"en": "More"}, "done": {"en": "Done"}, "exit": {"en": "Exit"}},
            "exit_confirmation": {"en": "Leave?"},
            "brand": {"primary_colour": "#123456", "theme": "dark"}
        });
        let parsed: LinkSettings =
            serde_json::from_value(full.clone()).expect("the full schema parses");
        let back = serde_json::to_value(&parsed).unwrap();
        assert_eq!(refusals(&full).0, vec![]);
        assert_eq!(refusals(&back).0, vec![]);
    }

    #[test]
    fn decline_labels_stay_clear() {
        let labels = |decline: &str, connect: &str| -> Vec<String> {
            let s: LinkSettings = serde_json::from_value(json!({"button_labels": {
                "decline": {"en": decline}, "connect": {"en": connect}}}))
            .unwrap();
            s.validate(false)
                .err()
                .map(|i| i.0.into_iter().map(|e| e.message).collect())
                .unwrap_or_default()
        };
        assert!(labels("No thanks", "Connect my accounts").is_empty());
        assert!(labels("Non", "Connecter").is_empty());
        assert!(labels("Decline", "Connect").is_empty());
        for (bad, why) in [
            ("✕", "in words"),
            ("--", "in words"),
            ("No", "much shorter"),
            ("Connect", "differ"),
            ("", "empty"),
            ("Decline\nnow", "one line"),
        ] {
            let msgs = labels(bad, "Connect my accounts securely").join(" | ");
            let msgs = if bad == "Connect" {
                labels(bad, "Connect").join(" | ")
            } else {
                msgs
            };
            assert!(msgs.contains(why), "{bad:?}: {msgs}");
        }
    }
}
