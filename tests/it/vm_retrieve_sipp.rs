//! Issue #6 "Done when", SIPp on both sides of the mailbox against the real binary: two SIPp
//! callers leave messages (as in tests/it/vm_deposit_sipp.rs); another SIPp call to the voicemail
//! access number logs in with DTMF (local number by SIP INFO, PIN and menu keys as RFC 4733
//! events from SIPp's pcaps), hears the count, listens to both messages (the RTP we send,
//! captured on loopback, equals the stored audio within G.711 loss), saves one and deletes the
//! other; the store shows it and the phone's lamp goes off (MWI "Messages-Waiting: no"). In
//! Danish, Swedish and English. Wrong PINs: three end the call, the fifth locks the mailbox
//! for 15 minutes of the server's (set) clock, and the right PIN is refused while locked. The
//! initial PIN given to a user forces a change at the first login, by phone.
// Tests drive a real process over real sockets: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use crate::support::voicemail::*;
use crate::support::TestServer;
use onestatus::domain::model::User;
use onestatus::domain::{Lang, MessageState};
use onestatus::speech;

/// The voicemail access number (`sip.voicemail_number`'s default).
const ACCESS: &str = "8000";

/// `-set d1 .. d7` for a local number.
fn local_digits(local: &str) -> Vec<String> {
    local
        .chars()
        .enumerate()
        .flat_map(|(i, c)| ["-set".to_owned(), format!("d{}", i + 1), c.to_string()])
        .collect()
}

/// `-set p1 .. p4` for a PIN.
fn pin_digits(pin: &str) -> Vec<String> {
    pin.chars()
        .enumerate()
        .flat_map(|(i, c)| ["-set".to_owned(), format!("p{}", i + 1), c.to_string()])
        .collect()
}

fn run(server: &TestServer, scenario: &str, args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sipp(scenario, server.sip_udp, &args).unwrap();
}

