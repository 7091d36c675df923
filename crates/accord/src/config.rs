//! Configuration in layers: the embedded `config.default.toml` → a TOML file (`--config`) →
//! `ACCORD_*` environment variables (`*_FILE` variants read the value from a file, for secrets)
//! → command-line flags. Validated once at start-up; an invalid value stops Accord with a
//! message naming the key and what is allowed.

use accord_domain::catalog::Platform;
use anyhow::{bail, Context};
use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

pub const DEFAULTS: &str = include_str!("../config.default.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub keys: KeySettings,
    pub sessions: SessionSettings,
    pub sandbox: SandboxSettings,
    pub log: LogSettings,
    pub worker: WorkerSettings,
    pub smtp: SmtpSettings,
    pub rate_limits: RateLimitSettings,
    pub webhooks: WebhookSettings,
    /// Operator catalog entries: added, or replacing a shipped entry with the same key.
    #[serde(default)]
    pub platforms: Vec<Platform>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    /// Empty: derived from the listening address (tests and `accord demo`).
    pub public_url: String,
    pub allow_http_localhost: bool,
    /// Comma-separated addresses of reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// May hold credentials: kept secret, never logged, never quoted in an error.
    pub url: SecretString,
    pub data_dir: PathBuf,
    /// PostgreSQL: the most connections this instance opens.
    pub pool_size: u32,
    /// PostgreSQL: start even if the server may lose acknowledged commits.
    pub allow_unsafe_durability: bool,
}

/// The database `database.url` chooses, by its scheme.
#[derive(Debug)]
pub enum Database {
    /// The embedded default: one SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database that several instances may share; the URL may hold a password.
    Postgres(SecretString),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    pub file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub link_ttl_secs: i64,
    pub manage_ttl_secs: i64,
    pub browser_ttl_secs: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    pub mount: bool,
    pub url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: String,
    pub level: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub poll_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Empty: no e-mail. May hold credentials: kept secret, never logged or quoted.
    pub url: SecretString,
    pub from: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub support_per_ip: u32,
    pub support_per_session: u32,
    pub posts_per_ip: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Development only: endpoints on loopback addresses (plain http allowed to them).
    pub allow_loopback: bool,
    pub poll_millis: u64,
    pub timeout_secs: u64,
    pub secret_overlap_secs: i64,
}

/// Values given as command-line flags, highest precedence.
#[derive(Debug, Default, serde::Serialize)]
pub struct Overrides(pub Vec<(String, toml::Value)>);

impl Overrides {
    pub fn set(&mut self, key: &str, value: impl Into<toml::Value>) {
        self.0.push((key.to_owned(), value.into()));
    }
}

