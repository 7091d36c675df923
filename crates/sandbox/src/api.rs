//! The data API: `GET /api/organisation`, `GET /api/{resource}` (lists one page at a time) and
//! `POST /api/invoices|bills`, protected by bearer tokens (RFC 6750) and scopes. Reads return
//! the organisation's generated data plus what was written through the API; writes are kept in
//! memory for that organisation.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use time::Date;

use crate::data::{self, Bill, Dataset, Invoice};
use crate::http::OAuthError;
use crate::scope::{Resource, Scope};
use crate::state::AccessGrant;
use crate::{paging, DataFault, Sandbox};

/// The realm named in every bearer challenge.
const CHALLENGE: &str = "Bearer realm=\"accord-sandbox\"";

/// Checks the bearer token (RFC 6750 §2.1, header method only) and that it carries `needed`.
fn authorize(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    needed: Option<Scope>,
) -> Result<AccessGrant, OAuthError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        // RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
        return Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "a bearer access token is required",
        )
        .with_challenge(CHALLENGE));
    };
    let Some(grant) = sandbox.store().access_grant(token, sandbox.now()) else {
        return Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is unknown, expired or revoked",
        )
        .with_challenge(format!(
            "{CHALLENGE}, error=\"invalid_token\", \
             error_description=\"The access token is unknown, expired or revoked\""
        )));
    };
    let Some(needed) = needed else {
        return Ok(grant);
    };
    if !grant.scopes.contains(needed) {
        return Err(OAuthError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("this request needs the scope {needed}"),
        )
        .with_challenge(format!(
            "{CHALLENGE}, error=\"insufficient_scope\", scope=\"{needed}\""
        )));
    }
    Ok(grant)
}

fn not_found() -> OAuthError {
    OAuthError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
}

/// `GET /api/organisation`: who the token was granted by — the organisation's stable id and
/// the name its user signed in with. Any valid token may ask, as at Xero's `/connections`.
pub async fn organisation(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, OAuthError> {
    let grant = authorize(&sandbox, &headers, None)?;
    let company = data::generate(&grant.organisation).company;
    Ok(Json(json!({
        "data": { "id": company.id, "name": grant.organisation }
    })))
}

/// `GET /api/{resource}`: lists are `{"data": [...], "next_cursor": …}`, one page at a time
/// (`?limit=` and the opaque `?cursor=` of the previous page); single documents are
/// `{"data": {...}}`.
pub async fn read(
    State(sandbox): State<Sandbox>,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let resource = Resource::parse(&resource).ok_or_else(not_found)?;
    let grant = authorize(&sandbox, &headers, Some(Scope::Read(resource)))?;
    if let Some(fault) = sandbox.take_data_fault(&grant.organisation) {
        return Ok(fault_response(fault));
    }
    let data = data::generate(&grant.organisation);
    let written = sandbox.store().written(&grant.organisation);
    let list = |items: Vec<serde_json::Value>| -> Result<serde_json::Value, OAuthError> {
        paging::page(&items, query.as_deref().unwrap_or(""))
    };
    let body = match resource {
        Resource::CompanyInfo => json!({ "data": data.company }),
        Resource::BalanceSheet => json!({ "data": data.balance_sheet }),
        Resource::ProfitAndLoss => json!({ "data": data.profit_and_loss }),
        Resource::Invoices => list(values(data.invoices.iter().chain(&written.invoices)))?,
        Resource::Bills => list(values(data.bills.iter().chain(&written.bills)))?,
        Resource::Customers => list(values(&data.customers))?,
        Resource::Suppliers => list(values(&data.suppliers))?,
        Resource::BankAccounts => list(values(&data.bank_accounts))?,
        Resource::BankTransactions => list(values(&data.bank_transactions))?,
        Resource::Orders => list(values(&data.orders))?,
        Resource::Products => list(values(&data.products))?,
        Resource::Payouts => list(values(&data.payouts))?,
    };
    Ok(Json(body).into_response())
}

fn values<'a, T: serde::Serialize + 'a>(
    items: impl IntoIterator<Item = &'a T>,
) -> Vec<serde_json::Value> {
    items
        .into_iter()
        .map(|item| serde_json::to_value(item).expect("sandbox records serialise"))
        .collect()
}

/// What a platform answers when its rate limiter or a service behind its gateway says no.
fn fault_response(fault: DataFault) -> Response {
    let (status, retry_after, error) = match fault {
        DataFault::RateLimited { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            Some(retry_after_secs),
            "rate_limited",
        ),
        DataFault::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, Some(30), "unavailable"),
        DataFault::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, None, "server_error"),
    };
    let mut response = (status, Json(json!({ "error": error }))).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The body of `POST /api/invoices` (with `customer_id`) and `POST /api/bills` (with
/// `supplier_id`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDocument {
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    supplier_id: Option<String>,
    issue_date: String,
    due_date: String,
    currency: String,
    subtotal_minor: i64,
    #[serde(default)]
    tax_minor: i64,
    #[serde(default)]
    reference: Option<String>,
}