/// Two SIPp callers leave a 10 s message each, at the same time.
fn two_messages(server: &TestServer, account: &User, one_number: &str, secondary: Lang) {
    let prompts = Prompts::load();
    let greeting_ms: usize = greeting(account.id.0, secondary)
        .iter()
        .map(|u| {
            prompts
                .greeted(server, account, u, account.profile.lang)
                .len()
                / 8
        })
        .sum();
    let listen = (greeting_ms + 1200).to_string();
    let target = server.sip_udp;
    std::thread::scope(|scope| {
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let listen = listen.clone();
                scope.spawn(move || {
                    sipp("vm_deposit.xml", target, &["-s", one_number, "-d", &listen])
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap().unwrap();
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while with_store(server, async |store| {
        store.voicemails(account.id).await.unwrap().len()
    }) < 2
    {
        assert!(std::time::Instant::now() < deadline, "two messages stored");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn listen_save_and_delete(user: (&str, &str, &str, Lang, Lang)) {
    let (one_number, local, email, lang, secondary) = user;
    let rtp = rtp_range();
    let server = start(None, rtp);
    let phone = Phone::new();
    let account = prepare_user(&server, local, email, secondary, phone.addr());
    two_messages(&server, &account, one_number, secondary);
    phone
        .notify_with("Voice-Message: 2/0", Duration::from_secs(10))
        .expect("the lamp is on for two new messages");
    let (newest, older, stored) = with_store(&server, async |store| {
        let mut list = store.voicemails(account.id).await.unwrap();
        list.sort_by_key(|m| std::cmp::Reverse(m.received_at));
        let wav = store.voicemail_audio(account.id, list[0].id).await.unwrap();
        (list[0].clone(), list[1].clone(), wav)
    });
    let stored: Vec<i16> = stored[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();

    let capture = Capture::start(rtp);
    let mut args = vec!["-s".to_owned(), ACCESS.to_owned()];
    args.extend(local_digits(local));
    run(&server, "vm_retrieve.xml", &args);

    let sent = capture.packets();
    let starts = prompt_starts(&sent);
    let prompts = Prompts::load();
    // "You have 2 new messages", in the owner's language (the login was in the default one).
    let count = prompts.said(&speech::message_count(2, 0), lang, one_number);
    let heard_count = find_audio(&sent, 0, &count, 50)
        .unwrap_or_else(|| panic!("{lang}: the count is not among prompts {starts:?}"));
    // Both messages after the count: each begins as stored (2 s) and ends as stored (2 s)
    // about 10 s later (a frame skipped by a loaded host in between does not fail the test).
    let best = |from: usize| {
        (from..sent.len().saturating_sub(100))
            .map(|s| (snr_db(&audio(&sent, s, s + 100), &stored[..100 * FRAME]), s))
            .fold((f64::MIN, 0), |a, b| if b.0 > a.0 { b } else { a })
    };
    let heard = |from: usize, which: &str| {
        let start = find_audio(&sent, from, &stored, 100).unwrap_or_else(|| {
            panic!(
                "{lang}: the {which} message was not played; prompts {starts:?}, best {:?}",
                best(from)
            )
        });
        let tail = &stored[stored.len() - 100 * FRAME..];
        let end = find_audio(&sent, start + 300, tail, 100)
            .unwrap_or_else(|| panic!("{lang}: the {which} message was not played to its end"));
        let played = end + 100 - start;
        assert!(
            played.abs_diff(stored.len() / FRAME) <= 5,
            "{lang}: {played} frames of the {which} message, {} stored",
            stored.len() / FRAME
        );
        start
    };
    let first = heard(heard_count + 1, "first");
    let second = heard(first + 400, "second");
    assert!(second > first);

    // 9 saved the first (newest), 7 deleted the second; the hang-up committed the delete.
    let left = with_store(&server, async |store| {
        store.voicemails(account.id).await.unwrap()
    });
    assert_eq!(left.len(), 1, "{lang}: {left:?}");
    assert_eq!(left[0].id, newest.id, "{lang}: the newest is kept");
    assert_eq!(left[0].state, MessageState::Saved, "{lang}");
    assert!(left.iter().all(|m| m.id != older.id));
    // Both heard, no new messages remain: the lamp goes off; the delete is told too.
    let off = phone
        .notify_with("Messages-Waiting: no", Duration::from_secs(10))
        .expect("the lamp goes off");
    assert!(off.contains("Voice-Message: 0/2"), "{off}");
    let after_delete = phone
        .notify_with("Voice-Message: 0/1", Duration::from_secs(10))
        .expect("a NOTIFY after the delete");
    assert!(
        after_delete.contains("Messages-Waiting: no"),
        "{after_delete}"
    );
}

#[test]
fn a_danish_owner_listens_saves_and_deletes_by_phone() {
    listen_save_and_delete(HANS);
}

#[test]
fn a_swedish_owner_listens_saves_and_deletes_by_phone() {
    listen_save_and_delete(SVEN);
}

#[test]
fn an_english_owner_listens_saves_and_deletes_by_phone() {
    listen_save_and_delete(EMMA);
}

/// Three wrong PINs end the call; the fifth in a row locks the mailbox for 15 minutes of the
/// server's clock; while locked even the right PIN is refused.
#[test]
fn wrong_pins_end_the_call_then_lock_the_mailbox() {
    let (_, local, ..) = HANS;
    let server = start(None, rtp_range());
    let attempts = |n: u32, pin: &str| {
        let mut args = vec!["-s".to_owned(), ACCESS.to_owned()];
        args.extend(local_digits(local));
        args.extend(pin_digits(pin));
        args.extend(["-set".to_owned(), "attempts".to_owned(), n.to_string()]);
        run(&server, "vm_retrieve_pins.xml", &args);
    };
    let hans = || {
        with_store(&server, async |store| {
            store.user_by_local_number(local).await.unwrap()
        })
    };

    attempts(3, "1357");
    let after_three = hans();
    assert_eq!(after_three.failed_pin_attempts, 3);
    assert_eq!(after_three.locked_until, None, "three do not lock");

    // The fourth and fifth wrong PIN (a new call): locked, and the call ends at once.
    attempts(2, "1357");
    let locked = hans();
    assert_eq!(locked.failed_pin_attempts, 5);
    let until = locked.locked_until.expect("locked after five");
    let minutes = (until - test_now()).num_minutes();
    assert!(
        (15..17).contains(&minutes),
        "locked for 15 minutes of the set clock: until {until}, {minutes} min after {TEST_NOW}"
    );

    // The right PIN is refused while locked.
    attempts(1, "2580");
    let still = hans();
    assert_eq!(still.failed_pin_attempts, 5, "not reset by the right PIN");
    assert_eq!(still.locked_until, Some(until));
}

/// A user whose initial (or reset) PIN must be changed chooses a new one at the first login.
#[test]
fn the_initial_pin_forces_a_change_at_first_login() {
    let (_, local, ..) = EMMA;
    let server = start(None, rtp_range());
    with_store(&server, async |store| {
        let user = store.user_by_local_number(local).await.unwrap();
        store
            .user_set_pin_hash(user.id, &onestatus::pin::hash_pin("4829"), true)
            .await
            .unwrap();
    });
    let mut args = vec!["-s".to_owned(), ACCESS.to_owned()];
    args.extend(local_digits(local));
    args.extend(
        "4829"
            .chars()
            .enumerate()
            .flat_map(|(i, c)| ["-set".to_owned(), format!("i{}", i + 1), c.to_string()]),
    );
    args.extend(pin_digits("1357"));
    run(&server, "vm_retrieve_new_pin.xml", &args);
    let user = with_store(&server, async |store| {
        store.user_by_local_number(local).await.unwrap()
    });
    assert!(!user.pin_must_change, "changed");
    assert!(onestatus::pin::verify_pin("1357", &user.pin_hash));
    assert_eq!(user.failed_pin_attempts, 0);
}
