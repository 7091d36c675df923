//! Embeds `migrations/` at compile time: writes `$OUT_DIR/migrations.rs`, the list of every
//! migration file (version, description, `include_str!` of its SQL) in version order, which
//! `src/migrate.rs` includes. A file is named `<version>_<description>.sql`, as sqlx named
//! them, and the description is recorded the way sqlx recorded it (underscores as spaces), so a
//! database migrated by sqlx is recognised.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Cargo cannot know that the list depends on the directory: a new or changed migration
    // file must rebuild the crate.
    println!("cargo:rerun-if-changed=migrations");
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("migrations");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("migrations/ is readable") {
        let path = entry.expect("migrations/ is readable").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let Some((version, rest)) = name.split_once('_') else {
            continue;
        };
        let Some(description) = rest.strip_suffix(".sql") else {
            continue;
        };
        let version: i64 = version
            .parse()
            .unwrap_or_else(|_| panic!("migration {name}: the name must start with a version"));
        println!("cargo:rerun-if-changed={}", path.display());
        found.push((version, description.replace('_', " "), path));
    }
    found.sort_by_key(|(version, _, _)| *version);
    let mut out = String::from("&[\n");
    for (version, description, path) in &found {
        writeln!(
            out,
            "    Migration {{ version: {version}, description: {description:?}, sql: include_str!({:?}) }},",
            path.display().to_string()
        )
        .expect("writing to a string");
    }
    out.push_str("]\n");
    let target = Path::new(&std::env::var("OUT_DIR").expect("set by cargo")).join("migrations.rs");
    std::fs::write(target, out).expect("OUT_DIR is writable");
}
