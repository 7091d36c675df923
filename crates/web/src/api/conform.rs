//! What every operation of the tenant API answers beside its own responses, added to the
//! OpenAPI document in one place so that no handler can forget it and the document says what
//! the server does (schemathesis checks the two against each other in CI):
//!
//! - every error body is `application/problem+json` (RFC 9457), never `application/json`;
//! - an operation behind the API key answers 401 without a valid one;
//! - an operation with a JSON body answers 400 for malformed JSON (or a body sent without
//!   `Content-Type: application/json`), 413 over the body limit and 422 for the wrong shape;
//! - an operation with query or path parameters answers 422 / 404 when they do not parse.

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr};

const PROBLEM: &str = "application/problem+json";

/// Applies the rules above to every operation of `doc`.
pub(crate) fn conform(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in operations_mut(item) {
            problem_content(op);
            common_errors(op);
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Error responses documented as `application/json` are the problem documents the server
/// sends as `application/problem+json`.
fn problem_content(op: &mut Operation) {
    for (status, response) in &mut op.responses.responses {
        let RefOr::T(response) = response else {
            continue;
        };
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        if let Some(content) = response.content.shift_remove("application/json") {
            response.content.insert(PROBLEM.to_owned(), content);
        }
    }
}

fn problem(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM,
                Content::new(Some(Ref::from_schema_name("Problem"))),
            )
            .build(),
    )
}

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| problem(description));
}

fn common_errors(op: &mut Operation) {
    // `security: [{}]` (an empty requirement) marks the public operations (the ledger's).
    let public = op.security.as_ref().is_some_and(|reqs| {
        reqs.iter()
            .any(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
    });
    if !public {
        add(op, "401", "Missing or invalid API key");
    }
    if op.request_body.is_some() {
        add(op, "400", "Malformed JSON, trailing data after it, or a body sent without `Content-Type: application/json`");
        add(op, "413", "The body is over the size limit");
        add(
            op,
            "422",
            "A field is missing or invalid; `errors` names each",
        );
    }
    let params = op.parameters.as_deref().unwrap_or_default();
    let has = |place: ParameterIn| params.iter().any(|p| p.parameter_in == place);
    let (query, path) = (has(ParameterIn::Query), has(ParameterIn::Path));
    if query {
        add(
            op,
            "422",
            "A query parameter is invalid; `errors` names each",
        );
    }
    if path {
        add(
            op,
            "404",
            "Not found (a path parameter that does not parse names nothing)",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parameter documented `in: path` appears in its path template (a query parameter
    /// documented as a path one makes every generated client wrong).
    #[test]
    fn path_parameters_are_in_the_path_template() {
        let (_, doc) = super::super::router();
        let mut wrong = Vec::new();
        for (path, item) in &doc.paths.paths {
            let mut item = item.clone();
            for op in operations_mut(&mut item) {
                for p in op.parameters.as_deref().unwrap_or_default() {
                    let placeholder = format!("{{{}}}", p.name);
                    if p.parameter_in == ParameterIn::Path && !path.contains(&placeholder) {
                        wrong.push(format!("{path}: {}", p.name));
                    }
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "query parameters documented in the path: {wrong:?}"
        );
    }

    /// Errors are problem+json everywhere, and every operation behind the key documents 401.
    #[test]
    fn errors_are_problem_json_and_401_is_documented() {
        let (_, doc) = super::super::router();
        let json: serde_json::Value = serde_json::to_value(&doc).unwrap();
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                for (status, r) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        let content = r["content"].as_object().unwrap();
                        assert!(
                            content.keys().all(|k| k == PROBLEM),
                            "{method} {path} {status}: {:?}",
                            content.keys().collect::<Vec<_>>()
                        );
                    }
                }
                if !path.starts_with("/ledger/") {
                    assert!(responses.contains_key("401"), "{method} {path} lacks 401");
                }
            }
        }
    }
}
