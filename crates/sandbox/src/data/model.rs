//! The shapes of the data API's documents. Amounts are integers in minor units (pence,
//! cents) with an ISO 4217 currency; dates are ISO 8601 calendar dates.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    pub company: CompanyInfo,
    pub customers: Vec<Contact>,
    pub suppliers: Vec<Contact>,
    pub invoices: Vec<Invoice>,
    pub bills: Vec<Bill>,
    pub bank_accounts: Vec<BankAccount>,
    pub bank_transactions: Vec<BankTransaction>,
    pub balance_sheet: BalanceSheet,
    pub profit_and_loss: ProfitAndLoss,
    pub orders: Vec<Order>,
    pub products: Vec<Product>,
    pub payouts: Vec<Payout>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompanyInfo {
    pub id: String,
    pub organisation: String,
    pub name: String,
    pub legal_name: String,
    pub registration_number: String,
    pub country: &'static str,
    pub base_currency: &'static str,
    pub financial_year_end: &'static str,
    pub address: Address,
    pub email: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Address {
    pub line1: String,
    pub city: &'static str,
    pub postcode: String,
    pub country: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Invoice {
    pub id: String,
    pub number: String,
    pub customer_id: String,
    pub customer_name: String,
    pub issue_date: String,
    pub due_date: String,
    pub currency: &'static str,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub amount_due_minor: i64,
    pub status: &'static str,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bill {
    pub id: String,
    pub number: String,
    pub supplier_id: String,
    pub supplier_name: String,
    pub issue_date: String,
    pub due_date: String,
    pub currency: &'static str,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub amount_due_minor: i64,
    pub status: &'static str,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BankAccount {
    pub id: String,
    pub name: &'static str,
    pub kind: &'static str,
    pub account_number_last4: String,
    pub currency: &'static str,
    pub balance_minor: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BankTransaction {
    pub id: String,
    pub bank_account_id: String,
    pub date: String,
    pub description: String,
    /// Positive for money in, negative for money out.
    pub amount_minor: i64,
    pub currency: &'static str,
    pub balance_after_minor: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportLine {
    pub name: &'static str,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BalanceSheet {
    pub as_of: String,
    pub currency: &'static str,
    pub assets: Vec<ReportLine>,
    pub total_assets_minor: i64,
    pub liabilities: Vec<ReportLine>,
    pub total_liabilities_minor: i64,
    pub equity: Vec<ReportLine>,
    pub total_equity_minor: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfitAndLoss {
    pub period_start: String,
    pub period_end: String,
    pub currency: &'static str,
    pub income: Vec<ReportLine>,
    pub total_income_minor: i64,
    pub expenses: Vec<ReportLine>,
    pub total_expenses_minor: i64,
    pub net_profit_minor: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub id: String,
    pub sku: String,
    pub name: &'static str,
    pub unit_price_minor: i64,
    pub currency: &'static str,
    pub stock_quantity: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderLine {
    pub product_id: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: String,
    pub number: String,
    pub date: String,
    pub customer_id: String,
    pub status: &'static str,
    pub currency: &'static str,
    pub lines: Vec<OrderLine>,
    pub total_minor: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Payout {
    pub id: String,
    pub arrival_date: String,
    pub amount_minor: i64,
    pub currency: &'static str,
    pub status: &'static str,
    pub bank_account_id: String,
}