impl Settings {
    /// Loads every layer; `env` is the process environment (passed in so tests control it).
    pub fn load(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.exists() {
                bail!("configuration file {} does not exist", path.display());
            }
            fig = fig.merge(Toml::file(path));
        }
        // ACCORD_SECTION__KEY=value, and ACCORD_SECTION__KEY_FILE=/path (value read from the file).
        // (figment's own Env provider has no `_FILE` rule, hence this loop.)
        let mut plain = Vec::new();
        for (k, v) in env {
            let Some(rest) = k.strip_prefix("ACCORD_") else {
                continue;
            };
            // `ACCORD_TEST_*` belongs to the test suites (e.g. ACCORD_TEST_POSTGRES_URL), not to
            // the configuration; every other unknown `ACCORD_*` is still refused (typos).
            if rest.starts_with("TEST_") {
                continue;
            }
            let key = rest.to_ascii_lowercase().replace("__", ".");
            if let Some(key) = key.strip_suffix("_file") {
                let value =
                    std::fs::read_to_string(v).with_context(|| format!("{k}: cannot read {v}"))?;
                fig = fig.merge(Serialized::default(
                    key,
                    value.trim_end_matches(['\r', '\n']),
                ));
            } else {
                plain.push((key, v.clone()));
            }
        }
        for (key, value) in plain {
            fig = fig.merge(Serialized::default(&key, parse_env_value(&value)));
        }
        for (k, v) in &overrides.0 {
            fig = fig.merge(Serialized::default(k, v));
        }
        // Lossy: a value read from a `_FILE` (always text) may fill a number or a boolean.
        let settings: Settings = fig
            .extract_lossy()
            .map_err(|e| anyhow::anyhow!(describe(&e)))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        if !self.server.public_url.is_empty() {
            self.public_url(None)?;
        }
        for (key, v) in [
            ("sessions.link_ttl_secs", self.sessions.link_ttl_secs),
            ("sessions.manage_ttl_secs", self.sessions.manage_ttl_secs),
            ("sessions.browser_ttl_secs", self.sessions.browser_ttl_secs),
        ] {
            if !(60..=30 * 86_400).contains(&v) {
                bail!("{key} = {v}: must be between 60 (one minute) and 2592000 (30 days) seconds");
            }
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            bail!(
                "log.format = {:?}: allowed values are \"text\" and \"json\"",
                self.log.format
            );
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            bail!("log.level = {:?}: must be a tracing filter such as \"info\" or \"accord=debug,info\"", self.log.level);
        }
        if self.worker.poll_secs == 0 || self.worker.poll_secs > 3600 {
            bail!(
                "worker.poll_secs = {}: must be between 1 and 3600",
                self.worker.poll_secs
            );
        }
        self.mailer()?;
        self.trusted_proxies()?;
        if !(10..=60_000).contains(&self.webhooks.poll_millis) {
            bail!(
                "webhooks.poll_millis = {}: must be between 10 and 60000",
                self.webhooks.poll_millis
            );
        }
        if !(1..=60).contains(&self.webhooks.timeout_secs) {
            bail!(
                "webhooks.timeout_secs = {}: must be between 1 and 60",
                self.webhooks.timeout_secs
            );
        }
        if !(0..=30 * 86_400).contains(&self.webhooks.secret_overlap_secs) {
            bail!(
                "webhooks.secret_overlap_secs = {}: must be between 0 and 2592000 (30 days)",
                self.webhooks.secret_overlap_secs
            );
        }
        self.database()?;
        if !(1..=1000).contains(&self.database.pool_size) {
            bail!(
                "database.pool_size = {}: must be between 1 and 1000 connections",
                self.database.pool_size
            );
        }
        if !self.sandbox.url.is_empty() {
            let u = Url::parse(&self.sandbox.url).map_err(|e| {
                anyhow::anyhow!("sandbox.url = {:?}: not a URL ({e})", self.sandbox.url)
            })?;
            if !matches!(u.scheme(), "http" | "https") {
                bail!(
                    "sandbox.url = {:?}: must be an http or https URL",
                    self.sandbox.url
                );
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server.listen.parse().map_err(|_| {
            anyhow::anyhow!(
                "server.listen = {:?}: must be an address and port such as \"127.0.0.1:8080\"",
                self.server.listen
            )
        })
    }

    /// The public URL, or one derived from the bound address when the setting is empty.
    pub fn public_url(&self, bound: Option<SocketAddr>) -> anyhow::Result<Url> {
        if self.server.public_url.is_empty() {
            let addr = bound.context("server.public_url is empty and no address is bound yet")?;
            return Ok(Url::parse(&format!("http://{addr}")).expect("a socket address makes a URL"));
        }
        let u = Url::parse(&self.server.public_url)
            .map_err(|e| anyhow::anyhow!("server.public_url = {:?}: not a URL ({e}); use e.g. \"https://connect.lender.example\"", self.server.public_url))?;
        if !matches!(u.scheme(), "http" | "https") || u.host().is_none() || u.query().is_some() {
            bail!(
                "server.public_url = {:?}: must be an http(s) URL with a host and no query",
                self.server.public_url
            );
        }
        Ok(u)
    }

    /// The database, chosen by the scheme of `database.url`: empty → SQLite in `data_dir`,
    /// `sqlite://PATH` → that SQLite file, `postgres://…` or `postgresql://…` → PostgreSQL.
    /// The error never quotes the URL: it may hold a password.
    pub fn database(&self) -> anyhow::Result<Database> {
        use secrecy::ExposeSecret;
        let url = self.database.url.expose_secret();
        if url.is_empty() {
            return Ok(Database::Sqlite(self.database.data_dir.join("accord.db")));
        }
        if accord_store_postgres::is_postgres_url(url) {
            return Ok(Database::Postgres(self.database.url.clone()));
        }
        match url.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() => Ok(Database::Sqlite(PathBuf::from(path))),
            _ => bail!(
                "database.url: allowed forms are empty (SQLite in data_dir), sqlite://PATH, \
                 and postgres://USER@HOST:PORT/DATABASE (or postgresql://…)"
            ),
        }
    }

