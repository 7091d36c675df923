//! The sandbox's accounting data: a small business generated deterministically from the
//! organisation name (a `ChaCha20` RNG seeded with SHA-256 of the name), so every test and
//! every demo run sees the same books for the same organisation.
//!
//! The numbers hang together the way real books do: paid invoices and bills appear as bank
//! transactions, bank balances are the running sums of their transactions, the profit and loss
//! nets to its total, and the balance sheet balances (assets = liabilities + equity) with the
//! year's net profit in equity. The financial year is fixed (1 April 2024 – 31 March 2025) so
//! the data does not move with the clock.

use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest as _, Sha256};
use time::macros::date;
use time::{Date, Duration};

use books::{balance_sheet, bank, profit_and_loss};
pub use model::*;

mod books;
mod model;
#[cfg(test)]
mod tests;

/// First day of the sandbox's financial year.
pub const PERIOD_START: Date = date!(2024 - 04 - 01);
/// Last day of the financial year, the balance-sheet date.
pub const AS_OF: Date = date!(2025 - 03 - 31);

/// Country profile: currency, sales-tax rate in percent, legal suffix, cities.
struct Country {
    code: &'static str,
    currency: &'static str,
    tax_percent: i64,
    suffix: &'static str,
    cities: [&'static str; 3],
}

const COUNTRIES: [Country; 5] = [
    Country {
        code: "GB",
        currency: "GBP",
        tax_percent: 20,
        suffix: "Ltd",
        cities: ["Leeds", "Bristol", "Glasgow"],
    },
    Country {
        code: "IE",
        currency: "EUR",
        tax_percent: 23,
        suffix: "Limited",
        cities: ["Dublin", "Cork", "Galway"],
    },
    Country {
        code: "US",
        currency: "USD",
        tax_percent: 0,
        suffix: "LLC",
        cities: ["Austin", "Denver", "Portland"],
    },
    Country {
        code: "AU",
        currency: "AUD",
        tax_percent: 10,
        suffix: "Pty Ltd",
        cities: ["Brisbane", "Perth", "Hobart"],
    },
    Country {
        code: "NZ",
        currency: "NZD",
        tax_percent: 15,
        suffix: "Limited",
        cities: ["Wellington", "Nelson", "Dunedin"],
    },
];

const FIRST: [&str; 12] = [
    "Bright", "Copper", "Harbour", "Juniper", "Maple", "North", "Oak", "Pebble", "Quarry",
    "Saffron", "Tidal", "Willow",
];
const SECOND: [&str; 10] = [
    "Kitchen", "Workshop", "Studio", "Supply", "Bakery", "Cycles", "Print", "Garden", "Coffee",
    "Joinery",
];
const CUSTOMERS: [&str; 12] = [
    "Alder & Finch",
    "Beacon Events",
    "Cobalt Dental",
    "Driftwood Hotel",
    "Elm Street Cafe",
    "Fernhill School",
    "Granite Gym",
    "Hollow Tree Nursery",
    "Ironbridge Architects",
    "Kestrel Lettings",
    "Lantern Theatre",
    "Meadow Vets",
];
const SUPPLIERS: [&str; 10] = [
    "Northwind Wholesale",
    "Brightline Energy",
    "Parcelwise Couriers",
    "Stack Software",
    "Greenleaf Packaging",
    "Harbour Insurance",
    "Metro Office Supplies",
    "Clearwater Utilities",
    "Summit Accountants",
    "Keystone Hardware",
];
const PRODUCTS: [&str; 10] = [
    "Gift card",
    "Starter kit",
    "Workshop ticket",
    "Annual service",
    "Repair",
    "Deluxe box",
    "Refill pack",
    "Tote bag",
    "Custom print",
    "Consultation",
];
const MERCHANTS: [&str; 6] = [
    "Fuel station",
    "Stationery shop",
    "Train tickets",
    "Hardware store",
    "Cloud hosting",
    "Phone bill",
];

/// Generates the dataset of an organisation. Same name, same data, on every machine.
pub fn generate(organisation: &str) -> Dataset {
    let seed: [u8; 32] = Sha256::digest(organisation.as_bytes()).into();
    let mut rng = ChaCha20Rng::from_seed(seed);
    let country = &COUNTRIES[rng.gen_range(0..COUNTRIES.len())];
    let currency = country.currency;
    let company = company(&mut rng, organisation, country);
    let customers = contacts(&mut rng, &CUSTOMERS, 8, "cus");
    let suppliers = contacts(&mut rng, &SUPPLIERS, 6, "sup");
    let invoices = invoices(&mut rng, &customers, country);
    let bills = bills(&mut rng, &suppliers, country);
    let products = products(&mut rng, currency);
    let orders = orders(&mut rng, &customers, &products, currency);
    let payouts = payouts(&mut rng, &orders, currency);
    let ledger = bank(&mut rng, &invoices, &bills, &payouts, currency);
    let profit_and_loss = profit_and_loss(&mut rng, &invoices, &bills, &orders, &ledger);
    let balance_sheet = balance_sheet(
        &mut rng,
        &ledger,
        &invoices,
        &bills,
        &products,
        &profit_and_loss,
    );
    Dataset {
        company,
        customers,
        suppliers,
        invoices,
        bills,
        bank_accounts: ledger.accounts,
        bank_transactions: ledger.transactions,
        balance_sheet,
        profit_and_loss,
        orders,
        products,
        payouts,
    }
}

fn day(offset: i64) -> Date {
    PERIOD_START + Duration::days(offset)
}

fn company(rng: &mut ChaCha20Rng, organisation: &str, country: &Country) -> CompanyInfo {
    let name = format!(
        "{} {}",
        FIRST.choose(rng).unwrap(),
        SECOND.choose(rng).unwrap()
    );
    let slug: String = name.to_lowercase().split(' ').collect();
    CompanyInfo {
        id: format!(
            "org_{}",
            hex::encode(&Sha256::digest(organisation.as_bytes())[..6])
        ),
        organisation: organisation.to_owned(),
        legal_name: format!("{name} {}", country.suffix),
        name,
        registration_number: format!("{:08}", rng.gen_range(1_000_000..99_999_999)),
        country: country.code,
        base_currency: country.currency,
        financial_year_end: "03-31",
        address: Address {
            line1: format!("{} High Street", rng.gen_range(1..200)),
            city: country.cities.choose(rng).unwrap(),
            postcode: format!("{:04}", rng.gen_range(1000..9999)),
            country: country.code,
        },
        email: format!("accounts@{slug}.example"),
    }
}

fn contacts(rng: &mut ChaCha20Rng, names: &[&str], n: usize, prefix: &str) -> Vec<Contact> {
    let chosen: Vec<&str> = names.choose_multiple(rng, n).copied().collect();
    chosen
        .into_iter()
        .enumerate()
        .map(|(i, name)| Contact {
            id: format!("{prefix}_{:03}", i + 1),
            name: (*name).to_owned(),
            email: format!(
                "hello@{}.example",
                name.to_lowercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "")
            ),
        })
        .collect()
}

