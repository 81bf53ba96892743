//! The `rectify` command line.

use crate::accounts::{self, hash_password};
use crate::blobs::{BlobLocation, S3Settings};
use crate::campaigns::{self, LedgerFormat, ReportFormat};
use crate::clock::now_ms;
use crate::config::{self, ConfigFile};
use crate::evidence::files::FilesSettings;
use crate::http::app;
use crate::state::{AppState, ServerSettings};
use crate::storage::{self, Storage, StorageUrl, UserRecord, Write};
use crate::sync_ws::SyncSettings;
use crate::web::{EmbeddedFile, WebClient};
use crate::{audit, data_dir, demo, schema_v2};
use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use rectify_shared::ids::{UnitId, Username};
use rectify_shared::ledger::Headers;
use rectify_shared::policy::Role;
use rectify_shared::status::PublicStatus;
use std::ffi::OsString;
use std::io::{IsTerminal, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// `println!` that ends the program quietly when standard output is a closed pipe
/// (`rectify user list | head`), as command-line tools do, rather than panicking.
macro_rules! say {
    ($($arg:tt)*) => {
        print_line(format_args!($($arg)*))
    };
}

fn print_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(err) = writeln!(std::io::stdout().lock(), "{line}") {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {err}");
        std::process::exit(1);
    }
}

/// Whether `err` is standard output closed under us (`rectify report | head`): nothing to
/// report then.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[derive(Debug, Parser)]
#[command(
    name = "rectify",
    version,
    about = "Rectify: offline-first tracking of inspection rectification work (巡察整改)"
)]
struct Cli {
    /// Read settings from this TOML file (keys: the long flag names in snake_case); without
    /// it, /etc/rectify/rectify.toml if it exists. A flag or an environment variable wins over
    /// the file.
    #[arg(long, global = true, env = "RECTIFY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// What to log, as a tracing filter (for example `info` or `warn,rectify_server=debug`).
    #[arg(long, global = true, env = "RECTIFY_LOG", value_name = "FILTER", default_value = LOG_DEFAULT, value_parser = parse_log_filter)]
    log: String,
    #[command(subcommand)]
    command: Command,
}

/// The log filter when none is set.
const LOG_DEFAULT: &str = "info,sqlx=warn,tower_http=info";

/// The command whose settings a config file holds.
const SETTINGS_OF: &str = "serve";

fn parse_log_filter(filter: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(|_| filter.to_owned())
        .map_err(|err| format!("not a log filter: {err}"))
}

/// A storage URL, checked (the error shows no password); kept as given.
fn parse_database_url(url: &str) -> Result<String, String> {
    url.parse::<StorageUrl>()
        .map(|_| url.to_owned())
        .map_err(|err| err.to_string())
}

#[derive(Debug, clap::Args)]
struct DataArgs {
    /// Where Rectify keeps its database and files (with --database: its evidence files and
    /// lock only).
    #[arg(long, env = "RECTIFY_DATA", default_value = "./data")]
    data: PathBuf,
    /// Keep documents and accounts in this PostgreSQL database
    /// (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE) instead of SQLite in the data
    /// directory. The database must exist; Rectify creates and migrates its tables.
    #[arg(long, env = "RECTIFY_DATABASE_URL", hide_env_values = true, value_parser = parse_database_url)]
    database: Option<String>,
}

impl DataArgs {
    /// Where the database is: `--database`, else SQLite in the data directory.
    fn storage_url(&self) -> anyhow::Result<StorageUrl> {
        match &self.database {
            Some(url) => Ok(url.parse()?),
            None => Ok(StorageUrl::for_data_dir(&self.data)),
        }
    }

    /// Opens the database (bringing its schema up to date).
    async fn open(&self) -> anyhow::Result<Arc<dyn Storage>> {
        if self.database.is_none() {
            return storage::open_data_dir(&self.data).await;
        }
        let url = self.storage_url()?;
        // `url` shows no password.
        storage::open(&url)
            .await
            .with_context(|| format!("cannot open the database {url}"))
    }
}

/// `--blobs`, checked; kept as given.
fn parse_blobs_url(url: &str) -> Result<String, String> {
    S3Settings::parse_url(url).map(|_| url.to_owned())
}

/// Where the evidence files are kept, when not in the data directory.
#[derive(Debug, clap::Args)]
struct BlobArgs {
    /// Keep evidence files in this S3-compatible bucket (s3://BUCKET[/PREFIX]) instead of
    /// DATA/blobs, so several servers can share them. Credentials come from the standard
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY variables.
    #[arg(long, env = "RECTIFY_BLOBS", value_name = "s3://BUCKET[/PREFIX]", value_parser = parse_blobs_url)]
    blobs: Option<String>,
    /// The S3 service's address with --blobs (else AWS_ENDPOINT_URL, else AWS); an http://
    /// address is used without TLS.
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// The bucket's region with --blobs (else AWS_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    s3_region: Option<String>,
}

