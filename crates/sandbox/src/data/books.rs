//! The parts of the generated dataset that must add up: bank accounts and their transactions,
//! the profit and loss, and the balance sheet.

use rand::seq::SliceRandom as _;
use rand::Rng as _;
use rand_chacha::ChaCha20Rng;
use time::{Date, Duration};

use super::{
    day, BalanceSheet, BankAccount, BankTransaction, Bill, Invoice, Order, Payout, Product,
    ProfitAndLoss, ReportLine, AS_OF, MERCHANTS, PERIOD_START,
};

/// The bank side of the books, with the amounts the reports need.
pub(super) struct Ledger {
    pub accounts: Vec<BankAccount>,
    pub transactions: Vec<BankTransaction>,
    rent: i64,
    bank_fees: i64,
    card_spend: i64,
    interest: i64,
}

const CURRENT: &str = "ba_1";
const SAVINGS: &str = "ba_2";
const TARGET_TRANSACTIONS: usize = 50;

fn parse(date: &str) -> Date {
    Date::parse(date, &time::format_description::well_known::Iso8601::DATE).unwrap_or(AS_OF)
}

/// Builds two accounts whose balances are the running sums of their transactions.
pub(super) fn bank(
    rng: &mut ChaCha20Rng,
    invoices: &[Invoice],
    bills: &[Bill],
    payouts: &[Payout],
    currency: &'static str,
) -> Ledger {
    // (account, date, description, amount)
    let mut moves: Vec<(&str, Date, String, i64)> = Vec::new();
    for invoice in invoices.iter().filter(|i| i.status == "paid") {
        let paid = (parse(&invoice.issue_date) + Duration::days(rng.gen_range(5..35))).min(AS_OF);
        let text = format!("{} – {}", invoice.customer_name, invoice.number);
        moves.push((CURRENT, paid, text, invoice.total_minor));
    }
    for bill in bills.iter().filter(|b| b.status == "paid") {
        let paid = (parse(&bill.issue_date) + Duration::days(rng.gen_range(3..14))).min(AS_OF);
        let text = format!("{} – {}", bill.supplier_name, bill.number);
        moves.push((CURRENT, paid, text, -bill.total_minor));
    }
    for payout in payouts.iter().filter(|p| p.status == "paid") {
        let text = format!("Card payout {}", payout.id);
        moves.push((
            CURRENT,
            parse(&payout.arrival_date),
            text,
            payout.amount_minor,
        ));
    }
    let rent_each = rng.gen_range(400..1_500) * 100;
    for month in 0..12 {
        moves.push((CURRENT, day(month * 30 + 1), "Rent".to_owned(), -rent_each));
    }
    let mut interest = 0;
    for quarter in 0..4 {
        let transfer = rng.gen_range(5..30) * 10_000;
        let date = day(quarter * 91 + 45);
        moves.push((CURRENT, date, "Transfer to savings".to_owned(), -transfer));
        moves.push((
            SAVINGS,
            date,
            "Transfer from current account".to_owned(),
            transfer,
        ));
        let earned = rng.gen_range(500..4_000);
        interest += earned;
        moves.push((
            SAVINGS,
            day(quarter * 91 + 90),
            "Interest".to_owned(),
            earned,
        ));
    }
    // A quarterly account fee, a few card purchases, then more until the statement has a
    // realistic length.
    let (mut bank_fees, mut card_spend) = (0, 0);
    let fee = rng.gen_range(10..40) * 100;
    for quarter in 0..4 {
        bank_fees += fee;
        let text = "Quarterly account fee".to_owned();
        moves.push((CURRENT, day(quarter * 91 + 88), text, -fee));
    }
    let mut purchases = 0;
    while purchases < 4 || moves.len() < TARGET_TRANSACTIONS {
        let spend = rng.gen_range(800..25_000);
        card_spend += spend;
        purchases += 1;
        let text = format!("Card payment – {}", MERCHANTS.choose(rng).unwrap());
        moves.push((CURRENT, day(rng.gen_range(0..365)), text, -spend));
    }
    // Stable order: by date, then by the order the moves were generated in.
    moves.sort_by_key(|m| m.1);

    let (accounts, transactions) = accounts(rng, &moves, currency);
    Ledger {
        accounts,
        transactions,
        rent: rent_each * 12,
        bank_fees,
        card_spend,
        interest,
    }
}

/// The two accounts and their statements from the dated moves (sorted by date), each opened
/// with enough money that it never goes overdrawn.
fn accounts(
    rng: &mut ChaCha20Rng,
    moves: &[(&str, Date, String, i64)],
    currency: &'static str,
) -> (Vec<BankAccount>, Vec<BankTransaction>) {
    let mut accounts = Vec::new();
    let mut transactions = Vec::new();
    for (id, name, kind) in [
        (CURRENT, "Business Current Account", "current"),
        (SAVINGS, "Business Savings Account", "savings"),
    ] {
        let mine: Vec<_> = moves.iter().filter(|m| m.0 == id).collect();
        // Open with enough money that the account never goes overdrawn.
        let mut lowest = 0i64;
        let mut running = 0i64;
        for m in &mine {
            running += m.3;
            lowest = lowest.min(running);
        }
        let mut balance = -lowest + rng.gen_range(20..150) * 10_000;
        for m in mine {
            balance += m.3;
            transactions.push(BankTransaction {
                id: format!("txn_{:04}", transactions.len() + 1),
                bank_account_id: id.to_owned(),
                date: m.1.to_string(),
                description: m.2.clone(),
                amount_minor: m.3,
                currency,
                balance_after_minor: balance,
            });
        }
        accounts.push(BankAccount {
            id: id.to_owned(),
            name,
            kind,
            account_number_last4: format!("{:04}", rng.gen_range(0..10_000)),
            currency,
            balance_minor: balance,
        });
    }
    (accounts, transactions)
}

