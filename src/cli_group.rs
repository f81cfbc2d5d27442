//! `onestatus group …`: groups (the receptionist group, a support group) from the command
//! line, for operators provisioning an installation. The same rules as the API
//! (`api::groups`): numbers stored normalised, members of the group's organisation, an outside
//! fallback number through the toll-fraud policy.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use onestatus::clock::{Clock, SystemClock};
use onestatus::config::Config;
use onestatus::domain::model::GroupKind;
use onestatus::number::{self, Plan};
use onestatus::store::{
    Group, GroupFallback, GroupRinging, GroupStrategy, Organisation, Store, StoreError, UserId,
};
use onestatus::toll_fraud::{self, OrgPolicy};

/// `onestatus group …`
#[derive(Debug, Subcommand)]
pub(crate) enum GroupCommand {
    /// Create a group.
    Add {
        /// Customer code of the organisation.
        #[arg(long)]
        org: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// The group's number (any usual way of writing it).
        #[arg(long)]
        number: String,
        /// hunt or receptionist.
        #[arg(long, default_value = "hunt")]
        kind: GroupKind,
        /// Members' local numbers, in ring order.
        #[arg(long = "member")]
        members: Vec<String>,
        #[command(flatten)]
        ringing: RingingArgs,
    },
    /// List groups with their members in ring order.
    List {
        /// Customer code (default: every organisation).
        #[arg(long)]
        org: Option<String>,
    },
    /// Change how a group rings.
    Set {
        /// The group's number.
        number: String,
        #[command(flatten)]
        ringing: RingingArgs,
    },
    /// Set a group's members, in ring order.
    Members {
        /// The group's number.
        number: String,
        /// Members' local numbers, in ring order (none: empty the group).
        local_numbers: Vec<String>,
    },
    /// Delete a group.
    Remove {
        /// The group's number.
        number: String,
    },
}

/// How a group rings; every flag left out keeps the current (or default) value.
#[derive(Debug, clap::Args)]
pub(crate) struct RingingArgs {
    /// all (everyone at once) or in-order (one at a time).
    #[arg(long)]
    strategy: Option<String>,
    /// Seconds the group rings (all), or each member rings (in order); 5 to 180.
    #[arg(long)]
    ring_secs: Option<u64>,
    /// A number to ring when nobody answers, before the group's mailbox.
    #[arg(long, conflicts_with = "fallback_voicemail")]
    fallback_number: Option<String>,
    /// Nobody answers: straight to the group's mailbox.
    #[arg(long)]
    fallback_voicemail: bool,
    /// Local number of the user whose mailbox is the group's (default: the first member's).
    #[arg(long)]
    mailbox: Option<String>,
}

fn fail(what: impl std::fmt::Display) -> ExitCode {
    eprintln!("onestatus: {what}");
    ExitCode::from(2)
}

fn store_fail(e: StoreError) -> ExitCode {
    eprintln!("onestatus: {e}");
    ExitCode::FAILURE
}

fn done<T>(result: Result<T, StoreError>) -> Result<T, ExitCode> {
    result.map_err(store_fail)
}

/// The group with `number` (as typed).
async fn find(store: &Store, number: &str) -> Result<(Group, Organisation), ExitCode> {
    let stored = number::normalise(number, &Plan::DK)
        .map_err(|e| fail(format!("{number}: not a telephone number: {e}")))?;
    let group = match store.group_by_number(&stored).await {
        Err(StoreError::NotFound(_)) => done(store.group_by_number(number).await)?,
        other => done(other)?,
    };
    let org = done(store.org(group.org_id).await)?;
    Ok((group, org))
}

/// Applies `args` to `ringing`, checking each value as the API does.
async fn apply(
    store: &Store,
    config: &Config,
    org: &Organisation,
    group_number: &str,
    args: RingingArgs,
    ringing: &mut GroupRinging,
) -> Result<(), ExitCode> {
    if let Some(strategy) = args.strategy {
        ringing.strategy = GroupStrategy::parse(&strategy.replace('-', "_"))
            .ok_or_else(|| fail("--strategy: all or in-order"))?;
    }
    if let Some(secs) = args.ring_secs {
        if !(5..=180).contains(&secs) {
            return Err(fail("--ring-secs: 5 to 180"));
        }
        ringing.ring_timeout = Duration::from_secs(secs);
    }
    let plan = Plan::for_timezone(org.timezone);
    if args.fallback_voicemail {
        ringing.fallback = GroupFallback::Voicemail;
    }
    if let Some(typed) = args.fallback_number {
        let n = number::normalise(&typed, &plan)
            .map_err(|e| fail(format!("--fallback-number: not a telephone number: {e}")))?;
        if n == group_number {
            return Err(fail("--fallback-number: cannot be the group's own number"));
        }
        match store.group_by_number(&n).await {
            Ok(_) => return Err(fail("--fallback-number: cannot be another group's number")),
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(store_fail(e)),
        }
        let internal = match store.user_by_number(&n).await {
            Ok(u) => u.org_id == org.id,
            Err(StoreError::NotFound(_)) => false,
            Err(e) => return Err(store_fail(e)),
        };
        if !internal {
            toll_fraud::check_stored(
                &n,
                &OrgPolicy::for_org(org),
                &config.toll_fraud.deny_prefixes,
            )
            .map_err(|e| fail(format!("--fallback-number: {e}")))?;
        }
        ringing.fallback = GroupFallback::Number { number: n };
    }
    if let Some(local) = args.mailbox {
        let user = done(store.user_by_local_number(&local).await)?;
        if user.org_id != org.id {
            return Err(fail("--mailbox: not a user of the group's organisation"));
        }
        ringing.voicemail_user_id = Some(user.id);
    }
    Ok(())
}