impl BlobArgs {
    fn location(&self) -> anyhow::Result<BlobLocation> {
        let Some(url) = &self.blobs else {
            if self.s3_endpoint.is_some() || self.s3_region.is_some() {
                bail!(
                    "s3_endpoint or s3_region is set but blobs is not: name the bucket with \
                     --blobs s3://BUCKET (RECTIFY_BLOBS, or blobs in the config file)"
                );
            }
            return Ok(BlobLocation::DataDir);
        };
        let mut s3 = S3Settings::parse_url(url).map_err(anyhow::Error::msg)?;
        s3.endpoint = self.s3_endpoint.clone();
        s3.region = self.s3_region.clone();
        Ok(BlobLocation::S3(s3))
    }
}

/// Whether a backup or restore copies evidence files: only those in the data directory.
fn evidence_in(location: &BlobLocation) -> data_dir::Evidence {
    match location {
        BlobLocation::DataDir => data_dir::Evidence::InDataDir,
        BlobLocation::S3(_) => data_dir::Evidence::Elsewhere,
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        blobs: BlobArgs,
        /// The address to listen on.
        #[arg(long, env = "RECTIFY_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Serve the web client from this directory (what `cargo xtask build` writes to
        /// target/web) instead of the one built into the binary.
        #[arg(long, env = "RECTIFY_WEB_ROOT", value_name = "DIR")]
        web_root: Option<PathBuf>,
        /// Serve HTTPS with this certificate chain (PEM). Outside localhost, browsers keep
        /// offline data and run the app's service worker only over HTTPS.
        #[arg(long, env = "RECTIFY_TLS_CERT")]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, env = "RECTIFY_TLS_KEY")]
        tls_key: Option<PathBuf>,
        /// Sync connections open at once, over all accounts.
        #[arg(long, env = "RECTIFY_MAX_CONNECTIONS", default_value_t = SyncSettings::default().max_connections)]
        max_connections: usize,
        /// Sync connections open at once for one account.
        #[arg(long, default_value_t = SyncSettings::default().max_connections_per_user)]
        max_connections_per_user: usize,
        /// Seconds after which a document nobody syncs leaves memory.
        #[arg(long, default_value_t = SyncSettings::default().idle_document_after.as_secs())]
        idle_document_secs: u64,
        /// The largest evidence file accepted, in MiB.
        #[arg(long, env = "RECTIFY_MAX_FILE_MB", default_value_t = FilesSettings::default().max_file_bytes / MIB)]
        max_file_mb: u64,
        /// Evidence each account may upload, in MiB.
        #[arg(long, env = "RECTIFY_QUOTA_MB", default_value_t = FilesSettings::default().quota_bytes / MIB)]
        quota_mb: u64,
        /// Photos are downscaled on the device to this longest side, in pixels.
        #[arg(long, default_value_t = FilesSettings::default().image_max_side)]
        image_max_side: u32,
        /// Hours an evidence file no item references (or an abandoned upload) is kept.
        #[arg(long, default_value_t = FilesSettings::default().grace.as_secs() / 3600)]
        evidence_grace_hours: u64,
        /// A reverse proxy in front of the server (repeat for several): only requests from
        /// these addresses may say who the client is (`X-Forwarded-For`, `Forwarded`), which
        /// the login throttle counts per address. Without it the connection's address counts.
        #[arg(
            long = "trusted-proxy",
            value_name = "ADDR",
            env = "RECTIFY_TRUSTED_PROXIES",
            value_delimiter = ','
        )]
        trusted_proxies: Vec<std::net::IpAddr>,
        /// A token a scraper (Prometheus) sends as `Authorization: Bearer TOKEN` to read
        /// `/metrics`. Without it `/metrics` answers only callers on this machine (loopback,
        /// after `--trusted-proxy`).
        #[arg(
            long,
            value_name = "TOKEN",
            env = "RECTIFY_METRICS_TOKEN",
            hide_env_values = true
        )]
        metrics_token: Option<String>,
    },
    /// Write a consistent copy of the data to a new directory, while the server runs.
    Backup {
        #[command(flatten)]
        data: DataArgs,
        /// With evidence in S3 the backup holds the database only (the bucket's versioning
        /// keeps the files).
        #[command(flatten)]
        blobs: BlobArgs,
        /// The directory to create for the backup.
        out: PathBuf,
    },
    /// Replace the data with a backup. The server must be stopped; the current database is
    /// moved to DIR/before-restore-<time>/, not deleted.
    Restore {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        blobs: BlobArgs,
        /// The directory `rectify backup` wrote.
        backup: PathBuf,
    },
    /// Create the first office account of a new installation, and nothing else (no demo
    /// data). On a terminal it asks for the username and the password (twice, not shown);
    /// otherwise give --username and the password on standard input with --password-stdin.
    /// Refused once the storage has any account.
    Init {
        #[command(flatten)]
        data: DataArgs,
        /// The office account's username (asked for on a terminal when not given).
        #[arg(long)]
        username: Option<String>,
        /// The name shown in the app; the username when not given.
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create the demo units, departments and accounts (idempotent).
    Demo {
        #[command(flatten)]
        data: DataArgs,
        /// The password of every demo account; random and printed when not given.
        #[arg(long)]
        password: Option<String>,
    },
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Import a published rectification report (.txt in UTF-8 or GBK, or .docx). Importing the
    /// same report again changes nothing; an updated report updates the items it names.
    Import {
        #[command(flatten)]
        data: DataArgs,
        /// The report file.
        file: PathBuf,
        /// Only parse and show the summary and warnings; store nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Export the ledger (台账): one row per item.
    Export {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, value_enum)]
        format: LedgerFormat,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The campaign's document id; the newest campaign when not given.
        #[arg(long)]
        campaign: Option<String>,
    },
    /// Write the public report: title, opening, the four parts with every item, signature.
    Report {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, value_enum)]
        format: ReportFormat,
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long)]
        campaign: Option<String>,
    },
    /// Copy a SQLite data directory into an empty PostgreSQL database, and its evidence files
    /// into the object store (--blobs) or DATA/blobs, then check the copy: every document's
    /// heads, the rows of every table, every file's SHA-256 read back. Stop the server on the
    /// data directory first.
    Migrate {
        /// The data directory to copy (what `rectify serve --data` used).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// The PostgreSQL database to copy into; it must be empty (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE).
        #[arg(long, value_name = "postgres://…", value_parser = parse_database_url)]
        to: String,
        /// The data directory of the server that will run on the database: without --blobs
        /// the evidence files are copied into DATA/blobs.
        #[arg(long, env = "RECTIFY_DATA", default_value = "./data")]
        data: PathBuf,
        #[command(flatten)]
        blobs: BlobArgs,
    },
    /// Migrate every stored item to schema version 2 (issue #21): each school's work on an
    /// item moves to a document of its own, so no school receives another's. The version-1
    /// documents are kept, readable by the office only. One transaction per item; safe to run
    /// again (migrated items are skipped) and beside another replica. NOT YET FOR USE on a
    /// live district: the web client reads version 1 only, so schools would lose their items
    /// until it is updated; `rectify serve` does not run it.
    MigrateSchema {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print every setting `rectify serve` would run with and where it comes from (flag,
    /// environment, file, default), passwords masked. Fails, naming the key and the reason,
    /// on a bad config file.
    CheckConfig {
        /// Flags of `rectify serve` to take into account, after `--`.
        #[arg(last = true, value_name = "SERVE FLAGS")]
        serve_flags: Vec<OsString>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add an account. The password is read from standard input, or asked for on a terminal.
    Add {
        #[command(flatten)]
        data: DataArgs,
        username: String,
        /// office, department, unit or viewer.
        #[arg(long)]
        role: String,
        /// The unit (school) or department id, for the unit and department roles.
        #[arg(long)]
        unit: Option<String>,
        /// The name shown in the app; the username when not given.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the accounts.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Set a new password (from standard input or a prompt) and log the account out everywhere.
    Passwd {
        #[command(flatten)]
        data: DataArgs,
        username: String,
    },
    /// Disable an account and end its sessions (or enable it again with --enable).
    Disable {
        #[command(flatten)]
        data: DataArgs,
        username: String,
        #[arg(long)]
        enable: bool,
    },
}

/// Runs the command line and turns any error into a message and a non-zero exit. `web`: the
/// web client built into the binary (empty when it has none), served unless `--web-root`
/// names a directory.
pub fn main(web: &'static [EmbeddedFile]) -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let (cli, config) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, &config, web)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The command line as clap defines it once a config file's values are its defaults, and
/// that file.
struct Config {
    root: clap::Command,
    file: Option<ConfigFile>,
}

/// Parses the command line over the config file (`--config`, `RECTIFY_CONFIG`, or
/// [`config::DEFAULT_PATH`] if it exists): flag > environment > file > default. A bad file is
/// an error naming it, and the key and the reason; bad flags exit as clap does (with help).
fn parse(args: &[OsString]) -> anyhow::Result<(Cli, Config)> {
    let root = Cli::command();
    let file = config::for_invocation(&root, args, SETTINGS_OF)?;
    let root = match &file {
        Some(file) => file.apply(root),
        None => root,
    };
    let matches = root
        .clone()
        .try_get_matches_from(args)
        .unwrap_or_else(|err| err.exit());
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    Ok((cli, Config { root, file }))
}

/// `rectify check-config`: every setting of `serve`, its value and where it came from.
fn check_config(config: &Config, serve_flags: &[OsString]) -> anyhow::Result<()> {
    let args = [OsString::from("rectify"), OsString::from(SETTINGS_OF)]
        .into_iter()
        .chain(serve_flags.iter().cloned());
    let matches = config
        .root
        .clone()
        .try_get_matches_from(args)
        .map_err(|err| {
            let rendered = err.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            anyhow::anyhow!("{}", first.strip_prefix("error: ").unwrap_or(first))
        })?;
    let settings = config::effective(&config.root, &matches, SETTINGS_OF, config.file.as_ref());
    if let Some(serve) = matches.subcommand_matches(SETTINGS_OF) {
        let path = |id: &str| serve.get_one::<PathBuf>(id).cloned();
        tls_pair(path("tls_cert"), path("tls_key"))?;
    }
    match &config.file {
        Some(file) => say!(
            "# config file: {} ({})",
            file.path.display(),
            if file.explicit {
                "--config or RECTIFY_CONFIG"
            } else {
                "the default path"
            }
        ),
        None => say!("# config file: none"),
    }
    let width = settings.iter().map(|s| s.key.len()).max().unwrap_or(0);
    let shown: Vec<(String, &config::Setting)> = settings
        .iter()
        .map(|setting| {
            let value = match &setting.value {
                Some(value) if value.parse::<u64>().is_ok() => value.clone(),
                Some(value) => toml::Value::String(value.clone()).to_string(),
                None => String::new(),
            };
            (value, setting)
        })
        .collect();
    let value_width = shown.iter().map(|(v, _)| v.len()).max().unwrap_or(0);
    for (value, setting) in shown {
        let key = &setting.key;
        // An unset setting is a comment, so the output reads back as a config file.
        match setting.value {
            Some(_) => say!(
                "{key:<width$} = {value:<value_width$}  # {}",
                setting.source
            ),
            None => say!("# {key} is not set"),
        }
    }
    Ok(())
}

/// HTTPS needs both the certificate and its key, wherever each was set.
fn tls_pair(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        (Some(_), None) => bail!(
            "tls_cert is set but tls_key is not: HTTPS needs both (--tls-key, RECTIFY_TLS_KEY \
             or tls_key in the config file)"
        ),
        (None, Some(_)) => bail!(
            "tls_key is set but tls_cert is not: HTTPS needs both (--tls-cert, RECTIFY_TLS_CERT \
             or tls_cert in the config file)"
        ),
    }
}

async fn run(
    command: Command,
    config: &Config,
    embedded: &'static [EmbeddedFile],
) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            data,
            blobs,
            listen,
            web_root,
            tls_cert,
            tls_key,
            max_connections,
            max_connections_per_user,
            idle_document_secs,
            max_file_mb,
            quota_mb,
            image_max_side,
            evidence_grace_hours,
            trusted_proxies,
            metrics_token,
        } => {
            let settings = ServerSettings {
                sync: SyncSettings {
                    max_connections,
                    max_connections_per_user,
                    idle_document_after: Duration::from_secs(idle_document_secs.max(1)),
                    feed: storage::change_feed(&data.storage_url()?)?,
                    ..SyncSettings::default()
                },
                files: FilesSettings {
                    max_file_bytes: max_file_mb.max(1) * MIB,
                    quota_bytes: quota_mb * MIB,
                    image_max_side: image_max_side.clamp(320, 8000),
                    grace: Duration::from_secs(evidence_grace_hours * 3600),
                    ..FilesSettings::default()
                },
                trusted_proxies,
                metrics_token: metrics_token.filter(|t| !t.is_empty()),
                blobs: blobs.location()?,
            };
            let tls = tls_pair(tls_cert, tls_key)?;
            let web = WebClient::choose(web_root, embedded);
            serve(data, listen, web, tls, settings).await
        }
        Command::Backup { data, blobs, out } => {
            let location = blobs.location()?;
            let summary = data_dir::backup(
                &data.data,
                &data.storage_url()?,
                &out,
                evidence_in(&location),
            )
            .await?;
            match location {
                BlobLocation::DataDir => say!(
                    "Backed up {} to {} ({} bytes, checked) and {} evidence files ({} bytes).",
                    data.data.display(),
                    summary.path.display(),
                    summary.bytes,
                    summary.files,
                    summary.file_bytes
                ),
                BlobLocation::S3(_) => say!(
                    "Backed up the database of {} to {} ({} bytes, checked). The evidence \
                     files are in {location} and were not copied: keep them with the bucket's \
                     versioning.",
                    data.data.display(),
                    summary.path.display(),
                    summary.bytes,
                ),
            }
            Ok(())
        }
        Command::Restore {
            data,
            blobs,
            backup,
        } => {
            let location = blobs.location()?;
            let evidence = evidence_in(&location);
            let url = data.storage_url()?;
            let summary = data_dir::restore(&data.data, &url, &backup, now_ms(), evidence).await?;
            say!(
                "Restored {} from {}.",
                data.data.display(),
                backup.display()
            );
            if let BlobLocation::S3(_) = location {
                say!(
                    "The evidence files are in {location} and were left alone: a file the \
                     database names that was deleted since comes back from the bucket's versions."
                );
            }
            if let Some(previous) = summary.previous {
                say!("The data that was there is kept in {}.", previous.display());
            }
            Ok(())
        }
        Command::Init {
            data,
            username,
            name,
            password_stdin,
        } => init(&data, username, name, password_stdin).await,
        Command::Demo { data, password } => {
            let storage = data.open().await?;
            let (password, generated) = match password {
                Some(p) => (p, false),
                None => (accounts::generate_password(), true),
            };
            accounts::check_new_password(&password).map_err(anyhow::Error::msg)?;
            let summary = demo::create_demo(storage.as_ref(), &password).await?;
            say!(
                "Demo data in {}: {} units, {} accounts ({} new).",
                data.storage_url()?,
                summary.units,
                summary.accounts.len(),
                summary.created_accounts
            );
            for (username, name) in &summary.accounts {
                say!("  {username:<12} {name}");
            }
            if summary.created_accounts > 0 {
                let note = if generated { " (generated)" } else { "" };
                say!("Password of the new accounts{note}: {password}");
            }
            Ok(())
        }
        Command::User(command) => user(command).await,
        Command::Import {
            data,
            file,
            dry_run,
        } => import(&data, &file, dry_run).await,
        Command::Export {
            data,
            format,
            output,
            campaign,
        } => {
            let loaded = load_chosen_campaign(&data, campaign.as_deref()).await?;
            let bytes = loaded.ledger_file(format, Headers::Keys)?;
            write_output(output.as_deref(), &bytes, format.is_binary())?;
            eprintln!(
                "{} items exported from {}.",
                loaded.items.len(),
                loaded.campaign.name
            );
            Ok(())
        }
        Command::Report {
            data,
            format,
            output,
            campaign,
        } => {
            let loaded = load_chosen_campaign(&data, campaign.as_deref()).await?;
            let bytes = loaded.report_file(format)?;
            write_output(output.as_deref(), &bytes, format.is_binary())?;
            Ok(())
        }
        Command::Migrate {
            from,
            to,
            data,
            blobs,
        } => migrate(&from, &to, &data, &blobs).await,
        Command::MigrateSchema { data } => migrate_schema(&data).await,
        Command::CheckConfig { serve_flags } => check_config(config, &serve_flags),
    }
}

