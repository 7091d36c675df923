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
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use url::Url;

pub const DEFAULTS: &str = include_str!("../config.default.toml");

/// `ACCORD_*` variables that the command line reads for its own arguments (`--config`,
/// `accord sandbox --client-secret`): not configuration keys, so not refused as unknown ones.
const CLI_VARIABLES: &[&str] = &["CONFIG", "SANDBOX_CLIENT_SECRET"];

/// Keys whose own name ends in `_file`: their variable (`ACCORD_LEDGER__CHECKPOINT_FILE`) is the
/// value itself, not the `_FILE` variant of a shorter key; their `_FILE` variant adds one more
/// `_FILE`.
const KEYS_ENDING_IN_FILE: &[&str] = &["ledger.checkpoint_file"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub keys: KeySettings,
    pub ledger: LedgerSettings,
    pub sessions: SessionSettings,
    pub sandbox: SandboxSettings,
    pub log: LogSettings,
    pub worker: WorkerSettings,
    pub data_access: DataAccessSettings,
    pub smtp: SmtpSettings,
    pub rate_limits: RateLimitSettings,
    pub webhooks: WebhookSettings,
    pub metrics: MetricsSettings,
    /// Operator catalog entries: added, or replacing a shipped entry with the same key.
    #[serde(default)]
    pub platforms: Vec<Platform>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    #[serde(deserialize_with = "de::socket_addr")]
    pub listen: SocketAddr,
    /// `None` (empty in the file): derived from the listening address (tests and `accord demo`).
    #[serde(deserialize_with = "de::public_url")]
    pub public_url: Option<Url>,
    pub allow_http_localhost: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed: a TOML array of addresses, or (as
    /// an environment variable or flag) one comma-separated string.
    #[serde(deserialize_with = "de::ip_list")]
    pub trusted_proxies: Vec<IpAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// May hold credentials: kept secret, never logged, never quoted in an error.
    #[serde(deserialize_with = "de::database_url")]
    pub url: DatabaseUrl,
    pub data_dir: PathBuf,
    /// PostgreSQL: the most connections this instance opens.
    pub pool_size: u32,
    /// PostgreSQL: start even if the server may lose acknowledged commits.
    pub allow_unsafe_durability: bool,
}

/// `database.url`, by its scheme: empty → SQLite in `data_dir`, `sqlite://PATH` → that SQLite
/// file, `postgres://…` or `postgresql://…` → PostgreSQL.
#[derive(Debug)]
pub enum DatabaseUrl {
    /// Empty: the embedded default, `<data_dir>/accord.db`.
    Embedded,
    Sqlite(PathBuf),
    /// The URL may hold a password.
    Postgres(SecretString),
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
pub struct LedgerSettings {
    /// Where the sealer appends every checkpoint it signs; empty: beside the key file.
    pub checkpoint_file: String,
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
    /// `None` (empty in the file): `<public_url>/sandbox`.
    #[serde(deserialize_with = "de::sandbox_url")]
    pub url: Option<Url>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    #[serde(deserialize_with = "de::log_filter")]
    pub level: LogFilter,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people.
    Text,
    /// For log pipelines.
    Json,
}

/// `log.level`: a tracing filter directive, checked at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFilter(String);

impl LogFilter {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub poll_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataAccessSettings {
    /// How long access records are kept, in days; housekeeping deletes older ones.
    pub log_retention_days: u32,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// The bearer token `/metrics` requires; empty: none. A secret: never logged.
    pub token: SecretString,
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
    /// `metrics.token`, unless empty.
    pub fn metrics_token(&self) -> Option<SecretString> {
        use secrecy::ExposeSecret;
        let token = self.metrics.token.expose_secret().trim();
        (!token.is_empty()).then(|| SecretString::from(token.to_owned()))
    }

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
            if rest.starts_with("TEST_") || CLI_VARIABLES.contains(&rest) {
                continue;
            }
            let key = rest.to_ascii_lowercase().replace("__", ".");
            let file_variant = key
                .strip_suffix("_file")
                .filter(|_| !KEYS_ENDING_IN_FILE.contains(&key.as_str()));
            if let Some(key) = file_variant {
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

    /// The checks that join several keys or bound a number; each key's own form was checked
    /// as it was read (`de`).
    fn validate(&self) -> anyhow::Result<()> {
        for (key, v) in [
            ("sessions.link_ttl_secs", self.sessions.link_ttl_secs),
            ("sessions.manage_ttl_secs", self.sessions.manage_ttl_secs),
            ("sessions.browser_ttl_secs", self.sessions.browser_ttl_secs),
        ] {
            if !(60..=30 * 86_400).contains(&v) {
                bail!("{key} = {v}: must be between 60 (one minute) and 2592000 (30 days) seconds");
            }
        }
        if self.worker.poll_secs == 0 || self.worker.poll_secs > 3600 {
            bail!(
                "worker.poll_secs = {}: must be between 1 and 3600",
                self.worker.poll_secs
            );
        }
        if !(1..=3650).contains(&self.data_access.log_retention_days) {
            bail!(
                "data_access.log_retention_days = {}: must be between 1 and 3650 (ten years)",
                self.data_access.log_retention_days
            );
        }
        self.mailer()?;
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
        if !(1..=1000).contains(&self.database.pool_size) {
            bail!(
                "database.pool_size = {}: must be between 1 and 1000 connections",
                self.database.pool_size
            );
        }
        Ok(())
    }

    /// The public URL, or one derived from the bound address when the setting is empty.
    pub fn public_url(&self, bound: Option<SocketAddr>) -> anyhow::Result<Url> {
        if let Some(u) = &self.server.public_url {
            return Ok(u.clone());
        }
        let addr = bound.context("server.public_url is empty and no address is bound yet")?;
        Ok(Url::parse(&format!("http://{addr}")).expect("a socket address makes a URL"))
    }

    /// The database `database.url` chose (checked at load; never fails since). Kept a `Result`
    /// for its callers.
    pub fn database(&self) -> anyhow::Result<Database> {
        Ok(match &self.database.url {
            DatabaseUrl::Embedded => Database::Sqlite(self.database.data_dir.join("accord.db")),
            DatabaseUrl::Sqlite(path) => Database::Sqlite(path.clone()),
            DatabaseUrl::Postgres(url) => Database::Postgres(url.clone()),
        })
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

    /// The ledger checkpoint file (`ledger.checkpoint_file`): by default
    /// `ledger-checkpoints.jsonl` beside the key file, which is kept outside the database too.
    pub fn checkpoint_file(&self) -> PathBuf {
        if !self.ledger.checkpoint_file.is_empty() {
            return PathBuf::from(&self.ledger.checkpoint_file);
        }
        let (key_file, _) = self.key_file();
        key_file
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("ledger-checkpoints.jsonl")
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

/// Each key's own form, checked as it is read: an error names what is allowed, and figment
/// puts the key before it (`describe`).
mod de {
    use super::{DatabaseUrl, LogFilter};
    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::Deserialize;
    use std::net::{IpAddr, SocketAddr};
    use std::path::PathBuf;
    use url::Url;

    pub fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        let s = String::deserialize(d)?;
        s.trim().parse().map_err(|_| {
            de::Error::custom(format!(
                "{s:?} is not an address and port; use e.g. \"127.0.0.1:8080\" or \"[::]:8080\""
            ))
        })
    }

    /// An http(s) URL with a host and no query; empty is `None`.
    pub fn public_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(None);
        }
        let u = Url::parse(&s).map_err(|e| {
            de::Error::custom(format!(
                "{s:?} is not a URL ({e}); use e.g. \"https://connect.lender.example\""
            ))
        })?;
        if !matches!(u.scheme(), "http" | "https") || u.host().is_none() || u.query().is_some() {
            return Err(de::Error::custom(format!(
                "{s:?}: must be an http(s) URL with a host and no query"
            )));
        }
        Ok(Some(u))
    }

    /// An http(s) URL; empty is `None`.
    pub fn sandbox_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(None);
        }
        let u =
            Url::parse(&s).map_err(|e| de::Error::custom(format!("{s:?} is not a URL ({e})")))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(de::Error::custom(format!(
                "{s:?}: must be an http or https URL"
            )));
        }
        Ok(Some(u))
    }

    /// IP addresses: a TOML array of strings, or one comma-separated string (how an environment
    /// variable or a flag gives a list). Empty entries are skipped.
    pub fn ip_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpAddr>, D::Error> {
        d.deserialize_any(IpList)
    }

    struct IpList;

    fn ip<E: de::Error>(s: &str) -> Result<IpAddr, E> {
        s.trim().parse().map_err(|_| {
            E::custom(format!(
                "{s:?} is not an IP address; give a list such as [\"10.0.0.5\", \"10.0.0.6\"] \
                 (or, in an environment variable, \"10.0.0.5, 10.0.0.6\")"
            ))
        })
    }

    impl<'de> Visitor<'de> for IpList {
        type Value = Vec<IpAddr>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of IP addresses, or a comma-separated string of them")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(ip)
                .collect()
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(ip(&s)?);
            }
            Ok(out)
        }
    }

    pub fn log_filter<'de, D: Deserializer<'de>>(d: D) -> Result<LogFilter, D::Error> {
        let s = String::deserialize(d)?;
        match tracing_subscriber::EnvFilter::try_new(&s) {
            Ok(_) => Ok(LogFilter(s)),
            Err(_) => Err(de::Error::custom(format!(
                "{s:?}: must be a tracing filter such as \"info\" or \"accord=debug,info\""
            ))),
        }
    }

    /// The error never quotes the URL: it may hold a password.
    pub fn database_url<'de, D: Deserializer<'de>>(d: D) -> Result<DatabaseUrl, D::Error> {
        let url = secrecy::SecretString::deserialize(d)?;
        let text = secrecy::ExposeSecret::expose_secret(&url);
        if text.is_empty() {
            return Ok(DatabaseUrl::Embedded);
        }
        if accord_store_postgres::is_postgres_url(text) {
            return Ok(DatabaseUrl::Postgres(url));
        }
        match text.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() => Ok(DatabaseUrl::Sqlite(PathBuf::from(path))),
            _ => Err(de::Error::custom(
                "allowed forms are empty (SQLite in data_dir), sqlite://PATH, and \
                 postgres://USER@HOST:PORT/DATABASE (or postgresql://…)",
            )),
        }
    }
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
        assert_eq!(s.server.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            s.server.public_url.as_ref().map(Url::as_str),
            Some("http://127.0.0.1:8080/")
        );
        assert!(s.server.trusted_proxies.is_empty());
        assert_eq!(s.log.format, LogFormat::Text);
        assert_eq!(s.log.level.as_str(), "info");
        assert!(s.sandbox.url.is_none());
        assert!(matches!(s.database.url, DatabaseUrl::Embedded));
        assert_eq!(s.sessions.link_ttl_secs, 86_400);
        assert_eq!(s.data_access.log_retention_days, 396);
        assert_eq!(
            s.checkpoint_file(),
            Path::new("./data").join("ledger-checkpoints.jsonl")
        );
    }

    #[test]
    fn the_command_lines_own_variables_are_not_configuration() {
        let s = load_env(&[
            ("ACCORD_CONFIG", "/etc/accord/accord.toml"),
            ("ACCORD_SANDBOX_CLIENT_SECRET", "throwaway"),
        ]);
        assert!(s.is_ok(), "{:?}", s.err());
        assert!(load_env(&[("ACCORD_CONFIGG", "x")]).is_err());
    }

    #[test]
    fn the_checkpoint_file_is_beside_the_key_file_unless_configured() {
        let s = load_env(&[("ACCORD_KEYS__FILE", "/etc/accord/keys.toml")]).unwrap();
        assert_eq!(
            s.checkpoint_file(),
            Path::new("/etc/accord/ledger-checkpoints.jsonl")
        );
        let s = load_env(&[(
            "ACCORD_LEDGER__CHECKPOINT_FILE",
            "/var/lib/accord-witness/checkpoints.jsonl",
        )])
        .unwrap();
        assert_eq!(
            s.checkpoint_file(),
            Path::new("/var/lib/accord-witness/checkpoints.jsonl")
        );
        // Its `_FILE` variant reads the path from a file, like every other key's.
        let dir = tempfile::tempdir().unwrap();
        let holder = dir.path().join("checkpoint-path");
        std::fs::write(&holder, "/srv/witness/accord.jsonl\n").unwrap();
        let s = load_env(&[(
            "ACCORD_LEDGER__CHECKPOINT_FILE_FILE",
            holder.to_str().unwrap(),
        )])
        .unwrap();
        assert_eq!(s.checkpoint_file(), Path::new("/srv/witness/accord.jsonl"));
    }

    #[test]
    fn access_log_retention_is_bounded() {
        let s = load_env(&[("ACCORD_DATA_ACCESS__LOG_RETENTION_DAYS", "30")]).unwrap();
        assert_eq!(s.data_access.log_retention_days, 30);
        for bad in ["0", "3651"] {
            refused(
                &[("ACCORD_DATA_ACCESS__LOG_RETENTION_DAYS", bad)],
                "data_access.log_retention_days",
                &["must be between 1 and 3650"],
            );
        }
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
        assert_eq!(
            s.server.listen,
            "127.0.0.1:9100".parse().unwrap(),
            "env beats file"
        );
        assert_eq!(s.sessions.link_ttl_secs, 7200, "_FILE variant read");
        assert_eq!(s.log.level.as_str(), "warn", "flag beats file");
    }

    fn load_env(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        Settings::load(None, &env(pairs), &Overrides::default())
    }

    /// The error of loading `pairs`: it names `key`, and says each of `says`.
    fn refused(pairs: &[(&str, &str)], key: &str, says: &[&str]) {
        let e = load_env(pairs).unwrap_err().to_string();
        assert!(e.contains(key), "{key}: {e}");
        for s in says {
            assert!(e.contains(s), "{key}: {s:?} in {e}");
        }
    }

    #[test]
    fn server_listen_is_a_socket_address() {
        let s = load_env(&[("ACCORD_SERVER__LISTEN", "[::1]:9000")]).unwrap();
        assert_eq!(
            s.server.listen,
            SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 9000))
        );
        refused(
            &[("ACCORD_SERVER__LISTEN", "localhost")],
            "server.listen",
            &["\"localhost\" is not an address and port", "127.0.0.1:8080"],
        );
        refused(
            &[("ACCORD_SERVER__LISTEN", "127.0.0.1")],
            "server.listen",
            &["port"],
        );
    }

    #[test]
    fn server_public_url_is_an_http_url_with_a_host_or_empty() {
        let s = load_env(&[(
            "ACCORD_SERVER__PUBLIC_URL",
            "https://connect.lender.example",
        )])
        .unwrap();
        let u = s.public_url(None).unwrap();
        assert_eq!(u.as_str(), "https://connect.lender.example/");
        let derived = load_env(&[("ACCORD_SERVER__PUBLIC_URL", "")]).unwrap();
        assert!(derived.server.public_url.is_none());
        let bound = SocketAddr::from(([127, 0, 0, 1], 4321));
        assert_eq!(
            derived.public_url(Some(bound)).unwrap().as_str(),
            "http://127.0.0.1:4321/"
        );
        refused(
            &[("ACCORD_SERVER__PUBLIC_URL", "connect.lender.example")],
            "server.public_url",
            &["not a URL", "https://connect.lender.example"],
        );
        refused(
            &[("ACCORD_SERVER__PUBLIC_URL", "ftp://x.example")],
            "server.public_url",
            &["http(s) URL with a host and no query"],
        );
        refused(
            &[("ACCORD_SERVER__PUBLIC_URL", "https://x.example/?a=1")],
            "server.public_url",
            &["no query"],
        );
    }

    #[test]
    fn trusted_proxies_are_addresses_from_an_array_or_a_comma_separated_string() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("accord.toml");
        std::fs::write(
            &file,
            "[server]\ntrusted_proxies = [\"10.0.0.5\", \"fd00::1\"]\n",
        )
        .unwrap();
        let s = Settings::load(Some(&file), &[], &Overrides::default()).unwrap();
        let want: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap(), "fd00::1".parse().unwrap()];
        assert_eq!(s.server.trusted_proxies, want, "a TOML array");
        let s = load_env(&[("ACCORD_SERVER__TRUSTED_PROXIES", " 10.0.0.5, fd00::1 ,")]).unwrap();
        assert_eq!(s.server.trusted_proxies, want, "a comma-separated string");
        let mut flags = Overrides::default();
        flags.set("server.trusted_proxies", "10.0.0.5");
        let s = Settings::load(None, &[], &flags).unwrap();
        assert_eq!(s.server.trusted_proxies, want[..1], "a flag");
        refused(
            &[("ACCORD_SERVER__TRUSTED_PROXIES", "10.0.0.5, proxy")],
            "server.trusted_proxies",
            &["\"proxy\" is not an IP address", "10.0.0.5, 10.0.0.6"],
        );
        std::fs::write(&file, "[server]\ntrusted_proxies = [\"10.0.0.300\"]\n").unwrap();
        let e = Settings::load(Some(&file), &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("server.trusted_proxies") && e.contains("10.0.0.300"),
            "{e}"
        );
    }

    #[test]
    fn log_format_is_text_or_json() {
        let s = load_env(&[("ACCORD_LOG__FORMAT", "json")]).unwrap();
        assert_eq!(s.log.format, LogFormat::Json);
        refused(
            &[("ACCORD_LOG__FORMAT", "xml")],
            "log.format",
            &["xml", "`text`", "`json`"],
        );
    }

    #[test]
    fn log_level_is_a_tracing_filter() {
        let s = load_env(&[("ACCORD_LOG__LEVEL", "accord=debug,info")]).unwrap();
        assert_eq!(s.log.level.as_str(), "accord=debug,info");
        refused(
            &[("ACCORD_LOG__LEVEL", "accord=loud")],
            "log.level",
            &["must be a tracing filter", "accord=debug,info"],
        );
    }

    #[test]
    fn sandbox_url_is_an_http_url_or_empty() {
        let s = load_env(&[("ACCORD_SANDBOX__URL", "http://127.0.0.1:9999/sandbox")]).unwrap();
        assert_eq!(
            s.sandbox.url.map(String::from).as_deref(),
            Some("http://127.0.0.1:9999/sandbox")
        );
        refused(
            &[("ACCORD_SANDBOX__URL", "sandbox")],
            "sandbox.url",
            &["\"sandbox\" is not a URL"],
        );
        refused(
            &[("ACCORD_SANDBOX__URL", "ftp://x.example")],
            "sandbox.url",
            &["must be an http or https URL"],
        );
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
