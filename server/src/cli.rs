//! The `rectify` command line.

use crate::accounts::{self, hash_password, now_ms};
use crate::demo;
use crate::http::{AppState, app};
use crate::storage::{self, UserRecord};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use rectify_shared::ids::{UnitId, Username};
use rectify_shared::policy::Role;
use std::io::{IsTerminal, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "rectify",
    version,
    about = "Rectify: offline-first tracking of inspection rectification work (巡察整改)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct DataArgs {
    /// Where Rectify keeps its database and files.
    #[arg(long, env = "RECTIFY_DATA", default_value = "./data")]
    data: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        data: DataArgs,
        /// The address to listen on.
        #[arg(long, env = "RECTIFY_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The built web client (made by `cargo xtask build`).
        #[arg(long, env = "RECTIFY_WEB_ROOT", default_value = "./target/web")]
        web_root: PathBuf,
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

/// Runs the command line and turns any error into a message and a non-zero exit.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RECTIFY_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            data,
            listen,
            web_root,
        } => serve(data.data, listen, web_root).await,
        Command::Demo { data, password } => {
            let storage = storage::open_data_dir(&data.data).await?;
            let (password, generated) = match password {
                Some(p) => (p, false),
                None => (random_password(), true),
            };
            accounts::check_new_password(&password).map_err(anyhow::Error::msg)?;
            let summary = demo::create_demo(storage.as_ref(), &password).await?;
            println!(
                "Demo data in {}: {} units, {} accounts ({} new).",
                data.data.display(),
                summary.units,
                summary.accounts.len(),
                summary.created_accounts
            );
            for (username, name) in &summary.accounts {
                println!("  {username:<12} {name}");
            }
            if summary.created_accounts > 0 {
                let note = if generated { " (generated)" } else { "" };
                println!("Password of the new accounts{note}: {password}");
            }
            Ok(())
        }
        Command::User(command) => user(command).await,
    }
}

async fn serve(data: PathBuf, listen: SocketAddr, web_root: PathBuf) -> anyhow::Result<()> {
    let storage = storage::open_data_dir(&data).await?;
    if !web_root.join("index.html").is_file() {
        tracing::warn!(path = %web_root.display(), "no web client bundle there; build it with `cargo xtask build`");
    }
    let state = AppState {
        storage,
        web_root: Some(web_root),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (is another server running there? choose another with --listen)"))?;
    tracing::info!(data = %data.display(), "Rectify is listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing open requests");
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
            let role = Role::from_key(&role).with_context(|| {
                format!("unknown role '{role}': use one of office, department, unit, viewer")
            })?;
            if role.needs_unit() && unit.is_none() {
                bail!(
                    "the {} role needs --unit (the school or department id)",
                    role.key()
                );
            }
            let storage = storage::open_data_dir(&data.data).await?;
            if let Some(unit) = &unit {
                let known = storage.units().await?.iter().any(|u| u.id.as_str() == unit);
                if !known {
                    bail!(
                        "no unit with id '{unit}'; see the units with `rectify demo` or import them first"
                    );
                }
            }
            let password = read_new_password()?;
            let record = UserRecord {
                username: Username::new(&username),
                display_name: name.unwrap_or_else(|| username.clone()),
                role,
                unit: unit.map(UnitId::new),
                password_hash: hash_password(&password)?,
                disabled: false,
                created_at_ms: now_ms(),
            };
            storage.create_user(&record).await?;
            println!("Added {} ({}).", record.username, role.key());
        }
        UserCommand::List { data } => {
            let storage = storage::open_data_dir(&data.data).await?;
            println!(
                "{:<16} {:<11} {:<10} {:<9} name",
                "username", "role", "unit", "state"
            );
            for user in storage.users().await? {
                let unit = user.unit.as_ref().map(UnitId::as_str).unwrap_or("-");
                let state = if user.disabled { "disabled" } else { "active" };
                println!(
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
            let storage = storage::open_data_dir(&data.data).await?;
            let username = Username::new(username);
            if storage.user(&username).await?.is_none() {
                bail!("no user named '{username}'; see `rectify user list`");
            }
            let password = read_new_password()?;
            storage
                .set_password_hash(&username, &hash_password(&password)?)
                .await?;
            let ended = storage.revoke_sessions(&username).await?;
            println!("Password of {username} changed; {ended} session(s) ended.");
        }
        UserCommand::Disable {
            data,
            username,
            enable,
        } => {
            let storage = storage::open_data_dir(&data.data).await?;
            let username = Username::new(username);
            storage.set_disabled(&username, !enable).await?;
            if enable {
                println!("{username} is enabled.");
            } else {
                let ended = storage.revoke_sessions(&username).await?;
                println!("{username} is disabled; {ended} session(s) ended.");
            }
        }
    }
    Ok(())
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

fn random_password() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    // No 0/O/1/l/I: it is read off a screen and typed on a phone.
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..12)
        .map(|_| ALPHABET[(OsRng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}