/// `rectify migrate-schema`: every version-1 item to schema version 2 ([`schema_v2`]).
async fn migrate_schema(data: &DataArgs) -> anyhow::Result<()> {
    let storage = data.open().await?;
    let run = schema_v2::migrate_items(storage.as_ref()).await?;
    for (v1, v2) in &run.migrated {
        say!("  {v1} → {v2}");
    }
    say!(
        "{} item(s) migrated to schema version 2; {} already were{}.",
        run.migrated.len(),
        run.already,
        match run.migrated_by_another {
            0 => String::new(),
            n => format!(", {n} migrated meanwhile by another server"),
        }
    );
    Ok(())
}

/// The campaign named by `--campaign` (or the newest), with all its items.
async fn load_chosen_campaign(
    data: &DataArgs,
    campaign: Option<&str>,
) -> anyhow::Result<campaigns::LoadedCampaign> {
    let storage = data.open().await?;
    let record = campaigns::choose_campaign(storage.as_ref(), campaign).await?;
    campaigns::load_campaign(storage.as_ref(), record).await
}

/// Reads a report (.docx or text), shows what it holds and what looks odd, and stores it
/// unless `dry_run`. Nothing is stored when the file cannot be read as a report.
async fn import(data: &DataArgs, file: &Path, dry_run: bool) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let imported = campaigns::read_report(&bytes)
        .with_context(|| format!("{} was not imported", file.display()))?;
    let report = &imported.report;
    let totals = report.totals();
    let preview = campaigns::import_preview(&imported, None);
    say!(
        "{}: {} areas, {} problems, {} items",
        file.display(),
        preview.areas,
        preview.problems,
        preview.items
    );
    say!(
        "  {} {}, {} {}, {} {} (完成率 {:.1}%)",
        totals.done,
        PublicStatus::Done.wording(),
        totals.done_long_term,
        PublicStatus::DoneLongTerm.wording(),
        totals.in_progress,
        PublicStatus::InProgress.wording(),
        totals.completion_percent()
    );
    if preview.warnings.is_empty() {
        say!("No warnings.");
    } else {
        say!(
            "{} warning(s) — check these lines of the file:",
            preview.warnings.len()
        );
        for warning in &preview.warnings {
            say!("  line {}: {}", warning.line, warning.message);
        }
    }
    if dry_run {
        say!("Dry run: nothing was stored.");
        return Ok(());
    }
    let storage = data.open().await?;
    let outcome =
        campaigns::import_report(storage.as_ref(), report, "import", &audit::command_line())
            .await?;
    say!(
        "Stored in {}: campaign {} ({}); items: {} new, {} updated, {} unchanged.",
        data.storage_url()?,
        outcome.campaign,
        if outcome.campaign_created {
            "new"
        } else {
            "existing"
        },
        outcome.items_created,
        outcome.items_updated,
        outcome.items_unchanged
    );
    for left in &outcome.left_alone {
        say!(
            "Left as the app has it: item {} {} (the report says \"{}\"): {}",
            left.key,
            left.field,
            left.report_says,
            left.why
        );
    }
    Ok(())
}

