//! `onestatus contacts …`: the organisation's shared phonebook from the command line (issue
//! #23) — import a vCard or CSV export with the same report the web client shows, list, add
//! and remove. The operator's counterpart of the receptionists' API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use onestatus::clock::{Clock, SystemClock};
use onestatus::config::Config;
use onestatus::directory::import::{self, ColumnMap, ImportReport};
use onestatus::number::Plan;
use onestatus::store::{
    ContactNumber, ImportMode, NumberKind, Organisation, SharedContactData, SharedContactId, Store,
};

/// `onestatus contacts …`
#[derive(Debug, Subcommand)]
pub(crate) enum ContactsCommand {
    /// Import a vCard (3.0/4.0) or CSV file (Outlook's export, or a header row naming Name,
    /// Company, Phone, Mobile, E-mail, Note) into an organisation's shared phonebook. Records
    /// that cannot be imported are listed with their line and the reason.
    Import {
        /// Customer code of the organisation.
        #[arg(long)]
        org: String,
        /// Remove the organisation's shared contacts first (the file is the whole phonebook).
        #[arg(long)]
        replace: bool,
        /// CSV columns named explicitly: `field=Header` pairs separated by `;`, fields name,
        /// first_name, middle_name, last_name, company, email, work, mobile, home, other, note.
        #[arg(long, default_value = "")]
        columns: String,
        /// The .vcf or .csv file.
        file: PathBuf,
    },
    /// List an organisation's shared contacts (id, name, company, numbers).
    List {
        /// Customer code of the organisation.
        #[arg(long)]
        org: String,
        /// Only those whose name, company or a number contains this.
        query: Option<String>,
    },
    /// Add a shared contact.
    Add {
        /// Customer code of the organisation.
        #[arg(long)]
        org: String,
        /// Name.
        #[arg(long)]
        name: String,
        /// Company.
        #[arg(long)]
        company: Option<String>,
        /// E-mail.
        #[arg(long)]
        email: Option<String>,
        /// Note for colleagues.
        #[arg(long)]
        note: Option<String>,
        /// A number, optionally with its kind: `+45 22 33 44 55` or `mobile:20304050`
        /// (work, mobile, home, other). Repeat for several.
        #[arg(long = "number", required = true)]
        numbers: Vec<String>,
    },
    /// Remove a shared contact by id.
    Remove {
        /// Customer code of the organisation.
        #[arg(long)]
        org: String,
        /// The contact's id (from `contacts list`).
        id: i64,
    },
}

/// Runs a `contacts` subcommand.
pub(crate) async fn contacts(config: &Config, command: ContactsCommand) -> ExitCode {
    let store = match onestatus::runtime::open_store(config).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("onestatus: {e}");
            return ExitCode::from(2);
        }
    };
    let code = run(&store, command).await;
    store.close().await;
    code.err().unwrap_or(ExitCode::SUCCESS)
}

async fn run(store: &Store, command: ContactsCommand) -> Result<(), ExitCode> {
    let now = SystemClock.now();
    match command {
        ContactsCommand::Import {
            org,
            replace,
            columns,
            file,
        } => {
            let org = organisation(store, &org).await?;
            let columns = ColumnMap::parse(&columns).map_err(|e| usage("--columns", e))?;
            let bytes = std::fs::read(&file).map_err(|e| usage(&file.display().to_string(), e))?;
            let parsed = import::parse_file(&bytes, org.id, &plan(&org), &columns)
                .map_err(|e| failed(format!("{}: {e}", file.display())))?;
            let mode = if replace {
                ImportMode::Replace
            } else {
                ImportMode::Add
            };
            let counts = store
                .shared_contacts_import(org.id, &parsed.contacts, mode, now)
                .await
                .map_err(failed)?;
            print_report(&ImportReport::new(parsed, counts));
        }
        ContactsCommand::List { org, query } => {
            let org = organisation(store, &org).await?;
            let list = store
                .shared_contacts(org.id, query.as_deref().unwrap_or(""), u32::MAX)
                .await
                .map_err(failed)?;
            for c in list {
                let numbers = c
                    .data
                    .numbers
                    .iter()
                    .map(|n| format!("{}:{}", n.kind.as_str(), n.number))
                    .collect::<Vec<_>>()
                    .join(",");
                println!(
                    "{}\t{}\t{}\t{}",
                    c.id,
                    c.data.name,
                    c.data.company.unwrap_or_default(),
                    numbers
                );
            }
        }
        ContactsCommand::Add {
            org,
            name,
            company,
            email,
            note,
            numbers,
        } => {
            let org = organisation(store, &org).await?;
            let plan = plan(&org);
            let mut parsed = Vec::new();
            for n in &numbers {
                let (kind, typed) = match n.split_once(':') {
                    Some((k, rest)) => (
                        k.trim()
                            .parse::<NumberKind>()
                            .map_err(|e| usage("--number", e))?,
                        rest,
                    ),
                    None => (NumberKind::Work, n.as_str()),
                };
                let number = onestatus::number::normalise(typed, &plan)
                    .map_err(|e| usage("--number", format!("not a telephone number: {e}")))?;
                parsed.push(ContactNumber { kind, number });
            }
            let data = SharedContactData {
                org_id: org.id,
                name,
                company,
                email,
                note,
                numbers: parsed,
            };
            let c = store
                .shared_contact_create(&data, now)
                .await
                .map_err(failed)?;
            println!("{}\t{}", c.id, c.data.name);
        }
        ContactsCommand::Remove { org, id } => {
            let org = organisation(store, &org).await?;
            store
                .shared_contact_delete(org.id, SharedContactId(id))
                .await
                .map_err(failed)?;
            println!("removed {id}");
        }
    }
    Ok(())
}

/// The report as lines: the counts, then each rejected record.
fn print_report(report: &ImportReport) {
    println!(
        "{} records: {} added, {} duplicates skipped, {} removed, {} rejected",
        report.records,
        report.added,
        report.duplicates,
        report.removed,
        report.rejected.len()
    );
    for r in &report.rejected {
        let name = r
            .name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        println!(
            "rejected: line {} (record {}){name}: {}",
            r.line, r.record, r.reason
        );
    }
}

async fn organisation(store: &Store, code: &str) -> Result<Organisation, ExitCode> {
    store.org_by_code(code).await.map_err(|e| usage("--org", e))
}

fn plan(org: &Organisation) -> Plan {
    Plan::for_timezone(org.timezone)
}

fn usage(what: &str, error: impl std::fmt::Display) -> ExitCode {
    eprintln!("onestatus: {what}: {error}");
    ExitCode::from(2)
}

fn failed(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("onestatus: {error}");
    ExitCode::FAILURE
}
