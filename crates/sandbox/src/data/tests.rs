use super::*;

const ORGS: [&str; 6] = [
    "Acme",
    "acme",
    "Bob's Bikes",
    "Ünïcødé Ltd",
    "x",
    "Harbour & Co",
];

#[test]
fn same_organisation_same_data() {
    for org in ORGS {
        let a = serde_json::to_value(generate(org)).unwrap();
        let b = serde_json::to_value(generate(org)).unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn different_organisations_differ() {
    let a = serde_json::to_value(generate("Acme")).unwrap();
    let b = serde_json::to_value(generate("acme")).unwrap();
    assert_ne!(a, b);
}

#[test]
fn balance_sheet_balances() {
    for org in ORGS {
        let data = generate(org);
        let bs = &data.balance_sheet;
        let sum = |lines: &[ReportLine]| lines.iter().map(|l| l.amount_minor).sum::<i64>();
        assert_eq!(bs.total_assets_minor, sum(&bs.assets));
        assert_eq!(bs.total_liabilities_minor, sum(&bs.liabilities));
        assert_eq!(bs.total_equity_minor, sum(&bs.equity));
        assert_eq!(
            bs.total_assets_minor,
            bs.total_liabilities_minor + bs.total_equity_minor,
            "{org}"
        );
        let current_year = bs
            .equity
            .iter()
            .find(|l| l.name == "Current year earnings")
            .unwrap();
        assert_eq!(
            current_year.amount_minor,
            data.profit_and_loss.net_profit_minor
        );
    }
}

#[test]
fn profit_and_loss_nets() {
    for org in ORGS {
        let pnl = generate(org).profit_and_loss;
        let sum = |lines: &[ReportLine]| lines.iter().map(|l| l.amount_minor).sum::<i64>();
        assert_eq!(pnl.total_income_minor, sum(&pnl.income));
        assert_eq!(pnl.total_expenses_minor, sum(&pnl.expenses));
        assert_eq!(
            pnl.net_profit_minor,
            pnl.total_income_minor - pnl.total_expenses_minor
        );
    }
}

#[test]
fn bank_balances_are_running_sums() {
    for org in ORGS {
        let data = generate(org);
        assert_eq!(data.bank_accounts.len(), 2);
        assert!((50..=70).contains(&data.bank_transactions.len()));
        for account in &data.bank_accounts {
            let mine: Vec<_> = data
                .bank_transactions
                .iter()
                .filter(|t| t.bank_account_id == account.id)
                .collect();
            for pair in mine.windows(2) {
                assert!(pair[0].date <= pair[1].date);
                assert_eq!(
                    pair[0].balance_after_minor + pair[1].amount_minor,
                    pair[1].balance_after_minor
                );
            }
            assert_eq!(
                mine.last().unwrap().balance_after_minor,
                account.balance_minor
            );
            assert!(mine.iter().all(|t| t.balance_after_minor >= 0));
        }
    }
}

#[test]
fn documents_are_consistent() {
    for org in ORGS {
        let data = generate(org);
        let currency = data.company.base_currency;
        assert_eq!(data.invoices.len(), 20);
        for invoice in &data.invoices {
            assert_eq!(
                invoice.total_minor,
                invoice.subtotal_minor + invoice.tax_minor
            );
            assert_eq!(invoice.currency, currency);
            assert!(invoice.issue_date < invoice.due_date);
            assert!(data.customers.iter().any(|c| c.id == invoice.customer_id));
            let due = if invoice.status == "paid" {
                0
            } else {
                invoice.total_minor
            };
            assert_eq!(invoice.amount_due_minor, due);
        }
        for bill in &data.bills {
            assert_eq!(bill.total_minor, bill.subtotal_minor + bill.tax_minor);
            assert!(data.suppliers.iter().any(|s| s.id == bill.supplier_id));
        }
        for order in &data.orders {
            let lines: i64 = order.lines.iter().map(|l| l.amount_minor).sum();
            assert_eq!(order.total_minor, lines);
        }
        let ordered: i64 = data.orders.iter().map(|o| o.total_minor).sum();
        let paid_out: i64 = data.payouts.iter().map(|p| p.amount_minor).sum();
        assert_eq!(ordered, paid_out);
    }
}