/// Writes to the file (atomically: a temporary file renamed into place) or standard output.
/// Binary formats are not written to a terminal.
fn write_output(path: Option<&Path>, bytes: &[u8], binary: bool) -> anyhow::Result<()> {
    use std::io::Write;
    match path {
        Some(path) => {
            let tmp = path.with_extension("rectify-tmp");
            std::fs::write(&tmp, bytes)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("Wrote {} ({} bytes).", path.display(), bytes.len());
        }
        None => {
            let mut stdout = std::io::stdout();
            if binary && stdout.is_terminal() {
                bail!("this format is binary: write it to a file with -o FILE");
            }
            stdout.write_all(bytes)?;
            stdout.flush()?;
        }
    }
    Ok(())
}

async fn serve(
    data_args: DataArgs,
    listen: SocketAddr,
    web: WebClient,
    tls: Option<(PathBuf, PathBuf)>,
    settings: ServerSettings,
) -> anyhow::Result<()> {
    let data = data_args.data.clone();
    // Held with PostgreSQL too: the data directory still holds the evidence files.
    let _lock = data_dir::lock(&data)?;
    // Listen for SIGTERM before saying we listen: one that arrives before the first poll of a
    // lazily made handler would kill the process without the graceful shutdown.
    let signals = ShutdownSignals::install()?;
    let url = data_args.storage_url()?;
    // Shown without a password.
    let database = url.to_string();
    let storage = data_args.open().await?;
    match &web {
        WebClient::Dir(dir) if !dir.join("index.html").is_file() => {
            tracing::warn!(path = %dir.display(), "no web client bundle there (--web-root); build it with `cargo xtask build`");
        }
        WebClient::Missing => tracing::warn!(
            "this rectify binary has no web client built in and no --web-root was given: the \
             API and sync work, the app's pages answer 503. Build the client with `cargo xtask \
             build` and then the binary (`cargo build --release -p rectify`), or give \
             --web-root DIR"
        ),
        _ => tracing::info!("web client: {}", web.describe()),
    }
    if storage.users().await?.is_empty() {
        let database = if data_args.database.is_some() {
            " and the same --database (or RECTIFY_DATABASE_URL)"
        } else {
            ""
        };
        tracing::warn!(
            "no accounts yet: create the first office account on this machine with `rectify \
             init --data {}`{database} (it asks for a username and a password; as the user the \
             service runs as, e.g. `runuser -u rectify -- rectify init …` when installed from the \
             package), then log in",
            data.display()
        );
    }
    if tls.is_none() && !listen.ip().is_loopback() {
        tracing::warn!(
            "serving plain HTTP on {listen}: outside localhost, browsers keep offline data and \
             run the app only over HTTPS; give --tls-cert and --tls-key (or put a TLS proxy in front)"
        );
    }
    // Said when listening, so an operator sees where evidence goes.
    let evidence = settings.blobs.to_string();
    let state = AppState::with_settings(Arc::clone(&storage), web, &data, settings).await?;
    let hub = Arc::clone(&state.sync);
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        None => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen} (is another server running there? choose another with --listen)"))?;
            tracing::info!(data = %data.display(), %database, %evidence, "Rectify is listening on http://{}", listener.local_addr()?);
            let stopping = Arc::clone(&hub);
            axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    signals.recv().await;
                    stopping.shutdown();
                })
                .await?;
        }
        Some((cert, key)) => {
            // One crypto provider for the process, whatever else the build links in.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .with_context(|| {
                    format!(
                        "cannot use the TLS certificate {} with the key {} (both PEM)",
                        cert.display(),
                        key.display()
                    )
                })?;
            let handle = axum_server::Handle::new();
            let stopping = (Arc::clone(&hub), handle.clone());
            tokio::spawn(async move {
                signals.recv().await;
                stopping.0.shutdown();
                stopping.1.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            let server = axum_server::bind_rustls(listen, config).handle(handle.clone());
            let announce = async move {
                if let Some(addr) = handle.listening().await {
                    tracing::info!(data = %data.display(), %database, %evidence, "Rectify is listening on https://{addr}");
                }
            };
            let (served, ()) = tokio::join!(server.serve(service), announce);
            served.with_context(|| format!("cannot serve HTTPS on {listen}"))?;
        }
    }
    // Open sync connections were told to close; give them a moment to finish what they were
    // doing (every change they were acknowledged is already on disk).
    if !hub.wait_closed(Duration::from_secs(10)).await {
        tracing::warn!("some sync connections did not close in time");
    }
    storage.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM and SIGINT (Ctrl-C), caught from the moment this is made.
