//! The `onestatus` command: `serve`, `migrate`, `user …`, `org …`, `config`.
//!
//! Errors before the server is up print one line and exit with code 2 (configuration,
//! database, sockets); a clean shutdown exits 0.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use onestatus::config::Config;
use onestatus::runtime::{ServeOptions, Server};

mod cli;
mod cli_contacts;
mod cli_group;

/// Presence-aware SIP B2BUA with the OneVoicemail IVR.
#[derive(Debug, Parser)]
#[command(name = "onestatus", version, about)]
struct Args {
    /// Configuration file (TOML; see config/onestatus.toml). Without it the compiled-in
    /// defaults apply.
    #[arg(long, global = true, env = "ONESTATUS_CONFIG")]
    config: Option<PathBuf>,
    /// Log lines as text (default) or one JSON object per line (for a log shipper).
    #[arg(
        long,
        global = true,
        env = "ONESTATUS_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line ([`onestatus::log_json`]).
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: SIP (UDP+TCP), RTP and the HTTP side API.
    Serve {
        /// On an empty database, create the demo organisation (customer code 100) and users.
        #[arg(long)]
        demo: bool,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Print the documented default configuration.
    Config,
    /// Manage organisations.
    #[command(subcommand)]
    Org(cli::OrgCommand),
    /// Manage users.
    #[command(subcommand)]
    User(cli::UserCommand),
    /// Import calendars.
    #[command(subcommand)]
    Calendar(cli::CalendarCommand),
    /// Manage groups (receptionist and hunt groups).
    #[command(subcommand)]
    Group(cli_group::GroupCommand),
    /// Manage an organisation's shared phonebook (import vCard/CSV, list, add, remove).
    #[command(subcommand)]
    Contacts(cli_contacts::ContactsCommand),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs
            .with_ansi(false)
            .event_format(onestatus::log_json::JsonFormat)
            .init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("onestatus: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let config = match Config::load(args.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    match args.command {
        Command::Serve { demo } => {
            let server = match Server::prepare(config, ServeOptions { demo }).await {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            match server.run().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("onestatus: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate => match onestatus::runtime::open_store(&config).await {
            Ok(store) => {
                store.close().await;
                println!("database {} is up to date", config.database_url());
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Config => {
            print!("{}", onestatus::config::DOCUMENTED_DEFAULTS);
            ExitCode::SUCCESS
        }
        Command::Org(command) => cli::org(&config, command).await,
        Command::User(command) => cli::user(&config, command).await,
        Command::Calendar(command) => cli::calendar(&config, command).await,
        Command::Group(command) => cli_group::group(&config, command).await,
        Command::Contacts(command) => cli_contacts::contacts(&config, command).await,
    }
}

/// One line, exit code 2: the promise for start-up errors.
fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("onestatus: {error}");
    ExitCode::from(2)
}
