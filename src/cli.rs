//! Administration subcommands (`org …`, `user …`): thin wrappers over the store, for operators
//! and for scripts that provision a fresh installation.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use onestatus::clock::{Clock, SystemClock};
use onestatus::config::Config;
use onestatus::domain::model::{Binding, DeviceKind, NewOrganisation, NewUser, Profile};
use onestatus::domain::{Lang, Role};
use onestatus::pin;
use onestatus::store::Store;
use onestatus::toll_fraud::{self, OrgPolicy};

/// `onestatus org …`
#[derive(Debug, Subcommand)]
pub(crate) enum OrgCommand {
    /// Create an organisation.
    Add {
        /// Three-digit customer code (first part of every local number).
        #[arg(long)]
        code: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// IANA timezone of the organisation.
        #[arg(long, default_value = "Europe/Copenhagen")]
        timezone: chrono_tz::Tz,
        /// Allow users to forward calls to numbers outside the organisation.
        #[arg(long)]
        allow_external_forwarding: bool,
        /// Number of the receptionist group ("press 9").
        #[arg(long)]
        receptionist_group: Option<String>,
    },
    /// List organisations.
    List,
    /// Set the organisation's toll-fraud allow-list: E.164 prefixes (`+870`) the operator's
    /// `[toll_fraud] deny_prefixes` do not refuse for it. No prefix clears the list.
    SetAllowList {
        /// Customer code.
        #[arg(long)]
        code: String,
        /// Prefixes, e.g. +870 +881.
        prefixes: Vec<String>,
    },
    /// Create an organisation with N generated users, each with one SIP device, for load tests
    /// and benchmarks: user i has OneNumber 45<code><i, 5 digits>, local number <code><last 4>,
    /// SIP username = local number, password "bench" + local number, PIN 2580.
    Populate {
        /// Three-digit customer code of the new organisation.
        #[arg(long)]
        code: String,
        /// How many users (at most 10,000: local numbers have 4 digits after the code).
        #[arg(long)]
        users: u32,
        /// Bind every user's device statically to this UDP address (host:port) for a year, as if
        /// it had registered: load generators answer there without 10,000 REGISTERs first.
        #[arg(long)]
        static_contact: Option<std::net::SocketAddr>,
    },
}

/// `onestatus user …`
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user. Without --pin the user gets a random PIN, to be changed at first login:
    /// e-mailed when the user has an address and [smtp] relay is set, else printed once.
    Add(UserAdd),
    /// List users (of one organisation, or all).
    List {
        /// Customer code.
        #[arg(long)]
        org: Option<String>,
    },
    /// Set a user's PIN (the PIN rules apply).
    SetPin {
        /// The user's 7-digit local number.
        local_number: String,
        /// The new PIN.
        pin: String,
    },
    /// Add a SIP device (phone) to a user. Only digest HA1 values are stored.
    AddDevice {
        /// The user's 7-digit local number.
        local_number: String,
        /// Digest username the phone registers with.
        #[arg(long)]
        username: String,
        /// Digest password.
        #[arg(long)]
        password: String,
        /// desk, soft or mobile.
        #[arg(long, default_value = "desk")]
        kind: DeviceKind,
    },
}

/// `onestatus calendar …`
#[derive(Debug, Subcommand)]
pub(crate) enum CalendarCommand {
    /// Import an ICS file (an Exchange/Outlook export) into a user's calendar, with the same
    /// one-way rules as the sync: entries the user edited or deleted stay as the user left them.
    Import {
        /// The user's 7-digit local number.
        #[arg(long)]
        user: String,
        /// The .ics file.
        file: std::path::PathBuf,
    },
}