struct ShutdownSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> anyhow::Result<ShutdownSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignals {
                terminate: signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
                interrupt: signal(SignalKind::interrupt()).context("cannot catch SIGINT")?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignals {})
    }

    async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => {},
            _ = self.interrupt.recv() => {},
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing open requests");
    }
}

async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            data,
            username,
            role,
            unit,
            name,
        } => {
            let username = accounts::check_username(&username).map_err(anyhow::Error::msg)?;
            let role = Role::from_key(&role).with_context(|| {
                format!("unknown role '{role}': use one of office, department, unit, viewer")
            })?;
            let unit = unit.map(UnitId::new);
            let storage = data.open().await?;
            let units = storage.units().await?;
            accounts::check_role_unit(role, unit.as_ref(), &units)
                .map_err(|why| anyhow::anyhow!("{why} (with --unit)"))?;
            let password = read_new_password()?;
            let record = UserRecord {
                display_name: name.unwrap_or_else(|| username.to_string()),
                username,
                role,
                unit,
                password_hash: hash_password(&password)?,
                disabled: false,
                created_at_ms: now_ms(),
            };
            let (name, role) = (record.username.clone(), role.key());
            // The account and its audit entry, by the command line: one transaction.
            storage
                .write(vec![
                    Write::NewUser(record),
                    audit::entry(
                        &audit::command_line(),
                        audit::action::ACCOUNT_CREATED,
                        name.as_str(),
                        role,
                    ),
                ])
                .await?;
            say!("Added {name} ({role}).");
        }
        UserCommand::List { data } => {
            let storage = data.open().await?;
            say!(
                "{:<16} {:<11} {:<10} {:<9} name",
                "username",
                "role",
                "unit",
                "state"
            );
            for user in storage.users().await? {
                let unit = user.unit.as_ref().map(UnitId::as_str).unwrap_or("-");
                let state = if user.disabled { "disabled" } else { "active" };
                say!(
                    "{:<16} {:<11} {:<10} {:<9} {}",
                    user.username,
                    user.role.key(),
                    unit,
                    state,
                    user.display_name
                );
            }
        }
        UserCommand::Passwd { data, username } => {
            let storage = data.open().await?;
            let username = Username::new(username);
            if storage.user(&username).await?.is_none() {
                bail!("no user named '{username}'; see `rectify user list`");
            }
            let password = read_new_password()?;
            let ended = storage.user_sessions(&username, now_ms()).await?.len();
            storage
                .write(vec![
                    Write::PasswordHash {
                        username: username.clone(),
                        hash: hash_password(&password)?,
                    },
                    Write::EndSessions(username.clone()),
                    audit::entry(
                        &audit::command_line(),
                        audit::action::PASSWORD_RESET,
                        username.as_str(),
                        "",
                    ),
                ])
                .await?;
            say!("Password of {username} changed; {ended} session(s) ended.");
        }
        UserCommand::Disable {
            data,
            username,
            enable,
        } => {
            let storage = data.open().await?;
            let username = Username::new(username);
            let Some(account) = storage.user(&username).await? else {
                bail!("no user named '{username}'; see `rectify user list`");
            };
            let ended = storage.user_sessions(&username, now_ms()).await?.len();
            let mut batch = vec![Write::Disabled {
                username: username.clone(),
                disabled: !enable,
            }];
            if !enable {
                batch.push(Write::EndSessions(username.clone()));
            }
            // Recorded when it changes something, by the command line, in the same transaction.
            if account.disabled == enable {
                let done = if enable {
                    audit::action::ACCOUNT_ENABLED
                } else {
                    audit::action::ACCOUNT_DISABLED
                };
                batch.push(audit::entry(
                    &audit::command_line(),
                    done,
                    username.as_str(),
                    "",
                ));
            }
            storage.write(batch).await?;
            if enable {
                say!("{username} is enabled.");
            } else {
                say!("{username} is disabled; {ended} session(s) ended.");
            }
        }
    }
    Ok(())
}

