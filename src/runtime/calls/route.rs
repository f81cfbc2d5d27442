//! The routing task of a new call: spawned by `calls::on_invite`, it reads who is calling
//! (one of our devices? then the INVITE must be authenticated), whether the call is for a
//! mailbox (the access number, or one's own number from one's own device), and otherwise runs
//! the route → plan policy ([`super::policy`]), fetching from the store what the policy asks
//! for. Its [`RouteLookup`] comes back to the SIP loop as a completion. An INVITE from another
//! node naming a binding this node holds is not routed: [`super::held`] plans it.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use rsip::Header;
use tracing::{info, warn};

use super::policy::{Planner, Step};
use super::CallKey;
use crate::b2bua::trunk::Trunk;
use crate::b2bua::{CallerInfo, Plan};
use crate::cluster::node_reach::{self, Holders, Via};
use crate::domain::model::User;
use crate::domain::Lang;
use crate::ivr::{Entry, RetrieveSetup};
use crate::presence::Presence;
use crate::routing::{self, CallContext};
use crate::runtime::sip::completion::{RouteLookup, Routed};
use crate::sip::dialog;
use crate::store::{Store, StoreError};
use crate::user_state;

/// The caller as far as the INVITE says: From's user part and display name.
pub(super) fn caller_from(request: &rsip::Request) -> CallerInfo {
    let from = dialog::header_value(&request.headers, "From").unwrap_or_default();
    let (addr, _) = dialog::split_tag(&from);
    let name = addr
        .split_once('<')
        .map(|(n, _)| n.trim().trim_matches('"').trim().to_owned())
        .filter(|n| !n.is_empty());
    CallerInfo {
        number: uri_user(&addr).unwrap_or_default(),
        name,
        user_id: None,
    }
}

/// The user part of the URI in a name-addr or addr-spec.
fn uri_user(value: &str) -> Option<String> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(o), Some(c)) if c > o => &value[o + 1..c],
        _ => value,
    };
    let rest = uri.split_once(':').map(|(_, r)| r)?;
    let user = rest.split_once('@').map(|(u, _)| u)?;
    let user = user.split(';').next().unwrap_or(user);
    (!user.is_empty()).then(|| user.to_owned())
}

/// A number from a header (From, Diversion) in its stored form (`number::normalise`; the
/// organisation is not known yet, so the Danish plan, as `find_user` reads the Request-URI);
/// what is not a number (`anonymous`, a SIP username) stays as it came.
fn stored_form(number: &str) -> String {
    crate::number::normalise(number, &crate::number::Plan::DK).unwrap_or_else(|_| number.to_owned())
}

/// The configuration the routing task needs.
pub(super) struct Numbers {
    /// `sip.trunk`.
    pub(super) trunk: String,
    /// `sip.voicemail_number`: the mailbox's access number.
    pub(super) voicemail: String,
    /// The prompts' language before a caller from outside has logged in.
    pub(super) default_lang: Lang,
    /// `toll_fraud.deny_prefixes`: ranges never dialled through the trunk.
    pub(super) deny: crate::toll_fraud::DenyList,
    /// This node's id: a direct TCP binding another node holds is rung through that node
    /// ([`crate::cluster::node_reach`]).
    pub(super) node: String,
    /// How long since its last heartbeat a node counts as live (`cluster.heartbeat_secs` ×
    /// `cluster.missed_heartbeats`).
    pub(super) node_expiry: chrono::Duration,
}

