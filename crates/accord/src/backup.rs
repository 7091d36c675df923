//! `accord backup --to FILE` and `accord restore --from FILE`: the SQLite database copied with
//! SQLite's online backup API, consistent while Accord serves; restored only into a database no
//! running Accord has open, after the copy passes `pragma integrity_check`, then migrated.
//!
//! PostgreSQL is not copied here: its own tools (`pg_dump`, or base backups with WAL archiving
//! for point-in-time recovery) do it better, and pretending otherwise would hand an operator a
//! file that is not a backup.

use crate::config::{Database, Settings};
use crate::proof::{CANNOT_RUN, FAILED, OK};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Pages copied per step: small enough for a live progress bar, large enough to be quick.
const PAGES_PER_STEP: std::os::raw::c_int = 1024;

const POSTGRES: &str = "accord backup and restore copy the SQLite database only. This \
    deployment uses PostgreSQL: back it up with pg_dump, or with base backups and WAL archiving \
    for point-in-time recovery (docs/deployment.md, \"Backups\").";

/// `accord backup --to FILE`: the exit code.
pub fn backup(settings: &Settings, to: &Path, force: bool, quiet: bool) -> i32 {
    let path = match settings.database() {
        Ok(Database::Sqlite(path)) => path,
        Ok(Database::Postgres(_)) => {
            eprintln!("accord backup: {POSTGRES}");
            return CANNOT_RUN;
        }
        Err(e) => {
            eprintln!("accord backup: {e:#}");
            return CANNOT_RUN;
        }
    };
    match copy_out(&path, to, force, quiet) {
        Ok(pages) => {
            println!(
                "Backed up {} to {} ({pages} pages).",
                path.display(),
                to.display()
            );
            println!("The key file (keys.file) is not in the backup: keep a copy of it beside, or the stored tokens cannot be decrypted after a restore.");
            OK
        }
        Err(e) => {
            eprintln!("accord backup: {e:#}");
            FAILED
        }
    }
}

/// Copies the live database into `to` (through a temporary file beside it, renamed when whole).
fn copy_out(db: &Path, to: &Path, force: bool, quiet: bool) -> anyhow::Result<i32> {
    if !db.exists() {
        bail!("there is no database at {}", db.display());
    }
    if to.exists() && !force {
        bail!(
            "{} exists; remove it or pass --force to replace it",
            to.display()
        );
    }
    let partial = partial_path(to);
    let _ = std::fs::remove_file(&partial);
    let src = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", db.display()))?;
    src.busy_timeout(Duration::from_secs(30))?;
    // One read transaction for the whole copy: in WAL mode it sees one snapshot of the
    // database while the server goes on committing, so the copy is consistent and the backup
    // never restarts because of those commits.
    src.execute_batch("begin; select count(*) from sqlite_schema;")?;
    let mut dst = Connection::open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let pages = run_backup(&src, &mut dst, "backing up", quiet)?;
    src.execute_batch("commit")?;
    // The copy keeps the source's WAL mode in its header; as a file to keep it is better
    // self-contained, with no -wal beside it.
    dst.pragma_update(None, "journal_mode", "delete")?;
    drop(dst);
    sync(&partial)?;
    std::fs::rename(&partial, to)
        .with_context(|| format!("cannot move the backup into {}", to.display()))?;
    Ok(pages)
}

fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.file_name().unwrap_or_default().to_owned();
    name.push(".partial");
    to.with_file_name(name)
}