/// `rectify init`: the first office account, only on storage without accounts.
async fn init(
    data: &DataArgs,
    username: Option<String>,
    name: Option<String>,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let url = data.storage_url()?;
    // Asked before anything is opened or created, so a mistake leaves no empty database.
    let terminal = std::io::stdin().is_terminal();
    if !password_stdin && !terminal {
        bail!(
            "standard input is not a terminal: give --username NAME and the password on \
             standard input with --password-stdin"
        );
    }
    if password_stdin && username.is_none() {
        bail!("--password-stdin needs --username NAME");
    }
    // Given on standard input: checked before the storage is opened (or created).
    let given = match (password_stdin, &username) {
        (true, Some(username)) => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("cannot read the password from standard input")?;
            let password = input.lines().next().unwrap_or_default().to_owned();
            Some(first_account(username, &password, &password)?)
        }
        _ => None,
    };
    let storage = data.open().await?;
    refuse_when_accounts_exist(storage.as_ref(), &url).await?;
    let (username, password) = if let Some(given) = given {
        given
    } else {
        let mut prompt = |question: &str, hidden: bool| -> std::io::Result<String> {
            if hidden {
                rpassword::prompt_password(question)
            } else {
                use std::io::Write;
                eprint!("{question}");
                std::io::stderr().flush()?;
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Ok(line.trim().to_owned())
            }
        };
        ask_first_account(username, &mut prompt)?
    };
    let record = UserRecord {
        display_name: name.unwrap_or_else(|| username.to_string()),
        username,
        role: Role::Office,
        unit: None,
        password_hash: hash_password(&password)?,
        disabled: false,
        created_at_ms: now_ms(),
    };
    // Asked again: the prompts took a while.
    refuse_when_accounts_exist(storage.as_ref(), &url).await?;
    // The account and its audit entry, by the command line: one transaction, as `user add`.
    let username = record.username.clone();
    let entry = audit::entry(
        &audit::command_line(),
        audit::action::ACCOUNT_CREATED,
        username.as_str(),
        Role::Office.key(),
    );
    storage.write(vec![Write::NewUser(record), entry]).await?;
    storage.close().await;
    say!(
        "Created the office account {username} in {url}. Start the server (`rectify serve`), \
         log in with it, and add units and accounts under 单位与账号."
    );
    Ok(())
}