/// Members by local number, of `org`, each once.
async fn members(
    store: &Store,
    org: &Organisation,
    local_numbers: &[String],
) -> Result<Vec<UserId>, ExitCode> {
    let mut out = Vec::new();
    for local in local_numbers {
        let user = done(store.user_by_local_number(local).await)?;
        if user.org_id != org.id {
            return Err(fail(format!(
                "{local}: not a user of the group's organisation"
            )));
        }
        if out.contains(&user.id) {
            return Err(fail(format!("{local}: listed twice")));
        }
        out.push(user.id);
    }
    Ok(out)
}

async fn print(store: &Store, group: &Group) -> Result<(), ExitCode> {
    let ringing = done(store.group_ringing(group.id).await)?;
    let members = done(store.group_member_list(group.id).await)?;
    let fallback = match &ringing.fallback {
        GroupFallback::Voicemail => "voicemail".to_owned(),
        GroupFallback::Number { number } => format!("number:{number}"),
    };
    let names: Vec<String> = members
        .iter()
        .map(|m| m.user.local_number.clone())
        .collect();
    println!(
        "{}\t{}\t{}\t{}\t{}s\t{}\t{}",
        group.number,
        group.name,
        group.kind,
        ringing.strategy.as_str(),
        ringing.ring_timeout.as_secs(),
        fallback,
        names.join(",")
    );
    Ok(())
}

/// Runs a `group` subcommand.
pub(crate) async fn group(config: &Config, command: GroupCommand) -> ExitCode {
    let run = async {
        let store = onestatus::runtime::open_store(config).await.map_err(fail)?;
        match command {
            GroupCommand::Add {
                org,
                name,
                number: typed,
                kind,
                members: locals,
                ringing: args,
            } => {
                let org = done(store.org_by_code(&org).await)?;
                let plan = Plan::for_timezone(org.timezone);
                let n = number::normalise(&typed, &plan)
                    .map_err(|e| fail(format!("--number: not a telephone number: {e}")))?;
                if store.user_by_number(&n).await.is_ok() {
                    return Err(fail("--number: this is a user's number already"));
                }
                let members = members(&store, &org, &locals).await?;
                let mut ringing = GroupRinging::default();
                apply(&store, config, &org, &n, args, &mut ringing).await?;
                let group = done(
                    store
                        .group_create(org.id, &name, &n, kind, SystemClock.now())
                        .await,
                )?;
                done(store.group_ringing_set(group.id, &ringing).await)?;
                done(store.group_members_set(group.id, &members).await)?;
                print(&store, &group).await?;
            }
            GroupCommand::List { org } => {
                let orgs = match org {
                    Some(code) => vec![done(store.org_by_code(&code).await)?],
                    None => done(store.org_list().await)?,
                };
                for org in orgs {
                    for group in done(store.groups(org.id).await)? {
                        print(&store, &group).await?;
                    }
                }
            }
            GroupCommand::Set {
                number: typed,
                ringing: args,
            } => {
                let (group, org) = find(&store, &typed).await?;
                let mut ringing = done(store.group_ringing(group.id).await)?;
                apply(&store, config, &org, &group.number, args, &mut ringing).await?;
                done(store.group_ringing_set(group.id, &ringing).await)?;
                print(&store, &group).await?;
            }
            GroupCommand::Members {
                number: typed,
                local_numbers,
            } => {
                let (group, org) = find(&store, &typed).await?;
                let members = members(&store, &org, &local_numbers).await?;
                done(store.group_members_set(group.id, &members).await)?;
                print(&store, &group).await?;
            }
            GroupCommand::Remove { number: typed } => {
                let (group, _) = find(&store, &typed).await?;
                done(store.group_delete(group.id).await)?;
                println!("removed {}", group.number);
            }
        }
        store.close().await;
        Ok::<_, ExitCode>(())
    };
    run.await.err().unwrap_or(ExitCode::SUCCESS)
}