fn sync(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

/// Steps the backup to its end with a progress bar on a terminal; returns the page count.
fn run_backup(
    src: &Connection,
    dst: &mut Connection,
    what: &str,
    quiet: bool,
) -> anyhow::Result<i32> {
    let backup = Backup::new(src, dst)?;
    let bar = progress_bar(what, quiet);
    loop {
        let step = backup.step(PAGES_PER_STEP)?;
        let p = backup.progress();
        bar.set_length(u64::try_from(p.pagecount).unwrap_or(0));
        bar.set_position(u64::try_from(p.pagecount - p.remaining).unwrap_or(0));
        match step {
            StepResult::Done => {
                bar.finish_and_clear();
                return Ok(p.pagecount);
            }
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked => std::thread::sleep(Duration::from_millis(50)),
            _ => bail!("the backup stopped unexpectedly"),
        }
    }
}

fn progress_bar(what: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} {{bar:30}} {{pos}}/{{len}} pages, {{eta}} left"
        ))
        .expect("the progress template is valid"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// `accord restore --from FILE`: the exit code. Migrations run afterwards (`crate::migrate`).
pub async fn restore(settings: &Settings, from: &Path, quiet: bool) -> i32 {
    let path = match settings.database() {
        Ok(Database::Sqlite(path)) => path,
        Ok(Database::Postgres(_)) => {
            eprintln!("accord restore: {POSTGRES}");
            return CANNOT_RUN;
        }
        Err(e) => {
            eprintln!("accord restore: {e:#}");
            return CANNOT_RUN;
        }
    };
    let copied = {
        let (from, path) = (from.to_owned(), path.clone());
        tokio::task::spawn_blocking(move || copy_in(&from, &path, quiet)).await
    };
    match copied {
        Ok(Ok(pages)) => println!(
            "Restored {} into {} ({pages} pages).",
            from.display(),
            path.display()
        ),
        Ok(Err(e)) => {
            eprintln!("accord restore: {e:#}");
            return FAILED;
        }
        Err(e) => {
            eprintln!("accord restore: {e}");
            return FAILED;
        }
    }
    match crate::migrate(settings).await {
        Ok(done) => {
            println!("{done}");
            OK
        }
        Err(e) => {
            eprintln!("accord restore: the database was restored, but migrating it failed: {e:#}");
            FAILED
        }
    }
}

/// Checks the backup, locks the target so no server can have it open, and copies the backup
/// over it in one step (one transaction on the target: whole, or not at all).
fn copy_in(from: &Path, db: &Path, quiet: bool) -> anyhow::Result<i32> {
    let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open the backup {}", from.display()))?;
    check_backup(&src).with_context(|| format!("{} is not a usable backup", from.display()))?;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut dst = Connection::open(db).with_context(|| format!("cannot open {}", db.display()))?;
    // A running Accord keeps the database open, and in WAL mode every open connection holds a
    // shared lock on the file for as long as it is open: an exclusive lock is granted only when
    // nobody else has the database open.
    dst.pragma_update(None, "locking_mode", "exclusive")?;
    if let Err(e) = dst.execute_batch("begin exclusive; commit;") {
        bail!(
            "{} is in use (is Accord running on it? stop every instance first): {e}",
            db.display()
        );
    }
    let pages = run_backup_whole(&src, &mut dst, quiet)?;
    drop(dst);
    Ok(pages)
}

/// The whole copy in one step, holding the target's lock throughout.
fn run_backup_whole(src: &Connection, dst: &mut Connection, quiet: bool) -> anyhow::Result<i32> {
    let bar = progress_bar("restoring", quiet);
    let backup = Backup::new(src, dst)?;
    let step = backup.step(-1)?;
    bar.finish_and_clear();
    if step != StepResult::Done {
        bail!("the database was busy; nothing was restored");
    }
    Ok(backup.progress().pagecount)
}

/// `pragma integrity_check` answers `ok`, and the file holds Accord's tables.
fn check_backup(db: &Connection) -> anyhow::Result<()> {
    let verdict: String = db
        .query_row("pragma integrity_check", [], |r| r.get(0))
        .context("cannot read it as a SQLite database")?;
    if verdict != "ok" {
        bail!("pragma integrity_check: {verdict}");
    }
    let tables: i64 = db.query_row(
        "select count(*) from sqlite_schema where type = 'table' and name in ('tenants', 'consents', 'ledger_events')",
        [],
        |r| r.get(0),
    )?;
    if tables < 3 {
        bail!("it does not hold an Accord database");
    }
    Ok(())
}