/// Runs a `calendar` subcommand.
pub(crate) async fn calendar(config: &Config, command: CalendarCommand) -> ExitCode {
    let run = async {
        let store = open(config).await?;
        match command {
            CalendarCommand::Import { user, file } => {
                let report = done(
                    onestatus::calendar::import_file(&store, &user, &file, SystemClock.now()).await,
                )?;
                println!(
                    "{} events, {} entries in the window, {} kept as the user left them, {} removed",
                    report.events, report.instances, report.kept_as_user_left, report.removed
                );
                // Forward codes the toll-fraud policy refuses: kept, but said (issue #19).
                let owner = done(store.user_by_local_number(&user).await)?;
                let org = done(store.org(owner.org_id).await)?;
                let now = SystemClock.now();
                let entries = done(
                    store
                        .calendar_entries(owner.id, now, now + onestatus::calendar::expand::WINDOW)
                        .await,
                )?;
                let refused = done(
                    onestatus::calendar::forward_check::refused_forwards(
                        &store,
                        &org,
                        &config.toll_fraud.deny_prefixes,
                        &entries,
                    )
                    .await,
                )?;
                for r in refused {
                    println!(
                        "not forwarded (toll-fraud policy): {:?} [fwd {}]: {}; calls go to voicemail",
                        r.subject, r.number, r.reason
                    );
                }
            }
        }
        store.close().await;
        Ok::<_, ExitCode>(())
    };
    run.await.err().unwrap_or(ExitCode::SUCCESS)
}

/// Arguments of `user add`.
#[derive(Debug, Args)]
pub(crate) struct UserAdd {
    /// Customer code of the user's organisation.
    #[arg(long)]
    org: String,
    /// Full name.
    #[arg(long)]
    name: String,
    /// The OneNumber callers dial (digits).
    #[arg(long)]
    one_number: String,
    /// E-mail for notifications.
    #[arg(long)]
    email: Option<String>,
    /// Mobile number, rung in parallel with the desk phone.
    #[arg(long)]
    mobile: Option<String>,
    /// Department.
    #[arg(long)]
    department: Option<String>,
    /// Make the user a receptionist.
    #[arg(long)]
    receptionist: bool,
    /// Initials (shown as the origin of absences a receptionist sets).
    #[arg(long)]
    initials: Option<String>,
    /// da, sv or en.
    #[arg(long, default_value = "da")]
    language: Lang,
    /// Initial PIN (the PIN rules apply); default a random one, to be changed at first login.
    #[arg(long)]
    pin: Option<String>,
}

async fn open(config: &Config) -> Result<Store, ExitCode> {
    onestatus::runtime::open_store(config).await.map_err(|e| {
        eprintln!("onestatus: {e}");
        ExitCode::from(2)
    })
}

fn done<T>(result: Result<T, impl std::fmt::Display>) -> Result<T, ExitCode> {
    result.map_err(|e| {
        eprintln!("onestatus: {e}");
        ExitCode::FAILURE
    })
}

/// Runs an `org` subcommand.
pub(crate) async fn org(config: &Config, command: OrgCommand) -> ExitCode {
    let run = async {
        let store = open(config).await?;
        match command {
            OrgCommand::Add {
                code,
                name,
                timezone,
                allow_external_forwarding,
                receptionist_group,
            } => {
                let plan = onestatus::number::Plan::for_timezone(timezone);
                let receptionist_group = match &receptionist_group {
                    Some(n) => Some(number_arg("--receptionist-group", n, &plan)?),
                    None => None,
                };
                if let Some(n) = &receptionist_group {
                    let policy = OrgPolicy {
                        external_calls_allowed: allow_external_forwarding,
                        allow_list: Vec::new(),
                        plan: (&plan).into(),
                    };
                    toll_fraud_arg("--receptionist-group", n, &policy, config)?;
                }
                let new = NewOrganisation {
                    customer_code: code,
                    name,
                    timezone,
                    allow_external_forwarding,
                    receptionist_group_number: receptionist_group,
                };
                let org = done(store.org_create(&new, SystemClock.now()).await)?;
                println!("{}\t{}\t{}", org.customer_code, org.name, org.timezone);
            }
            OrgCommand::List => {
                for org in done(store.org_list().await)? {
                    println!("{}\t{}\t{}", org.customer_code, org.name, org.timezone);
                }
            }
            OrgCommand::SetAllowList { code, prefixes } => {
                let mut list = Vec::new();
                for p in &prefixes {
                    match p.parse::<toll_fraud::Prefix>() {
                        Ok(prefix) => list.push(prefix.to_string()),
                        Err(e) => {
                            eprintln!("onestatus: prefixes: {e}");
                            return Err(ExitCode::from(2));
                        }
                    }
                }
                let org = done(store.org_by_code(&code).await)?;
                let org = done(store.org_set_toll_fraud_allow_list(org.id, &list).await)?;
                println!(
                    "{}\t{}",
                    org.customer_code,
                    org.toll_fraud_allow_list.join(" ")
                );
            }
            OrgCommand::Populate {
                code,
                users,
                static_contact,
            } => {
                if users > 10_000 {
                    eprintln!("onestatus: --users: at most 10000");
                    return Err(ExitCode::from(2));
                }
                populate(&store, config, &code, users, static_contact).await?;
            }
        }
        store.close().await;
        Ok::<_, ExitCode>(())
    };
    run.await.err().unwrap_or(ExitCode::SUCCESS)
}