/// `rectify init` is for new storage only: it names the accounts already there.
async fn refuse_when_accounts_exist(storage: &dyn Storage, url: &StorageUrl) -> anyhow::Result<()> {
    let users = storage.users().await?;
    if !users.is_empty() {
        let names: Vec<String> = users
            .iter()
            .take(5)
            .map(|u| u.username.to_string())
            .collect();
        let more = if users.len() > names.len() {
            ", …"
        } else {
            ""
        };
        bail!(
            "{url} already has {} account(s) ({}{more}); `rectify init` only creates the first \
             one, and nothing was changed. Add accounts with `rectify user add` or in the app \
             (单位与账号).",
            users.len(),
            names.join(", ")
        );
    }
    Ok(())
}

/// Asks for the first account on a terminal: the username (unless given), then the password
/// twice. `prompt(question, hidden)` reads one answer.
fn ask_first_account(
    username: Option<String>,
    prompt: &mut dyn FnMut(&str, bool) -> std::io::Result<String>,
) -> anyhow::Result<(Username, String)> {
    let username = match username {
        Some(username) => username,
        None => prompt("Username of the office account: ", false)?,
    };
    accounts::check_username(&username).map_err(anyhow::Error::msg)?;
    let password = prompt("Password: ", true)?;
    accounts::check_new_password(&password).map_err(anyhow::Error::msg)?;
    let again = prompt("Repeat the password: ", true)?;
    first_account(&username, &password, &again)
}

