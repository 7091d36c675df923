//! The report of a run: a Markdown section (the facts of the machine and the servers, the
//! rounds side by side with their ratios, every step's p50/p99) and an SVG bar chart of the
//! flows per second, written by hand (no plotting dependency).

use crate::stats::Round;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(clap::Parser, Clone)]
pub struct ReportArgs {
    /// The rounds, one JSON line each (`accord-flow run` output).
    #[arg(long)]
    results: PathBuf,
    /// Facts of the run, `name=value`, listed in the order given.
    #[arg(long)]
    fact: Vec<String>,
    #[arg(long)]
    svg: PathBuf,
    /// How the Markdown links to the chart.
    #[arg(long)]
    svg_link: String,
    #[arg(long)]
    markdown: PathBuf,
    /// The section's heading.
    #[arg(long)]
    title: String,
}

pub fn write(args: &ReportArgs) -> anyhow::Result<()> {
    let rounds: Vec<Round> = std::fs::read_to_string(&args.results)?
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    std::fs::write(&args.svg, svg(&rounds))?;
    std::fs::write(&args.markdown, markdown(args, &rounds))?;
    Ok(())
}

fn levels(rounds: &[Round]) -> Vec<usize> {
    rounds
        .iter()
        .map(|r| r.concurrency)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn find<'a>(rounds: &'a [Round], side: &str, c: usize, n: u32) -> Option<&'a Round> {
    rounds
        .iter()
        .find(|r| r.side == side && r.concurrency == c && r.round == n)
}

fn markdown(args: &ReportArgs, rounds: &[Round]) -> String {
    let mut md = format!("### {}\n\n", args.title);
    for f in &args.fact {
        let (k, v) = f.split_once('=').unwrap_or((f, ""));
        let _ = writeln!(md, "- {k}: {v}");
    }
    let _ = write!(
        md,
        "\n![flows per second, Accord and oidc-provider, each round]({})\n\n",
        args.svg_link
    );
    md.push_str("| in flight | pair | Accord flows/s | peer flows/s | ratio | Accord flow p50 / p99 | peer flow p50 / p99 | Accord CPU / flow | peer CPU / flow | errors A / B |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for c in levels(rounds) {
        for n in 1.. {
            let (Some(a), Some(b)) = (find(rounds, "accord", c, n), find(rounds, "peer", c, n))
            else {
                break;
            };
            let _ = writeln!(
                md,
                "| {c} | {n} | {:.0} | {:.0} | **{:.2}×** | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {:.2} ms | {:.2} ms | {} / {} |",
                a.flows_per_s, b.flows_per_s, a.flows_per_s / b.flows_per_s.max(f64::MIN_POSITIVE),
                a.flow_p50_ms, a.flow_p99_ms, b.flow_p50_ms, b.flow_p99_ms,
                a.server_cpu_ms_per_flow, b.server_cpu_ms_per_flow, a.errors, b.errors
            );
        }
    }
    pg_table(&mut md, rounds);
    for side in ["accord", "accord-pg", "peer"] {
        steps_table(&mut md, rounds, side);
    }
    md
}

/// Two Accord instances on one PostgreSQL (side `accord-pg`), beside the same pair's rounds.
fn pg_table(md: &mut String, rounds: &[Round]) {
    if !rounds.iter().any(|r| r.side == "accord-pg") {
        return;
    }
    md.push_str("\nTwo Accord instances on one PostgreSQL (each flow on one instance, the in-flight slots split between them), beside the same pair:\n\n");
    md.push_str("| in flight | pair | Accord PG flows/s | / Accord SQLite | / peer | flow p50 / p99 | CPU / flow (both instances) | errors |\n");
    md.push_str("|---|---|---|---|---|---|---|---|\n");
    for c in levels(rounds) {
        for n in 1.. {
            let Some(p) = find(rounds, "accord-pg", c, n) else {
                break;
            };
            let ratio = |side: &str| {
                find(rounds, side, c, n).map_or_else(
                    || "–".to_owned(),
                    |r| {
                        format!(
                            "{:.2}×",
                            p.flows_per_s / r.flows_per_s.max(f64::MIN_POSITIVE)
                        )
                    },
                )
            };
            let _ = writeln!(
                md,
                "| {c} | {n} | {:.0} | {} | **{}** | {:.1} / {:.1} ms | {:.2} ms | {} |",
                p.flows_per_s,
                ratio("accord"),
                ratio("peer"),
                p.flow_p50_ms,
                p.flow_p99_ms,
                p.server_cpu_ms_per_flow,
                p.errors
            );
        }
    }
}

