//! `accord`: the single binary. Subcommands: serve, demo, migrate, tenant create, sandbox, openapi,
//! ledger verify, receipt verify, keys rotate, backup, restore.

use accord::config::{LogFormat, Overrides, Settings};
use accord::Application;
use accord_domain::SystemClock;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "accord",
    version,
    about = "Consent-first authorization flow for connecting business platforms"
)]
struct Cli {
    /// A TOML configuration file (see config.default.toml for every key).
    #[arg(long, global = true, env = "ACCORD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the hosted flow, manage page and tenant API, with the job worker.
    Serve {
        #[arg(long)]
        listen: Option<String>,
        #[arg(long)]
        public_url: Option<String>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run Accord with the sandbox platform and a demo tenant; prints an API key and a link.
    Demo {
        #[arg(long, default_value_t = 8080)]
        port: u16,
        #[arg(long, default_value = "./data/demo")]
        data_dir: PathBuf,
    },
    /// Apply database migrations (SQLite or PostgreSQL, per database.url) and exit.
    Migrate {
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Run the sandbox platform on its own (an OAuth 2.0 server with a small accounting API).
    Sandbox {
        #[arg(long, default_value_t = 8090)]
        port: u16,
        /// Client id to register.
        #[arg(long, default_value = accord::SANDBOX_CLIENT_ID)]
        client_id: String,
        /// Client secret to register.
        #[arg(long, env = "ACCORD_SANDBOX_CLIENT_SECRET", hide_env_values = true)]
        client_secret: String,
        /// Redirect URI to register (repeat for several), e.g. `http://127.0.0.1:8080/link/callback/sandbox`.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
    },
    /// Print the tenant API's OpenAPI 3.1 document.
    Openapi,
    /// The consent ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Signed consent receipts.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
    /// The key file (token encryption and receipt signing).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Copy the SQLite database to FILE while Accord runs (SQLite's online backup). PostgreSQL
    /// deployments use `pg_dump` or point-in-time recovery instead (exit 2).
    Backup {
        /// Where to write the copy.
        #[arg(long)]
        to: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
        /// No progress bar (it is shown only on a terminal anyway).
        #[arg(long, short)]
        quiet: bool,
        /// The data directory (`database.data_dir`) holding the database.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Replace the SQLite database with a backup, after checking it (`pragma integrity_check`),
    /// then migrate it. Refused while an Accord has the database open: stop it first.
    Restore {
        /// The backup to restore.
        #[arg(long)]
        from: PathBuf,
        /// No progress bar (it is shown only on a terminal anyway).
        #[arg(long, short)]
        quiet: bool,
        /// The data directory (`database.data_dir`) holding the database.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every tenant's hash chain and Merkle tree (or one's), check every signed
    /// checkpoint, those given with `--checkpoints` included, and compare the consent,
    /// connection and NDA records with their events; name the first broken event and each
    /// disagreement. Exit 0 when intact, 1 on any tamper, 2 when it cannot run.
    ///
    /// The database is only read: a SQLite file is opened read-only (a read-only copy or mount
    /// verifies in place), PostgreSQL with every transaction read-only; nothing is migrated,
    /// built or checkpointed. A database at another schema version than this accord's is
    /// refused (exit 2), naming both.
    Verify {
        /// Only this tenant's chain.
        #[arg(long)]
        tenant: Option<String>,
        /// The public keys the checkpoints are checked with: a JWKS file, or a URL such as
        /// `https://connect.lender.example/.well-known/jwks.json`. Default: the configured key file.
        #[arg(long)]
        jwks: Option<String>,
        /// Checkpoints kept outside the database, each checked against it: the sealer's
        /// checkpoint file, a file of C2SP signed notes, or a URL serving either (such as
        /// `/ledger/{tenant}/checkpoint`, or `/v1/ledger/checkpoints` with the API key in
        /// `ACCORD_API_KEY`). Repeatable.
        #[arg(long, value_name = "FILE|URL", num_args = 1..)]
        checkpoints: Vec<String>,
        /// No progress bar (it is shown only on a terminal anyway).
        #[arg(long, short)]
        quiet: bool,
        /// The data directory (`database.data_dir`) holding the database and the key file.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ReceiptCommand {
    /// Verify a receipt offline: its signature, its event's inclusion in the signed checkpoint
    /// it carries, and with `--proof` its inclusion in a later checkpoint that extends that one;
    /// print what it proves. Exit 1 when any of it does not verify.
    Verify {
        /// The receipt file: the `.json` receipt document (the signed receipt and its inclusion
        /// proof), an entry of the API's receipt list, or a bare `.jws`.
        file: PathBuf,
        /// The public keys: a JWKS file, or a URL such as
        /// `https://connect.lender.example/.well-known/jwks.json`. Default: the configured key file.
        #[arg(long)]
        jwks: Option<String>,
        /// A fresh proof (`.proof.json`, or `GET /v1/consents/{consent_id}/receipt/proof`): the
        /// event's inclusion in a later checkpoint, and that checkpoint's consistency with the
        /// receipt's.
        #[arg(long)]
        proof: Option<PathBuf>,
        /// The data directory (`database.data_dir`) holding the database and the key file.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new current key to the key file, keeping the old ones (old receipts still
    /// verify), then, while Accord may serve: wrap every tenant's data key under it and
    /// re-encrypt every secret still sealed with an instance key under its tenant's data key.
    Rotate {
        /// The data directory (`database.data_dir`) holding the database and the key file.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// No progress bar (it is shown only on a terminal anyway).
        #[arg(long, short)]
        quiet: bool,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant; prints its API key once.
    Create {
        #[arg(long)]
        name: String,
        /// Also make the tenant's console owner, with this e-mail, and print their one-time
        /// set-password link (valid 7 days).
        #[arg(long, value_name = "EMAIL")]
        owner_email: Option<String>,
        /// The data directory (`database.data_dir`) holding the database and the key file.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Delete a tenant: its data keys first (its stored secrets become unreadable), then its
    /// API keys, console accounts, platforms, webhook endpoints and pending jobs. Its consents
    /// and ledger events stay (hashes and non-secret metadata).
    Delete {
        /// The tenant's id.
        tenant_id: accord_domain::ids::TenantId,
        /// The data directory (`database.data_dir`) holding the database and the key file.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn set_data_dir(o: &mut Overrides, data_dir: Option<PathBuf>) {
    if let Some(v) = data_dir {
        o.set("database.data_dir", v.display().to_string());
    }
}

fn env() -> Vec<(String, String)> {
    std::env::vars().collect()
}

fn load(config: Option<&PathBuf>, overrides: &Overrides) -> Settings {
    match Settings::load(config.map(PathBuf::as_path), &env(), overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("accord: invalid configuration\n{e:#}");
            std::process::exit(2);
        }
    }
}

fn init_logs(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::new(settings.log.level.as_str());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if settings.log.format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}

fn main() -> anyhow::Result<()> {
    small_pages_by_default();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

/// Turns transparent huge pages off for the process, before anything is allocated, unless
/// `MIMALLOC_ALLOW_THP` asks for them. mimalloc advises huge pages on its arenas (1 GiB of
/// address space each, `madvise(MADV_HUGEPAGE)`), so where the kernel honours that (THP
/// `madvise` or `always`, the usual distribution default) each 2 MiB of heap that a few small
/// allocations touch becomes resident whole: an idle `accord demo` held 18 MiB of huge pages.
/// With small pages the resident heap stays near what is in use. An operator who prefers huge
/// pages for a large heap sets `MIMALLOC_ALLOW_THP=1` (mimalloc's own switch).
fn small_pages_by_default() {
    #[cfg(target_os = "linux")]
    {
        use rustix::thread::{disable_transparent_huge_pages, transparent_huge_pages_are_disabled};
        // A parent's choice (the flag is inherited) is kept either way.
        let inherited_off = transparent_huge_pages_are_disabled().unwrap_or(false);
        // First, since reading the variable allocates. An old kernel without the flag keeps its
        // default; nothing else depends on it.
        let _ = disable_transparent_huge_pages(true);
        let asked = std::env::var("MIMALLOC_ALLOW_THP").is_ok_and(|v| {
            !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "0" | "false" | "no" | "off"
            )
        });
        if asked && !inherited_off {
            let _ = disable_transparent_huge_pages(false);
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.config;
    let mut o = Overrides::default();
    match cli.command {
        Command::Openapi => {
            println!("{}", accord_web::api::openapi_json());
        }
        command @ (Command::Ledger { .. } | Command::Receipt { .. }) => {
            std::process::exit(verify(config.as_ref(), command).await);
        }
        Command::Keys {
            command: KeysCommand::Rotate { data_dir, quiet },
        } => {
            set_data_dir(&mut o, data_dir);
            o.set("server.listen", "127.0.0.1:0"); // the store and keys only, not the port
            keys_rotate(&load(config.as_ref(), &o), quiet).await;
        }
        command @ (Command::Backup { .. } | Command::Restore { .. }) => {
            std::process::exit(backup_or_restore(config.as_ref(), command).await);
        }
        Command::Serve {
            listen,
            public_url,
            data_dir,
        } => {
            if let Some(v) = listen {
                o.set("server.listen", v);
            }
            if let Some(v) = public_url {
                o.set("server.public_url", v);
            }
            set_data_dir(&mut o, data_dir);
            serve(&load(config.as_ref(), &o)).await?;
        }
        Command::Demo { port, data_dir } => {
            o.set("server.listen", format!("127.0.0.1:{port}"));
            o.set("server.public_url", String::new());
            o.set("server.allow_http_localhost", true);
            o.set("sandbox.mount", true);
            o.set("database.data_dir", data_dir.display().to_string());
            demo(&load(config.as_ref(), &o)).await?;
        }
        Command::Migrate { data_dir } => {
            set_data_dir(&mut o, data_dir);
            let settings = load(config.as_ref(), &o);
            init_logs(&settings);
            println!("{}", accord::migrate(&settings).await?);
        }
        Command::Tenant { command } => tenant(config.as_ref(), o, command).await?,
        Command::Sandbox {
            port,
            client_id,
            client_secret,
            redirect_uris,
        } => {
            init_logs(&load(config.as_ref(), &o));
            let client = accord_sandbox::SandboxClient {
                client_id,
                client_secret: client_secret.into(),
                redirect_uris,
            };
            sandbox(port, client).await?;
        }
    }
    Ok(())
}

/// `accord ledger verify` and `accord receipt verify`: the exit code.
async fn verify(config: Option<&PathBuf>, command: Command) -> i32 {
    let mut o = Overrides::default();
    match command {
        Command::Ledger {
            command:
                LedgerCommand::Verify {
                    tenant,
                    jwks,
                    checkpoints,
                    quiet,
                    data_dir,
                },
        } => {
            set_data_dir(&mut o, data_dir);
            let settings = load(config, &o);
            init_logs(&settings);
            let options = accord::proof::VerifyOptions {
                tenant,
                jwks,
                checkpoints,
                quiet,
            };
            accord::proof::ledger_verify(&settings, &options).await
        }
        Command::Receipt {
            command:
                ReceiptCommand::Verify {
                    file,
                    jwks,
                    proof,
                    data_dir,
                },
        } => {
            set_data_dir(&mut o, data_dir);
            accord::proof::receipt_verify(&file, jwks.as_deref(), proof.as_deref(), || {
                load(config, &o)
            })
            .await
        }
        _ => unreachable!("only the verify commands are passed here"),
    }
}

/// `accord backup` and `accord restore`: the exit code.
async fn backup_or_restore(config: Option<&PathBuf>, command: Command) -> i32 {
    let mut o = Overrides::default();
    match command {
        Command::Backup {
            to,
            force,
            quiet,
            data_dir,
        } => {
            set_data_dir(&mut o, data_dir);
            let settings = load(config, &o);
            init_logs(&settings);
            accord::backup::backup(&settings, &to, force, quiet)
        }
        Command::Restore {
            from,
            quiet,
            data_dir,
        } => {
            set_data_dir(&mut o, data_dir);
            let settings = load(config, &o);
            init_logs(&settings);
            accord::backup::restore(&settings, &from, quiet).await
        }
        _ => unreachable!("only backup and restore come here"),
    }
}

/// `accord serve`: the application on its configured address until a shutdown signal.
async fn serve(settings: &Settings) -> anyhow::Result<()> {
    init_logs(settings);
    let app = Application::build(settings, Arc::new(SystemClock)).await?;
    tracing::info!(address = %app.local_addr(), "Accord is listening");
    app.serve(shutdown_signal()).await?;
    Ok(())
}

/// `accord keys rotate`: a new current key in the key file, the old ones kept; then every
/// data key wrapped under it and every instance-sealed secret re-encrypted, online.
async fn keys_rotate(settings: &Settings, quiet: bool) {
    init_logs(settings);
    let fail = |e: anyhow::Error| -> ! {
        eprintln!("accord keys rotate: {e:#}");
        std::process::exit(accord::proof::CANNOT_RUN);
    };
    let r = accord::proof::keys_rotate(settings).unwrap_or_else(|e| fail(e));
    println!(
        "New current key: {} (receipt signing key {})",
        r.key_id, r.signing_key_id
    );
    println!(
        "Key file: {} ({} keys; the old ones are kept, so old receipts still verify)",
        r.path.display(),
        r.keys
    );
    let app = Application::build(settings, Arc::new(SystemClock))
        .await
        .unwrap_or_else(|e| fail(e));
    let report = accord::keys::rotate(app.state(), quiet)
        .await
        .unwrap_or_else(|e| fail(e));
    let line = |what: &str, c: accord::keys::Counts| {
        println!(
            "{what}: {} done, {} skipped (changed meanwhile), {} failed",
            c.done, c.changed, c.failed
        );
    };
    line("Data keys wrapped under the new key", report.data_keys);
    for (kind, counts) in &report.secrets {
        line(&format!("Re-encrypted {}", kind.name()), *counts);
    }
    println!("Copy the key file to every Accord instance using this database; running instances read it again when they meet the new key.");
}

/// `accord demo`: serves with the sandbox and a demo tenant, after printing its API key and
/// the line `Link URL: …` that scripts and the browser suite read.
async fn demo(settings: &Settings) -> anyhow::Result<()> {
    init_logs(settings);
    // The demo's sandbox answers Accord's token requests in-process, without a loopback socket.
    let app = Application::build(settings, Arc::new(SystemClock))
        .await?
        .with_sandbox_in_process();
    let demo = accord::demo::ensure(app.state()).await?;
    println!();
    println!("Accord demo is running at http://{}", app.local_addr());
    println!("Tenant: {} (id {})", demo.tenant.name, demo.tenant.id);
    println!(
        "Tenant API key (shown once): {}",
        demo.api_key.expose_secret()
    );
    println!("Company: {} (id {})", demo.company.name, demo.company.id);
    println!("Manage URL: {}", demo.manage_url);
    println!("Link URL: {}", demo.link_url);
    println!();
    app.serve(shutdown_signal()).await?;
    Ok(())
}

/// `accord tenant …`.
async fn tenant(
    config: Option<&PathBuf>,
    mut o: Overrides,
    command: TenantCommand,
) -> anyhow::Result<()> {
    // Only the store and keys are needed; do not take the server's port.
    o.set("server.listen", "127.0.0.1:0");
    match command {
        TenantCommand::Create {
            name,
            owner_email,
            data_dir,
        } => {
            set_data_dir(&mut o, data_dir);
            tenant_create(&load(config, &o), &name, owner_email.as_deref()).await
        }
        TenantCommand::Delete {
            tenant_id,
            data_dir,
        } => {
            set_data_dir(&mut o, data_dir);
            let settings = load(config, &o);
            init_logs(&settings);
            let app = Application::build(&settings, Arc::new(SystemClock)).await?;
            if !accord::keys::delete_tenant(app.state(), tenant_id).await? {
                eprintln!(
                    "accord tenant delete: no tenant {tenant_id} (or it was deleted already)"
                );
                std::process::exit(2);
            }
            println!("Tenant {tenant_id} deleted: its data keys are destroyed, so its stored secrets can no longer be read. Its consents and ledger events remain.");
            Ok(())
        }
    }
}

/// `accord tenant create`: the tenant and its first API key, printed once; with an owner
/// e-mail, the console owner too and their set-password link, printed once.
async fn tenant_create(
    settings: &Settings,
    name: &str,
    owner_email: Option<&str>,
) -> anyhow::Result<()> {
    use accord_web::services::console;
    init_logs(settings);
    let app = Application::build(settings, Arc::new(SystemClock)).await?;
    let refused = |what: &str, e: &dyn std::fmt::Display| -> ! {
        eprintln!("accord: cannot create the {what}: {e}");
        std::process::exit(2);
    };
    // The owner's address is checked first: a refused one leaves no tenant behind.
    let owner = match owner_email {
        Some(e) => Some(
            console::available_email(app.state(), e)
                .await
                .unwrap_or_else(|e| refused("tenant", &e)),
        ),
        None => None,
    };
    let (tenant, key) = accord_web::services::tenants::create_tenant(
        app.state(),
        name,
        accord_domain::settings::LinkSettings::default(),
    )
    .await
    .unwrap_or_else(|e| refused("tenant", &e));
    println!("Tenant: {} (id {})", tenant.name, tenant.id);
    println!(
        "API key (shown once, store it now): {}",
        key.expose_secret()
    );
    if let Some(email) = owner {
        let (user, link) = console::invite_owner(app.state(), tenant.id, &email)
            .await
            .unwrap_or_else(|e| refused("console owner", &e));
        println!("Console owner: {}", user.email);
        println!(
            "Set-password link (valid 7 days, works once, shown once): {}",
            link.expose_secret()
        );
    }
    Ok(())
}

/// `accord sandbox`: the sandbox platform on its own, with one OAuth client.
async fn sandbox(port: u16, client: accord_sandbox::SandboxClient) -> anyhow::Result<()> {
    let sandbox = accord_sandbox::Sandbox::new(
        accord_sandbox::SandboxConfig {
            clients: vec![client],
            ..accord_sandbox::SandboxConfig::default()
        },
        Arc::new(SystemClock),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "Accord sandbox platform at http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, sandbox.router())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