/// The largest amount accepted, in minor units (ten billion major units).
const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

/// `POST /api/invoices` and `POST /api/bills`: 201 with the created document.
pub async fn write(
    State(sandbox): State<Sandbox>,
    Path(resource): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let resource = Resource::parse(&resource).ok_or_else(not_found)?;
    if !resource.writable() {
        let mut response = OAuthError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "this resource is read-only",
        )
        .into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return Ok(response);
    }
    let grant = authorize(&sandbox, &headers, Some(Scope::Write(resource)))?;
    if let Some(fault) = sandbox.take_data_fault(&grant.organisation) {
        return Ok(fault_response(fault));
    }
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return Err(OAuthError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "the body must be application/json",
        ));
    }
    let new: NewDocument = serde_json::from_slice(&body).map_err(|e| {
        OAuthError::bad_request("invalid_request", format!("invalid JSON body: {e}"))
    })?;
    let data = data::generate(&grant.organisation);
    let mut store = sandbox.store();
    let written = store.written_mut(&grant.organisation);
    let created = if resource == Resource::Invoices {
        let number = data.invoices.len() + written.invoices.len() + 1;
        new_invoice(&data, new, number).map(|invoice| {
            written.invoices.push(invoice.clone());
            json!({ "data": invoice })
        })
    } else {
        let number = data.bills.len() + written.bills.len() + 1;
        new_bill(&data, new, number).map(|bill| {
            written.bills.push(bill.clone());
            json!({ "data": bill })
        })
    };
    match created {
        Ok(body) => Ok((StatusCode::CREATED, Json(body)).into_response()),
        Err(description) => Err(OAuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            description,
        )),
    }
}

/// The checks shared by invoices and bills; returns the parsed dates.
fn check_common(data: &Dataset, new: &NewDocument) -> Result<(String, String), &'static str> {
    let format = time::format_description::well_known::Iso8601::DATE;
    let issue = Date::parse(&new.issue_date, &format)
        .map_err(|_| "issue_date must be a date like 2025-03-31")?;
    let due = Date::parse(&new.due_date, &format)
        .map_err(|_| "due_date must be a date like 2025-03-31")?;
    if due < issue {
        return Err("due_date must not be before issue_date");
    }
    if new.currency != data.company.base_currency {
        return Err("currency must be the organisation's base currency (see company-info)");
    }
    if !(1..=MAX_AMOUNT_MINOR).contains(&new.subtotal_minor) {
        return Err("subtotal_minor must be a positive amount in minor units");
    }
    if !(0..=new.subtotal_minor).contains(&new.tax_minor) {
        return Err("tax_minor must be between 0 and subtotal_minor");
    }
    if new
        .reference
        .as_deref()
        .is_some_and(|r| r.chars().count() > 64 || r.chars().any(char::is_control))
    {
        return Err("reference must be at most 64 printable characters");
    }
    Ok((issue.to_string(), due.to_string()))
}

fn new_invoice(data: &Dataset, new: NewDocument, number: usize) -> Result<Invoice, &'static str> {
    let (issue_date, due_date) = check_common(data, &new)?;
    if new.supplier_id.is_some() {
        return Err("an invoice has a customer_id, not a supplier_id");
    }
    let customer_id = new.customer_id.ok_or("customer_id is required")?;
    let customer = data
        .customers
        .iter()
        .find(|c| c.id == customer_id)
        .ok_or("customer_id is not a customer of this organisation")?;
    let total = new.subtotal_minor + new.tax_minor;
    Ok(Invoice {
        id: format!("inv_{number:04}"),
        number: format!("INV-{number:04}"),
        customer_id,
        customer_name: customer.name.clone(),
        issue_date,
        due_date,
        currency: data.company.base_currency,
        subtotal_minor: new.subtotal_minor,
        tax_minor: new.tax_minor,
        total_minor: total,
        amount_due_minor: total,
        status: "open",
        reference: new.reference,
    })
}

fn new_bill(data: &Dataset, new: NewDocument, number: usize) -> Result<Bill, &'static str> {
    let (issue_date, due_date) = check_common(data, &new)?;
    if new.customer_id.is_some() {
        return Err("a bill has a supplier_id, not a customer_id");
    }
    let supplier_id = new.supplier_id.ok_or("supplier_id is required")?;
    let supplier = data
        .suppliers
        .iter()
        .find(|s| s.id == supplier_id)
        .ok_or("supplier_id is not a supplier of this organisation")?;
    let total = new.subtotal_minor + new.tax_minor;
    Ok(Bill {
        id: format!("bill_{number:04}"),
        number: format!("BILL-{number:04}"),
        supplier_id,
        supplier_name: supplier.name.clone(),
        issue_date,
        due_date,
        currency: data.company.base_currency,
        subtotal_minor: new.subtotal_minor,
        tax_minor: new.tax_minor,
        total_minor: total,
        amount_due_minor: total,
        status: "open",
        reference: new.reference,
    })
}