    /// The SQLite file: `database.url` (`sqlite://PATH`) or `<data_dir>/accord.db`; an error
    /// when `database.url` names PostgreSQL.
    pub fn sqlite_path(&self) -> anyhow::Result<PathBuf> {
        match self.database()? {
            Database::Sqlite(path) => Ok(path),
            Database::Postgres(_) => {
                bail!("database.url names a PostgreSQL database, not a SQLite file")
            }
        }
    }

    /// How this instance connects to PostgreSQL.
    pub fn pg_options(&self) -> accord_store_postgres::PgOptions {
        accord_store_postgres::PgOptions {
            max_connections: self.database.pool_size,
            allow_unsafe_durability: self.database.allow_unsafe_durability,
            ..accord_store_postgres::PgOptions::default()
        }
    }

    /// The SMTP relay for support e-mails, `None` when `smtp.url` is empty. The error never
    /// quotes the URL: it may hold a password.
    pub fn mailer(&self) -> anyhow::Result<Option<accord_worker::mail::Mailer>> {
        use secrecy::ExposeSecret;
        if self.smtp.url.expose_secret().is_empty() {
            return Ok(None);
        }
        Ok(Some(accord_worker::mail::Mailer::new(
            &self.smtp.url,
            &self.smtp.from,
        )?))
    }

    /// `server.trusted_proxies` as addresses.
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<std::net::IpAddr>> {
        self.server
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "server.trusted_proxies: {s:?} is not an IP address (a comma-separated list such as \"10.0.0.5, 10.0.0.6\")"
                    )
                })
            })
            .collect()
    }

    /// The rate limits of the hosted flow.
    pub fn rate_limits(&self) -> accord_web::ratelimit::RateLimitSettings {
        accord_web::ratelimit::RateLimitSettings {
            support_per_ip: self.rate_limits.support_per_ip,
            support_per_session: self.rate_limits.support_per_session,
            posts_per_ip: self.rate_limits.posts_per_ip,
        }
    }

    pub fn key_file(&self) -> (PathBuf, bool) {
        if self.keys.file.is_empty() {
            (self.database.data_dir.join("keys.toml"), true)
        } else {
            (PathBuf::from(&self.keys.file), false)
        }
    }
}

/// `"true"` → bool, digits → integer, else the string.
fn parse_env_value(v: &str) -> toml::Value {
    match v {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => v
            .parse::<i64>()
            .map_or_else(|_| toml::Value::String(v.to_owned()), toml::Value::Integer),
    }
}