pub(super) async fn route(
    store: &Store,
    presence: &Presence,
    numbers: &Numbers,
    key: CallKey,
    (request, source): (&rsip::Request, SocketAddr),
    now: DateTime<Utc>,
) -> RouteLookup {
    if let Some(id) = node_reach::named_binding(request) {
        if let Some(plan) = super::held::for_a_node(store, numbers, id, source, now).await {
            return RouteLookup {
                key,
                outcome: Routed::Plan(plan),
                caller: caller_from(request),
                caller_device: None,
            };
        }
    }
    let mut caller = caller_from(request);
    let caller_device = match store.device_by_sip_username(&caller.number).await {
        Ok(device) => Some(device),
        Err(StoreError::NotFound(_)) => None,
        Err(error) => {
            warn!(%error, "store failed looking up the caller");
            None
        }
    };
    let mut own: Option<User> = None;
    if caller_device.is_none() {
        // A caller from outside: their number as the store keeps numbers (`+45 12 34 56 78`
        // and `004512345678` are 4512345678), so history, voicemail and the API show one form.
        caller.number = stored_form(&caller.number);
    }
    if let Some(device) = &caller_device {
        if let Ok(user) = store.user(device.user_id).await {
            caller.user_id = Some(user.id.0);
            caller.name = Some(user.profile.name.clone());
            caller.number = user.local_number.clone();
            own = Some(user);
        }
    }
    let dialled = request.uri.user().unwrap_or("").to_owned();
    match retrieval(store, numbers, &dialled, own.as_ref()).await {
        Ok(Some(setup)) => {
            return RouteLookup {
                key,
                outcome: Routed::Mailbox(setup),
                caller,
                caller_device,
            };
        }
        Ok(None) => {}
        Err(error) => warn!(%error, "store failed looking up the mailbox"),
    }
    let plan = match plan(
        store,
        presence,
        numbers,
        request,
        now,
        &caller,
        caller_device.is_some(),
    )
    .await
    {
        Ok(plan) => plan,
        Err(error) => {
            warn!(%error, "store failed while routing");
            Plan::Reject {
                status: 500,
                reason: None,
            }
        }
    };
    RouteLookup {
        key,
        outcome: Routed::Plan(plan),
        caller,
        caller_device,
    }
}

/// Whether the call is for a mailbox: the access number from anywhere (from one's own device
/// it opens one's own mailbox), or one's own OneNumber or local number from one's own device.
async fn retrieval(
    store: &Store,
    numbers: &Numbers,
    dialled: &str,
    own: Option<&User>,
) -> Result<Option<RetrieveSetup>, StoreError> {
    let access = !numbers.voicemail.is_empty() && dialled == numbers.voicemail;
    let own_number = own.is_some_and(|u| dialled == u.one_number || dialled == u.local_number);
    match own {
        Some(user) if access || own_number => {
            let settings = store.voicemail_settings(user.id).await?;
            let entry = Entry::OwnDevice {
                user: user.id,
                pin_required: settings.pin_required_from_own_device,
            };
            Ok(Some(RetrieveSetup::new(entry, user.profile.lang)))
        }
        None if access => Ok(Some(RetrieveSetup::new(
            Entry::AccessNumber,
            numbers.default_lang,
        ))),
        _ => Ok(None),
    }
}