/// Every step's p50 / p99 at each level, from the first round of the level.
fn steps_table(md: &mut String, rounds: &[Round], side: &str) {
    let levels = levels(rounds);
    let firsts: Vec<&Round> = levels
        .iter()
        .filter_map(|&c| find(rounds, side, c, 1))
        .collect();
    let Some(first) = firsts.first() else { return };
    let name = match side {
        "accord" => "Accord",
        "accord-pg" => "Accord on PostgreSQL (two instances)",
        _ => "oidc-provider",
    };
    let _ = write!(
        md,
        "\n{name}, each step, p50 / p99 in ms (first round of each level; client CPU per flow: "
    );
    let client: Vec<String> = firsts
        .iter()
        .map(|r| format!("{:.2} ms at {}", r.client_cpu_ms_per_flow, r.concurrency))
        .collect();
    let _ = writeln!(md, "{}):\n", client.join(", "));
    md.push_str("| step |");
    for r in &firsts {
        let _ = write!(md, " {} in flight |", r.concurrency);
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(firsts.len()));
    md.push('\n');
    for step in &first.steps {
        let _ = write!(md, "| {} |", step.name);
        for r in &firsts {
            match r.steps.iter().find(|s| s.name == step.name) {
                Some(s) => {
                    let _ = write!(md, " {:.2} / {:.2} |", s.p50_ms, s.p99_ms);
                }
                None => md.push_str(" – |"),
            }
        }
        md.push('\n');
    }
}

/// Grouped bars: for each level, Accord's rounds (blue) then the peer's (orange), in flows/s.
#[allow(clippy::many_single_char_names)] // the chart's geometry: width, height, x, y…
fn svg(rounds: &[Round]) -> String {
    let levels = levels(rounds);
    let top = rounds.iter().map(|r| r.flows_per_s).fold(1.0, f64::max) * 1.1;
    let (w, h, left, bottom) = (760.0, 340.0, 60.0, 40.0);
    let plot_h = h - bottom - 30.0;
    #[allow(clippy::cast_precision_loss)]
    let group_w = (w - left - 10.0) / levels.len().max(1) as f64;
    let pg = if rounds.iter().any(|r| r.side == "accord-pg") {
        " <tspan fill=\"#2ca02c\">■ Accord, 2 instances on PostgreSQL</tspan>"
    } else {
        ""
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{left}\" y=\"18\" font-size=\"14\">Complete flows per second (higher is better): <tspan fill=\"#1f77b4\">■ Accord</tspan> <tspan fill=\"#ff7f0e\">■ node oidc-provider</tspan>{pg}, each round</text>\n"
    );
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let y = h - bottom - plot_h * f64::from(i) / 4.0;
        let _ = writeln!(s, "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>", w - 10.0, left - 6.0, y + 4.0);
    }
    for (g, &c) in levels.iter().enumerate() {
        let mut bars: Vec<(&str, f64)> = Vec::new();
        for (side, colour) in [
            ("accord", "#1f77b4"),
            ("accord-pg", "#2ca02c"),
            ("peer", "#ff7f0e"),
        ] {
            for r in rounds
                .iter()
                .filter(|r| r.side == side && r.concurrency == c)
            {
                bars.push((colour, r.flows_per_s));
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let x0 = left + group_w * g as f64;
        #[allow(clippy::cast_precision_loss)]
        let bar_w = (group_w - 20.0) / bars.len().max(1) as f64;
        for (i, (colour, v)) in bars.iter().enumerate() {
            let bh = plot_h * v / top;
            #[allow(clippy::cast_precision_loss)]
            let x = x0 + 10.0 + bar_w * i as f64;
            let _ = writeln!(s, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{colour}\"><title>{v:.0} flows/s</title></rect>", h - bottom - bh, bar_w - 2.0);
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{c} in flight</text>",
            x0 + group_w / 2.0,
            h - bottom + 18.0
        );
    }
    s.push_str("</svg>\n");
    s
}