fn total(lines: &[ReportLine]) -> i64 {
    lines.iter().map(|l| l.amount_minor).sum()
}

/// Income and expenses of the year; amounts net of sales tax.
pub(super) fn profit_and_loss(
    rng: &mut ChaCha20Rng,
    invoices: &[Invoice],
    bills: &[Bill],
    orders: &[Order],
    ledger: &Ledger,
) -> ProfitAndLoss {
    let sales: i64 = invoices.iter().map(|i| i.subtotal_minor).sum();
    let online: i64 = orders.iter().map(|o| o.total_minor).sum();
    let income = vec![
        ReportLine {
            name: "Sales",
            amount_minor: sales,
        },
        ReportLine {
            name: "Online sales",
            amount_minor: online,
        },
        ReportLine {
            name: "Interest income",
            amount_minor: ledger.interest,
        },
    ];
    let total_income = total(&income);
    let expenses = vec![
        ReportLine {
            name: "Purchases",
            amount_minor: bills.iter().map(|b| b.subtotal_minor).sum(),
        },
        ReportLine {
            name: "Rent",
            amount_minor: ledger.rent,
        },
        ReportLine {
            name: "Wages and salaries",
            amount_minor: total_income * rng.gen_range(10..25) / 100,
        },
        ReportLine {
            name: "General expenses",
            amount_minor: ledger.card_spend,
        },
        ReportLine {
            name: "Bank fees",
            amount_minor: ledger.bank_fees,
        },
    ];
    let total_expenses = total(&expenses);
    let currency = ledger.accounts[0].currency;
    ProfitAndLoss {
        period_start: PERIOD_START.to_string(),
        period_end: AS_OF.to_string(),
        currency,
        income,
        total_income_minor: total_income,
        expenses,
        total_expenses_minor: total_expenses,
        net_profit_minor: total_income - total_expenses,
    }
}

/// The position at the end of the year. Equity is what assets leave after liabilities; it is
/// split into share capital, the year's profit (from the P&L) and earlier retained earnings.
pub(super) fn balance_sheet(
    rng: &mut ChaCha20Rng,
    ledger: &Ledger,
    invoices: &[Invoice],
    bills: &[Bill],
    products: &[Product],
    pnl: &ProfitAndLoss,
) -> BalanceSheet {
    let cash = |id: &str| {
        ledger
            .accounts
            .iter()
            .find(|a| a.id == id)
            .map_or(0, |a| a.balance_minor)
    };
    // Stock valued at cost, taken as 40% of its selling price.
    let inventory = products
        .iter()
        .map(|p| p.stock_quantity * p.unit_price_minor * 2 / 5)
        .sum();
    let assets = vec![
        ReportLine {
            name: "Cash at bank – current account",
            amount_minor: cash(CURRENT),
        },
        ReportLine {
            name: "Cash at bank – savings account",
            amount_minor: cash(SAVINGS),
        },
        ReportLine {
            name: "Accounts receivable",
            amount_minor: invoices.iter().map(|i| i.amount_due_minor).sum(),
        },
        ReportLine {
            name: "Inventory",
            amount_minor: inventory,
        },
        ReportLine {
            name: "Equipment",
            amount_minor: rng.gen_range(20..200) * 10_000,
        },
    ];
    let liabilities = vec![
        ReportLine {
            name: "Accounts payable",
            amount_minor: bills.iter().map(|b| b.amount_due_minor).sum(),
        },
        ReportLine {
            name: "Sales tax payable",
            amount_minor: rng.gen_range(10..60) * 10_000,
        },
        ReportLine {
            name: "Business loan",
            amount_minor: rng.gen_range(0..25) * 100_000,
        },
    ];
    let (total_assets, total_liabilities) = (total(&assets), total(&liabilities));
    let share_capital = 100 * 100;
    let equity = vec![
        ReportLine {
            name: "Share capital",
            amount_minor: share_capital,
        },
        ReportLine {
            name: "Retained earnings",
            amount_minor: total_assets - total_liabilities - share_capital - pnl.net_profit_minor,
        },
        ReportLine {
            name: "Current year earnings",
            amount_minor: pnl.net_profit_minor,
        },
    ];
    BalanceSheet {
        as_of: AS_OF.to_string(),
        currency: pnl.currency,
        total_assets_minor: total_assets,
        assets,
        total_liabilities_minor: total_liabilities,
        liabilities,
        total_equity_minor: total(&equity),
        equity,
    }
}