/// The user a dialled number reaches (OneNumber, else local number), in one store read — two
/// when the number is written another way than it is stored (`+4570100002`, `0045…`): then
/// its normalised form (`number::normalise`) is tried too.
async fn find_user(store: &Store, number: &str) -> Result<Option<User>, StoreError> {
    if number.is_empty() {
        return Ok(None);
    }
    match store.user_by_number(number).await {
        Ok(user) => return Ok(Some(user)),
        Err(StoreError::NotFound(_)) => {}
        Err(error) => return Err(error),
    }
    match crate::number::normalise(number, &crate::number::Plan::DK) {
        Ok(normal) if normal != number => match store.user_by_number(&normal).await {
            Ok(user) => Ok(Some(user)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        },
        _ => Ok(None),
    }
}

/// Decides and resolves: the policy ([`Planner`]) says what it needs, this loop fetches it.
/// The planner bounds the loop (each state loaded counts towards the forward-hop bound).
async fn plan(
    store: &Store,
    presence: &Presence,
    numbers: &Numbers,
    request: &rsip::Request,
    now: DateTime<Utc>,
    caller: &CallerInfo,
    is_internal: bool,
) -> Result<Plan, StoreError> {
    let dialled = request.uri.user().unwrap_or("").to_owned();
    let (history, hops) = diversion_history(request);
    let context = CallContext {
        caller: (!caller.number.is_empty()).then(|| caller.number.clone()),
        is_internal,
        dialled,
        history,
        forwarded_hops: hops,
    };
    let (mut planner, mut step) =
        Planner::new(context, Trunk::parse(&numbers.trunk), numbers.deny.clone());
    *planner.holders_mut() = Holders::new(numbers.node.clone());
    loop {
        step = match step {
            Step::FindUser(number) => planner.on_user(find_user(store, &number).await?),
            Step::LoadState(user) => {
                let mut loaded = user_state::load(store, presence, *user, now).await?;
                reachable_only(store, numbers, planner.holders_mut(), &mut loaded, now).await;
                planner.on_state(now, loaded)
            }
            Step::ResolveTrunk => {
                let address = match planner.trunk() {
                    Some(trunk) => crate::originate::resolve_trunk(trunk).await,
                    None => None,
                };
                planner.on_trunk(address)
            }
            Step::FindGroup(number) => planner.on_group(super::group::load(store, &number).await?),
            Step::LoadMembers(users) => {
                let mut loaded = Vec::with_capacity(users.len());
                for user in users {
                    let mut member = user_state::load(store, presence, user, now).await?;
                    let holders = planner.holders_mut();
                    reachable_only(store, numbers, holders, &mut member, now).await;
                    loaded.push(member);
                }
                planner.on_members(now, loaded)
            }
            Step::Done(plan) => return Ok(plan),
        };
    }
}

/// The numbers a call was already diverted from, from Diversion (RFC 5806, newest first) or
/// History-Info (RFC 7044), and the hop count.
fn diversion_history(request: &rsip::Request) -> (Vec<String>, u32) {
    let mut history = Vec::new();
    let mut hops = 0u32;
    for header in request.headers.iter() {
        if let Header::Other(name, value) = header {
            if name.eq_ignore_ascii_case("Diversion") {
                for entry in value
                    .split(',')
                    .take(routing::MAX_FORWARD_HOPS as usize + 1)
                {
                    if let Some(user) = uri_user(entry) {
                        // Compared with OneNumbers by the loop guard: the stored form.
                        history.push(stored_form(&user));
                    }
                    let counter = entry
                        .split(';')
                        .filter_map(|p| p.trim().strip_prefix("counter="))
                        .find_map(|c| c.trim().parse::<u32>().ok())
                        .unwrap_or(1);
                    hops = hops.saturating_add(counter);
                }
            }
        }
    }
    history.reverse();
    (history, hops)
}

/// Leaves out the bindings this node cannot reach: direct TCP bindings whose connection a node
/// holds that is not live or advertises no address (README "Running several nodes"); those of
/// a live node stay, to be rung through it. The live nodes are read once per call, and only
/// when such a binding turns up. A device left without a binding is not rung; with none left
/// the call goes where an unregistered user's goes.
async fn reachable_only(
    store: &Store,
    numbers: &Numbers,
    holders: &mut Holders,
    loaded: &mut crate::user_state::LoadedUser,
    now: DateTime<Utc>,
) {
    if holders.needs_nodes(loaded.registrations.iter().map(|r| &r.binding)) {
        match store
            .cluster_node_addresses(now - numbers.node_expiry)
            .await
        {
            Ok(rows) => holders.set_live(&rows),
            Err(error) => {
                warn!(%error, "store failed reading the nodes' addresses");
                holders.set_live(&[]);
            }
        }
    }
    loaded
        .registrations
        .retain(|r| match holders.via(&r.binding) {
            Via::Unreachable { holder } => {
                info!(contact = %r.binding.contact_uri, %holder,
                    "a TCP binding held by another node is not rung from here: that node is not live or advertises no address");
                false
            }
            Via::Direct | Via::Node { .. } => true,
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diversion_numbers_come_out_in_the_stored_form() {
        let request: rsip::Request = "INVITE sip:4570100001@h SIP/2.0\r\n\
            Diversion: <sip:+4570100002@h>;reason=unconditional;counter=1, \
            <sip:004570100003@h>;reason=no-answer\r\nContent-Length: 0\r\n\r\n"
            .as_bytes()
            .try_into()
            .unwrap();
        let (history, hops) = diversion_history(&request);
        assert_eq!(history, ["4570100003", "4570100002"]);
        assert_eq!(hops, 2);
    }

    #[test]
    fn caller_numbers_from_outside_are_stored_normalised() {
        assert_eq!(stored_form("+45 12 34 56 78"), "4512345678");
        assert_eq!(stored_form("004512345678"), "4512345678");
        assert_eq!(stored_form("anonymous"), "anonymous");
    }

    #[test]
    fn uri_user_reads_name_addr_and_addr_spec() {
        assert_eq!(uri_user("\"A\" <sip:4512@h>").as_deref(), Some("4512"));
        assert_eq!(
            uri_user("sip:1000001@h;user=phone").as_deref(),
            Some("1000001")
        );
        assert_eq!(uri_user("<tel:+4512>"), None);
        assert_eq!(uri_user("garbage"), None);
    }
}