/// The first account's username and password, checked: a valid username, the password long
/// enough and typed the same twice.
fn first_account(
    username: &str,
    password: &str,
    again: &str,
) -> anyhow::Result<(Username, String)> {
    let username = accounts::check_username(username).map_err(anyhow::Error::msg)?;
    accounts::check_new_password(password).map_err(anyhow::Error::msg)?;
    if password != again {
        bail!("the two passwords differ; nothing was created");
    }
    Ok((username, password.to_owned()))
}

/// Reads a password: a prompt (twice) on a terminal, else the first line of standard input.
fn read_new_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let second = rpassword::prompt_password("Repeat it: ")?;
        if first != second {
            bail!("the two passwords differ; nothing was changed");
        }
        first
    } else {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .context("cannot read the password from standard input")?;
        input.lines().next().unwrap_or_default().to_owned()
    };
    accounts::check_new_password(&password).map_err(anyhow::Error::msg)?;
    Ok(password)
}

/// `rectify migrate`: checks the arguments, locks the source, opens both sides and runs
/// [`crate::migrate::migrate`], with progress on standard error.
async fn migrate(from: &Path, to: &str, data: &Path, blobs: &BlobArgs) -> anyhow::Result<()> {
    let StorageUrl::Postgres(_) = to.parse::<StorageUrl>()? else {
        bail!(
            "--to must name a PostgreSQL database (postgres://…): rectify migrate copies a data directory into one"
        );
    };
    let to_url: StorageUrl = to.parse()?;
    let source_db = match StorageUrl::for_data_dir(from) {
        StorageUrl::Sqlite(path) => path,
        StorageUrl::Postgres(_) => unreachable!("a data directory's database is SQLite"),
    };
    if !source_db.is_file() {
        bail!(
            "{} is not a Rectify data directory: there is no {} in it. Name the directory \
             `rectify serve --data` used (with the package: /var/lib/rectify)",
            from.display(),
            source_db
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
    }
    // The target first: a wrong --to or --blobs leaves the source untouched.
    let location = blobs.location()?;
    let target = storage::open(&to_url)
        .await
        .with_context(|| format!("cannot open the database {to_url}"))?;
    let target_files = crate::blobs::open(&location, data).await?;
    // A server still running on the source would go on writing what is being copied.
    let _lock = data_dir::lock(from)?;
    let source = storage::open_data_dir(from).await?;
    let source_files = crate::blobs::open(&BlobLocation::DataDir, from).await?;
    let from_name = from.display().to_string();
    let to_name = to_url.to_string();
    let copied = crate::migrate::migrate(
        crate::migrate::Side {
            storage: source.as_ref(),
            files: source_files.as_ref(),
            name: &from_name,
        },
        crate::migrate::Side {
            storage: target.as_ref(),
            files: target_files.as_ref(),
            name: &to_name,
        },
        &mut |line| eprintln!("{line}"),
    )
    .await;
    source.close().await;
    target.close().await;
    let copied = copied?;
    let files_in = match &location {
        BlobLocation::DataDir => format!("{}", data.join("blobs").display()),
        BlobLocation::S3(_) => location.to_string(),
    };
    say!(
        "Migrated {from_name} to {to_name} (evidence files in {files_in}): {copied}. Checked: \
         every document's heads, the rows of every table, every file's SHA-256."
    );
    match &location {
        BlobLocation::DataDir => say!(
            "Start the server with --database {to_name} and --data {}.",
            data.display()
        ),
        BlobLocation::S3(_) => {
            say!("Start the servers with --database {to_name} and the same --blobs.");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ask_first_account;

    /// Answers the prompts in order.
    fn answers(list: &'static [&'static str]) -> impl FnMut(&str, bool) -> std::io::Result<String> {
        let mut next = list.iter();
        move |_question, _hidden| Ok(next.next().expect("asked too often").to_string())
    }

    #[test]
    fn init_asks_for_the_username_and_the_password_twice() {
        let (username, password) =
            ask_first_account(None, &mut answers(&["office", "a-long-one", "a-long-one"]))
                .expect("accepted");
        assert_eq!(username.as_str(), "office");
        assert_eq!(password, "a-long-one");

        let cases: [(Option<&str>, &'static [&'static str], &str); 4] = [
            (
                None,
                &["office", "a-long-one", "a-long-two"],
                "the two passwords differ",
            ),
            (None, &["office", "short"], "at least"),
            (None, &["Office Staff"], "cannot be a username"),
            (Some("x y"), &[], "cannot be a username"),
        ];
        for (given, typed, expected) in cases {
            let err = ask_first_account(given.map(str::to_owned), &mut answers(typed))
                .expect_err("refused");
            assert!(err.to_string().contains(expected), "{typed:?}: {err}");
        }
    }
}