/// Issue days spread over the year, sorted, leaving room before the balance-sheet date.
fn issue_days(rng: &mut ChaCha20Rng, n: usize) -> Vec<i64> {
    let mut days: Vec<i64> = (0..n).map(|_| rng.gen_range(0..350)).collect();
    days.sort_unstable();
    days
}

/// Payment status at the balance-sheet date: most past-due documents are paid.
fn status(rng: &mut ChaCha20Rng, due: Date) -> &'static str {
    if due < AS_OF - Duration::days(20) {
        if rng.gen_bool(0.85) {
            "paid"
        } else {
            "overdue"
        }
    } else if rng.gen_bool(0.3) {
        "paid"
    } else {
        "open"
    }
}

fn invoices(rng: &mut ChaCha20Rng, customers: &[Contact], country: &Country) -> Vec<Invoice> {
    issue_days(rng, 20)
        .into_iter()
        .enumerate()
        .map(|(i, offset)| {
            let customer = customers.choose(rng).unwrap();
            let issue = day(offset);
            let due = issue + Duration::days(30);
            let subtotal = rng.gen_range(150..4_800) * 100 + rng.gen_range(0..100);
            let tax = subtotal * country.tax_percent / 100;
            let status = status(rng, due);
            Invoice {
                id: format!("inv_{:04}", i + 1),
                number: format!("INV-{:04}", i + 1),
                customer_id: customer.id.clone(),
                customer_name: customer.name.clone(),
                issue_date: issue.to_string(),
                due_date: due.to_string(),
                currency: country.currency,
                subtotal_minor: subtotal,
                tax_minor: tax,
                total_minor: subtotal + tax,
                amount_due_minor: if status == "paid" { 0 } else { subtotal + tax },
                status,
                reference: Some(format!("PO-{}", rng.gen_range(1000..9999))),
            }
        })
        .collect()
}

