//! A bounded mutational fuzzer for Accord's parsers and validators, on stable Rust.
//!
//! `accord-fuzz <target> [--seconds N] [--seed S]` runs one target for N seconds (default 20);
//! `accord-fuzz <target> --replay FILE` runs it once on a saved input; `accord-fuzz list` names
//! the targets. A panic is a crash: the input is written to `fuzz/crashes/<target>-<hash>` and
//! the process exits 1. Why hand-written rather than cargo-fuzz: see README.md.

mod targets;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::panic;
use std::time::{Duration, Instant};
use targets::{Target, TARGETS};

/// Fragments that steer mutations towards the syntax these parsers care about.
const TOKENS: &[&str] = &[
    "%",
    "%00",
    "%FF",
    "&",
    "=",
    "?",
    "#",
    "://",
    "@",
    ":",
    "[",
    "]",
    "::",
    "..",
    "/",
    "\\",
    "\"",
    "{",
    "}",
    "[]",
    "null",
    "\u{0}",
    "\u{200b}",
    "\u{202e}",
    "é",
    "\n",
    "\r\n",
    " ",
    "*",
    "_",
    "`",
    "<",
    ">",
    "](",
    "javascript:",
    "https://",
    "http://",
    "mailto:",
    "0x",
    "127.0.0.1",
    "[::1]",
    "localhost",
    "xn--",
    "99999999999999999999",
    "-1",
    "1e309",
    ".",
];

fn mutate(rng: &mut SmallRng, input: &mut Vec<u8>, pool: &[Vec<u8>]) {
    for _ in 0..rng.gen_range(1..=4) {
        let len = input.len();
        match rng.gen_range(0..7) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                input[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                input[i] = rng.gen();
            }
            2 => {
                let t = TOKENS[rng.gen_range(0..TOKENS.len())].as_bytes();
                let i = rng.gen_range(0..=len);
                input.splice(i..i, t.iter().copied());
            }
            3 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(a..=len.min(a + 16));
                input.drain(a..b);
            }
            4 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(a..=len.min(a + 32));
                let chunk = input[a..b].to_vec();
                let i = rng.gen_range(0..=len);
                input.splice(i..i, chunk);
            }
            5 if !pool.is_empty() => {
                let other = &pool[rng.gen_range(0..pool.len())];
                let cut = rng.gen_range(0..=len);
                let from = rng.gen_range(0..=other.len());
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            _ => input.truncate(rng.gen_range(0..=len)),
        }
    }
    input.truncate(4096);
}

fn crash(target: &Target, input: &[u8]) -> ! {
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crashes");
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("{}-{hash:016x}", target.name));
    let _ = std::fs::write(&file, input);
    eprintln!(
        "CRASH in {}: input {:?} saved to {}",
        target.name,
        String::from_utf8_lossy(input),
        file.display()
    );
    std::process::exit(1);
}

fn run(target: &Target, seconds: u64, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut pool: Vec<Vec<u8>> = target.seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let mut input = if rng.gen_ratio(1, 10) {
            (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect()
        } else {
            pool[rng.gen_range(0..pool.len())].clone()
        };
        mutate(&mut rng, &mut input, &pool);
        if panic::catch_unwind(|| (target.run)(&input)).is_err() {
            crash(target, &input);
        }
        // Without coverage feedback, keep a bounded pool of recent inputs to mutate further.
        if pool.len() < 256 {
            pool.push(input);
        } else if rng.gen_ratio(1, 8) {
            let i = rng.gen_range(target.seeds.len()..pool.len());
            pool[i] = input;
        }
        runs += 1;
    }
    println!(
        "{}: {runs} inputs in {seconds} s, seed {seed}, no crash",
        target.name
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map(String::as_str).unwrap_or("list");
    let flag = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1))
    };
    if name == "list" {
        TARGETS.iter().for_each(|t| println!("{}", t.name));
        return;
    }
    let Some(target) = TARGETS.iter().find(|t| t.name == name) else {
        eprintln!("unknown target {name}; `accord-fuzz list` names them");
        std::process::exit(2);
    };
    if let Some(file) = flag("--replay") {
        let input = std::fs::read(file).expect("read the input to replay");
        (target.run)(&input);
        println!("{}: {file} replayed, no crash", target.name);
        return;
    }
    let seconds = flag("--seconds").map_or(20, |s| s.parse().expect("--seconds N"));
    let seed = flag("--seed").map_or_else(
        || rand::thread_rng().gen(),
        |s| s.parse().expect("--seed S"),
    );
    run(target, seconds, seed);
}