/// Figment's error, phrased as "<key>: <what is wrong>".
fn describe(e: &figment::Error) -> String {
    let mut out = Vec::new();
    for err in e.clone() {
        let path = err.path.join(".");
        let what = err.kind.to_string();
        out.push(if path.is_empty() {
            format!("configuration: {what}")
        } else {
            format!("{path}: {what}")
        });
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_load() {
        let s = Settings::load(None, &[], &Overrides::default()).unwrap();
        assert_eq!(s.server.listen, "127.0.0.1:8080");
        assert_eq!(s.sessions.link_ttl_secs, 86_400);
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("accord.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9000\"\n[log]\nlevel = \"debug\"\n",
        )
        .unwrap();
        let secret = dir.path().join("ttl");
        std::fs::write(&secret, "7200\n").unwrap();
        let mut flags = Overrides::default();
        flags.set("log.level", "warn");
        let s = Settings::load(
            Some(&file),
            &env(&[
                ("ACCORD_SERVER__LISTEN", "127.0.0.1:9100"),
                (
                    "ACCORD_SESSIONS__LINK_TTL_SECS_FILE",
                    secret.to_str().unwrap(),
                ),
                ("OTHER", "x"),
            ]),
            &flags,
        )
        .unwrap();
        assert_eq!(s.server.listen, "127.0.0.1:9100", "env beats file");
        assert_eq!(s.sessions.link_ttl_secs, 7200, "_FILE variant read");
        assert_eq!(s.log.level, "warn", "flag beats file");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let bad = |pairs: &[(&str, &str)]| {
            Settings::load(None, &env(pairs), &Overrides::default())
                .unwrap_err()
                .to_string()
        };
        assert!(bad(&[("ACCORD_SERVER__LISTEN", "nowhere")]).contains("server.listen"));
        assert!(bad(&[("ACCORD_LOG__FORMAT", "xml")]).contains("log.format"));
        assert!(bad(&[("ACCORD_SESSIONS__LINK_TTL_SECS", "5")]).contains("sessions.link_ttl_secs"));
        assert!(
            bad(&[("ACCORD_SESSIONS__LINK_TTL_SECS", "soon")]).contains("sessions.link_ttl_secs")
        );
        assert!(bad(&[("ACCORD_SERVER__PUBLIC_URL", "ftp://x")]).contains("server.public_url"));
        assert!(bad(&[("ACCORD_SERVER__COLOUR", "blue")]).contains("colour"));
        assert!(bad(&[("ACCORD_DATABASE__POOL_SIZE", "0")]).contains("database.pool_size"));
        assert!(
            bad(&[("ACCORD_SERVER__TRUSTED_PROXIES", "10.0.0.5, proxy")])
                .contains("server.trusted_proxies")
        );
    }

    #[test]
    fn smtp_is_optional_and_checked_without_quoting_the_url() {
        let load =
            |pairs: &[(&str, &str)]| Settings::load(None, &env(pairs), &Overrides::default());
        assert!(load(&[]).unwrap().mailer().unwrap().is_none());
        let s = load(&[
            ("ACCORD_SMTP__URL", "smtp://127.0.0.1:2525"),
            ("ACCORD_SMTP__FROM", "Accord <accord@lender.example>"),
        ])
        .unwrap();
        assert!(s.mailer().unwrap().is_some());
        let refused = load(&[
            ("ACCORD_SMTP__URL", "imap://user:hunter2@mail.example"),
            ("ACCORD_SMTP__FROM", "accord@lender.example"),
        ])
        .unwrap_err()
        .to_string();
        assert!(refused.contains("smtp.url"), "{refused}");
        assert!(!refused.contains("hunter2"), "{refused}");
        let no_from = load(&[("ACCORD_SMTP__URL", "smtp://127.0.0.1:2525")])
            .unwrap_err()
            .to_string();
        assert!(no_from.contains("smtp.from"), "{no_from}");
    }

    #[test]
    fn the_url_scheme_chooses_the_database() {
        let load = |url: &str| {
            Settings::load(
                None,
                &env(&[("ACCORD_DATABASE__URL", url)]),
                &Overrides::default(),
            )
        };
        let db = |url: &str| load(url).unwrap().database().unwrap();
        assert!(matches!(db(""), Database::Sqlite(p) if p.ends_with("accord.db")));
        assert!(
            matches!(db("sqlite:///var/lib/accord/a.db"), Database::Sqlite(p) if p == Path::new("/var/lib/accord/a.db"))
        );
        assert!(matches!(
            db("postgres://accord@db.internal:5432/accord"),
            Database::Postgres(_)
        ));
        assert!(matches!(
            db("postgresql://accord:pw@db.internal/accord"),
            Database::Postgres(_)
        ));
        let refused = load("mysql://root:hunter2@db/accord")
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("database.url") && refused.contains("postgres://"),
            "{refused}"
        );
        assert!(
            !refused.contains("hunter2"),
            "never quotes the URL: {refused}"
        );
        let s = load("postgres://accord@db.internal/accord").unwrap();
        assert!(s.sqlite_path().is_err());
        let o = s.pg_options();
        assert_eq!((o.max_connections, o.allow_unsafe_durability), (16, false));
    }
}