/// Runs a `user` subcommand.
pub(crate) async fn user(config: &Config, command: UserCommand) -> ExitCode {
    let run = async {
        let store = open(config).await?;
        let now = SystemClock.now();
        match command {
            UserCommand::Add(add) => {
                let org = done(store.org_by_code(&add.org).await)?;
                // Numbers in their stored form, as the API and calendar codes give them.
                let plan = onestatus::number::Plan::for_timezone(org.timezone);
                let one_number = number_arg("--one-number", &add.one_number, &plan)?;
                let mobile = match &add.mobile {
                    Some(m) => Some(number_arg("--mobile", m, &plan)?),
                    None => None,
                };
                if let Some(m) = &mobile {
                    toll_fraud_arg("--mobile", m, &OrgPolicy::for_org(&org), config)?;
                }
                let mut profile = Profile::new(add.name, add.language);
                profile.email = add.email;
                profile.mobile_number = mobile;
                profile.department = add.department;
                profile.initials = add.initials;
                let rules = config.security.pin_rules();
                let local = local_number(&org.customer_code, &one_number);
                // Without --pin: a random PIN that must be changed at first login, never a
                // shared default (issue #19: 0000 let anyone take a new account over).
                let (initial, must_change) = match &add.pin {
                    Some(p) => {
                        done(rules.validate(p, &local))?;
                        (p.clone(), false)
                    }
                    None => (onestatus::api::auth::generate_pin(&local, rules), true),
                };
                let pin_hash = pin::hash_pin(&initial);
                let new = NewUser {
                    org_id: org.id,
                    one_number,
                    role: if add.receptionist {
                        Role::Receptionist
                    } else {
                        Role::User
                    },
                    profile,
                    pin_hash,
                    pin_must_change: must_change,
                };
                let user = done(store.user_create(&new, now).await)?;
                // The greeting's spoken name (issue #18), where espeak-ng is installed.
                onestatus::spoken_name::refresh_logged(&store, &user, now).await;
                println!(
                    "{}\t{}\t{}",
                    user.local_number, user.one_number, user.profile.name
                );
                if add.pin.is_none() {
                    deliver_initial_pin(config, &user, &initial).await;
                }
            }
            UserCommand::List { org } => {
                let orgs = match org {
                    Some(code) => vec![done(store.org_by_code(&code).await)?],
                    None => done(store.org_list().await)?,
                };
                for org in orgs {
                    for user in done(store.users_in_org(org.id).await)? {
                        println!(
                            "{}\t{}\t{}\t{}",
                            user.local_number, user.one_number, user.role, user.profile.name
                        );
                    }
                }
            }
            UserCommand::SetPin {
                local_number,
                pin: new_pin,
            } => {
                let user = done(store.user_by_local_number(&local_number).await)?;
                done(
                    config
                        .security
                        .pin_rules()
                        .validate(&new_pin, &user.local_number),
                )?;
                done(
                    store
                        .user_set_pin_hash(user.id, &pin::hash_pin(&new_pin), false)
                        .await,
                )?;
                // Every web session opened with the old PIN ends (issue #19, finding 4).
                done(store.sessions_revoke_for_user(user.id, None).await)?;
                println!("PIN changed for {}", user.local_number);
            }
            UserCommand::AddDevice {
                local_number,
                username,
                password,
                kind,
            } => {
                let user = done(store.user_by_local_number(&local_number).await)?;
                let device = done(
                    store
                        .device_create(user.id, kind, &username, &config.sip.domain, &password, now)
                        .await,
                )?;
                println!(
                    "{}\t{}\t{}",
                    user.local_number, device.sip_username, device.kind
                );
            }
        }
        store.close().await;
        Ok::<_, ExitCode>(())
    };
    run.await.err().unwrap_or(ExitCode::SUCCESS)
}