fn bills(rng: &mut ChaCha20Rng, suppliers: &[Contact], country: &Country) -> Vec<Bill> {
    issue_days(rng, 16)
        .into_iter()
        .enumerate()
        .map(|(i, offset)| {
            let supplier = suppliers.choose(rng).unwrap();
            let issue = day(offset);
            let due = issue + Duration::days(14);
            let subtotal = rng.gen_range(40..2_400) * 100 + rng.gen_range(0..100);
            let tax = subtotal * country.tax_percent / 100;
            let status = status(rng, due);
            Bill {
                id: format!("bill_{:04}", i + 1),
                number: format!(
                    "{}-{}",
                    &supplier.name[..3].to_uppercase(),
                    rng.gen_range(10_000..99_999)
                ),
                supplier_id: supplier.id.clone(),
                supplier_name: supplier.name.clone(),
                issue_date: issue.to_string(),
                due_date: due.to_string(),
                currency: country.currency,
                subtotal_minor: subtotal,
                tax_minor: tax,
                total_minor: subtotal + tax,
                amount_due_minor: if status == "paid" { 0 } else { subtotal + tax },
                status,
                reference: None,
            }
        })
        .collect()
}

fn products(rng: &mut ChaCha20Rng, currency: &'static str) -> Vec<Product> {
    let names: Vec<&'static str> = PRODUCTS.choose_multiple(rng, 6).copied().collect();
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| Product {
            id: format!("prod_{:03}", i + 1),
            sku: format!("SKU-{:05}", rng.gen_range(10_000..99_999)),
            name,
            unit_price_minor: rng.gen_range(5..250) * 100 - 1,
            currency,
            stock_quantity: rng.gen_range(0..40),
        })
        .collect()
}

fn orders(
    rng: &mut ChaCha20Rng,
    customers: &[Contact],
    products: &[Product],
    currency: &'static str,
) -> Vec<Order> {
    issue_days(rng, 8)
        .into_iter()
        .enumerate()
        .map(|(i, offset)| {
            let count = rng.gen_range(1..=3);
            let chosen: Vec<&Product> = products.choose_multiple(rng, count).collect();
            let lines: Vec<OrderLine> = chosen
                .into_iter()
                .map(|p| {
                    let quantity = rng.gen_range(1..=5);
                    OrderLine {
                        product_id: p.id.clone(),
                        quantity,
                        unit_price_minor: p.unit_price_minor,
                        amount_minor: quantity * p.unit_price_minor,
                    }
                })
                .collect();
            Order {
                id: format!("ord_{:04}", i + 1),
                number: format!("#{}", 1001 + i),
                date: day(offset).to_string(),
                customer_id: customers.choose(rng).unwrap().id.clone(),
                status: if offset > 340 {
                    "processing"
                } else {
                    "fulfilled"
                },
                currency,
                total_minor: lines.iter().map(|l| l.amount_minor).sum(),
                lines,
            }
        })
        .collect()
}

/// Orders are paid by card; the card processor pays them out in batches.
fn payouts(rng: &mut ChaCha20Rng, orders: &[Order], currency: &'static str) -> Vec<Payout> {
    orders
        .chunks(2)
        .enumerate()
        .map(|(i, batch)| {
            let last = batch
                .iter()
                .map(|o| o.date.as_str())
                .max()
                .unwrap_or_default();
            let last = Date::parse(last, &time::format_description::well_known::Iso8601::DATE)
                .unwrap_or(AS_OF);
            let arrival = (last + Duration::days(rng.gen_range(2..5))).min(AS_OF);
            Payout {
                id: format!("po_{:03}", i + 1),
                arrival_date: arrival.to_string(),
                amount_minor: batch.iter().map(|o| o.total_minor).sum(),
                currency,
                status: if arrival >= AS_OF {
                    "in_transit"
                } else {
                    "paid"
                },
                bank_account_id: "ba_1".to_owned(),
            }
        })
        .collect()
}