/// Gets a new user's random initial PIN to them: by e-mail when they have an address and a
/// relay is configured (then it is not shown here), else printed once on standard output for
/// the operator to hand over. It is never logged.
async fn deliver_initial_pin(config: &Config, user: &onestatus::domain::model::User, pin: &str) {
    let has_address = user
        .profile
        .email
        .as_deref()
        .is_some_and(|e| !e.trim().is_empty());
    if has_address && !config.smtp.relay.trim().is_empty() {
        match onestatus::notify::Notifier::from_config(config) {
            Ok(notifier) => match notifier.send_new_pin(SystemClock.now(), user, pin).await {
                Ok(()) => {
                    println!("initial PIN e-mailed to the user; it must be changed at first login");
                    return;
                }
                Err(e) => eprintln!("onestatus: the initial PIN could not be e-mailed: {e}"),
            },
            Err(e) => eprintln!("onestatus: the initial PIN could not be e-mailed: {e}"),
        }
    }
    println!("initial PIN (shown once; must be changed at first login): {pin}");
}

/// Creates the load-test organisation (see [`OrgCommand::Populate`]). One PIN hash serves all
/// users: argon2 is slow on purpose, and these users share one PIN anyway.
async fn populate(
    store: &Store,
    config: &Config,
    code: &str,
    users: u32,
    static_contact: Option<std::net::SocketAddr>,
) -> Result<(), ExitCode> {
    let now = SystemClock.now();
    let new = NewOrganisation {
        customer_code: code.to_owned(),
        name: format!("Load test {code}"),
        timezone: chrono_tz::Europe::Copenhagen,
        allow_external_forwarding: false,
        receptionist_group_number: None,
    };
    let org = done(store.org_create(&new, now).await)?;
    let pin_hash = pin::hash_pin("2580");
    for i in 0..users {
        let one_number = format!("45{code}{i:05}");
        let new = NewUser {
            org_id: org.id,
            one_number: one_number.clone(),
            role: Role::User,
            profile: Profile::new(format!("Load User {i:05}"), Lang::Da),
            pin_hash: pin_hash.clone(),
            pin_must_change: false,
        };
        let user = done(store.user_create(&new, now).await)?;
        let password = format!("bench{}", user.local_number);
        let device = done(
            store
                .device_create(
                    user.id,
                    DeviceKind::Soft,
                    &user.local_number,
                    &config.sip.domain,
                    &password,
                    now,
                )
                .await,
        )?;
        if let Some(contact) = static_contact {
            let binding = Binding {
                user_id: user.id,
                device_id: Some(device.id),
                contact_uri: format!("sip:{}@{contact}", user.local_number),
                expires_at: now + chrono::Duration::days(365),
                call_id: format!("static-{}", user.local_number),
                cseq: 1,
                q_millis: 1000,
                received_addr: contact.to_string(),
                transport: "udp".into(),
                instance_id: None,
                reg_id: None,
                path: Vec::new(),
                node_id: None,
            };
            done(store.registration_upsert(&binding, now).await)?;
        }
        println!("{};{};{}", user.one_number, user.local_number, password);
    }
    Ok(())
}

/// A number given on the command line in its stored form (`number::normalise`); exit code 2
/// naming the flag when it is not a number.
fn number_arg(flag: &str, value: &str, plan: &onestatus::number::Plan) -> Result<String, ExitCode> {
    onestatus::number::normalise(value, plan).map_err(|e| {
        eprintln!("onestatus: {flag}: not a telephone number: {e}");
        ExitCode::from(2)
    })
}

/// The toll-fraud policy ([`onestatus::toll_fraud`]) for a number the server may dial out to,
/// in its stored form. Numbers of at most a local number's length are the organisation's own
/// (`number::normalise` keeps them as typed; the group may be created after the organisation)
/// and never leave through the trunk.
fn toll_fraud_arg(
    flag: &str,
    number: &str,
    policy: &OrgPolicy,
    config: &Config,
) -> Result<(), ExitCode> {
    if number.len() <= onestatus::number::LOCAL_NUMBER_DIGITS {
        return Ok(());
    }
    toll_fraud::check_stored(number, policy, &config.toll_fraud.deny_prefixes).map_err(|e| {
        eprintln!("onestatus: {flag}: {e}");
        ExitCode::from(2)
    })
}

/// Customer code + last four digits of the OneNumber (the product's local number).
fn local_number(customer_code: &str, one_number: &str) -> String {
    let tail = one_number
        .get(one_number.len().saturating_sub(4)..)
        .unwrap_or(one_number);
    format!("{customer_code}{tail}")
}
