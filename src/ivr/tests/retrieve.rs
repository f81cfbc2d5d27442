//! Retrieval scripts: login and PIN rules, the menus, listening, delete/undelete, options.

use chrono::{DateTime, TimeZone, Utc};

use super::Script;
use crate::domain::model::{UserId, VoicemailId, VoicemailMessage};
use crate::domain::{Lang, MessageState};
use crate::ivr::{
    Entry, Event, LoginResult, MailboxInfo, Pin, RecordingEnd, Retrieve, RetrieveSetup, StoreReply,
};

/// Monday 24 November 2025, 11:00 in Copenhagen.
fn wall() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 24, 10, 0, 0).unwrap()
}

fn info() -> MailboxInfo {
    MailboxInfo {
        user: UserId(7),
        local_number: "1000001".into(),
        lang: Lang::Da,
        timezone: chrono_tz::Europe::Copenhagen,
        quick_listen: false,
        pin_must_change: false,
        pin_min_length: 4,
    }
}

fn message(
    id: i64,
    state: MessageState,
    at: DateTime<Utc>,
    from: Option<&str>,
) -> VoicemailMessage {
    VoicemailMessage {
        id: VoicemailId(id),
        user_id: UserId(7),
        caller_number: from.map(str::to_owned),
        caller_name: None,
        received_at: at,
        duration_ms: 12_000,
        state,
    }
}

/// Two new messages (3 newest), one saved, one read; given in store order scrambled.
fn mailbox() -> Vec<VoicemailMessage> {
    vec![
        message(
            1,
            MessageState::Read,
            Utc.with_ymd_and_hms(2025, 11, 21, 9, 15, 0).unwrap(),
            Some("4522334455"),
        ),
        message(
            2,
            MessageState::New,
            Utc.with_ymd_and_hms(2025, 11, 24, 8, 5, 0).unwrap(),
            Some("+4570100002"),
        ),
        message(
            4,
            MessageState::Saved,
            Utc.with_ymd_and_hms(2025, 11, 23, 12, 0, 0).unwrap(),
            Some("112"),
        ),
        message(
            3,
            MessageState::New,
            Utc.with_ymd_and_hms(2025, 11, 24, 9, 30, 0).unwrap(),
            None,
        ),
    ]
}

fn start(setup: RetrieveSetup) -> (Script<Retrieve>, Vec<String>) {
    let t0 = super::origin();
    let mut s = Script::new(t0, Retrieve::new(t0, wall(), setup));
    let first = s.drain();
    (s, first)
}

const MAIN_MENU: &str = "menu_new_messages menu_saved_messages menu_mailbox_options menu_help \
                         menu_exit";
const MESSAGE_MENU: &str = "play! da: menu_message_envelope menu_message_previous \
                            menu_message_replay menu_message_next menu_message_delete \
                            menu_message_save menu_return menu_exit";
const OPTIONS_MENU: &str =
    "play! da: menu_options_greeting menu_options_name menu_options_pin menu_return";
const REVIEW_MENU: &str = "play! da: to_accept_press digit_1 to_listen_press digit_2 \
                           to_rerecord_press digit_3 menu_return";

fn main_menu(count: &str) -> String {
    format!("play! da: {count} {MAIN_MENU}")
}

/// Logged in from the owner's own device without a PIN, messages loaded, at the main menu.
fn logged_in_with(
    info: MailboxInfo,
    messages: Vec<VoicemailMessage>,
) -> (Script<Retrieve>, Vec<String>) {
    let (mut s, first) = start(RetrieveSetup::new(
        Entry::OwnDevice {
            user: UserId(7),
            pin_required: false,
        },
        Lang::Da,
    ));
    assert_eq!(first, ["login Own(UserId(7)) pin none"]);
    assert_eq!(
        s.send(
            100,
            Event::StoreReply(StoreReply::Login(LoginResult::Granted(info)))
        ),
        ["load messages 7"]
    );
    let menu = s.send(200, Event::StoreReply(StoreReply::Messages(messages)));
    (s, menu)
}

fn logged_in() -> Script<Retrieve> {
    let (s, menu) = logged_in_with(info(), mailbox());
    assert_eq!(
        menu,
        [main_menu(
            "you_have num_2 new_messages and num_2 saved_messages"
        )]
    );
    s
}

#[test]
fn login_from_elsewhere_asks_the_local_number_then_the_pin() {
    let (mut s, first) = start(RetrieveSetup::new(Entry::AccessNumber, Lang::Da));
    assert_eq!(first, ["play! da: please_enter_your_local_number"]);
    // The seventh digit ends the local number by itself; barge-in prompts are stopped by
    // the driver, so no StopPlayback.
    assert_eq!(s.keys(1_000, "100000"), Vec::<String>::new());
    assert_eq!(s.key(2_200, '1'), ["play! da: please_enter_your_pin"]);
    // A # left over after the seventh digit is ignored, not taken for an empty PIN.
    assert_eq!(s.key(2_300, '#'), Vec::<String>::new());
    assert_eq!(s.keys(3_000, "2580"), Vec::<String>::new());
    assert_eq!(
        s.key(4_000, '#'),
        ["login LocalNumber(\"1000001\") pin 2580"]
    );
    assert_eq!(
        s.send(
            4_100,
            Event::StoreReply(StoreReply::Login(LoginResult::Granted(MailboxInfo {
                lang: Lang::En,
                ..info()
            })))
        ),
        ["load messages 7"]
    );
    // After login the owner's language is spoken.
    assert_eq!(
        s.send(4_200, Event::StoreReply(StoreReply::Messages(vec![]))),
        [
            "play! en: no_messages menu_new_messages menu_saved_messages menu_mailbox_options \
          menu_help menu_exit"
        ]
    );
}

#[test]
fn the_pin_is_asked_on_the_owners_device_unless_turned_off() {
    let (mut s, first) = start(RetrieveSetup::new(
        Entry::OwnDevice {
            user: UserId(7),
            pin_required: true,
        },
        Lang::Sv,
    ));
    assert_eq!(first, ["play! sv: please_enter_your_pin"]);
    s.keys(1_000, "2580");
    // A pause after the digits ends the entry.
    assert_eq!(s.deadline_ms(), Some(1_600 + 3_000));
    assert_eq!(s.timeout(), ["login Own(UserId(7)) pin 2580"]);
}

#[test]
fn three_wrong_pins_end_the_call() {
    let (mut s, _) = start(RetrieveSetup::new(Entry::AccessNumber, Lang::Da));
    let wrong = Event::StoreReply(StoreReply::Login(LoginResult::WrongPin));
    for attempt in 1..=3u64 {
        let t = attempt * 10_000;
        s.keys(t, "1000001");
        s.keys(t + 2_000, "1111#");
        if attempt < 3 {
            assert_eq!(s.send(t + 3_000, wrong.clone()), ["play da: wrong_pin"]);
            // Asked again from the start: a mistyped local number also looks like a wrong PIN.
            assert_eq!(
                s.done(t + 4_000),
                ["play! da: please_enter_your_local_number"]
            );
        } else {
            assert_eq!(
                s.send(t + 3_000, wrong.clone()),
                ["play da: wrong_pin goodbye"]
            );
            assert_eq!(s.done(t + 5_000), ["hangup"]);
        }
    }
    assert!(s.m.is_finished());
}

#[test]
fn a_locked_mailbox_is_told_and_the_call_ends() {
    let (mut s, _) = start(RetrieveSetup::new(Entry::AccessNumber, Lang::Da));
    s.keys(1_000, "1000001");
    s.keys(3_000, "2580#");
    assert_eq!(
        s.send(
            4_000,
            Event::StoreReply(StoreReply::Login(LoginResult::Locked))
        ),
        ["play da: mailbox_locked"]
    );
    assert_eq!(s.done(7_000), ["hangup"]);
}

#[test]
fn silence_at_the_pin_prompt_repeats_it_then_ends_the_call() {
    let (mut s, first) = start(RetrieveSetup::new(
        Entry::OwnDevice {
            user: UserId(7),
            pin_required: true,
        },
        Lang::Da,
    ));
    assert_eq!(first, ["play! da: please_enter_your_pin"]);
    assert_eq!(s.done(2_000), Vec::<String>::new());
    assert_eq!(s.deadline_ms(), Some(8_000));
    assert_eq!(
        s.timeout(),
        ["play! da: are_you_still_there please_enter_your_pin"]
    );
    s.done(11_000);
    assert_eq!(
        s.timeout(),
        ["play! da: are_you_still_there please_enter_your_pin"]
    );
    s.done(20_000);
    assert_eq!(s.timeout(), ["play da: goodbye"]);
    assert_eq!(s.done(27_000), ["hangup"]);
}

#[test]
fn weak_and_too_short_pins_are_refused_on_the_phone() {
    let (mut s, _) = start(RetrieveSetup::new(
        Entry::OwnDevice {
            user: UserId(7),
            pin_required: true,
        },
        Lang::Da,
    ));
    s.keys(500, "2580#");
    s.send(
        2_000,
        Event::StoreReply(StoreReply::Login(LoginResult::Granted(MailboxInfo {
            pin_must_change: true,
            pin_min_length: 6,
            ..info()
        }))),
    );
    let enter_new = "play! da: enter_new_pin press_pound_when_done";
    assert_eq!(s.done(4_000), [enter_new]);
    // A repeat, runs up and down, a birthday (DDMMYY), and a 4-digit PIN under the
    // configured minimum of 6.
    for (t, refused) in [
        (6_000, "111111#"),
        (9_000, "123456#"),
        (12_000, "654321#"),
        (15_000, "170385#"),
        (18_000, "4711#"),
    ] {
        assert_eq!(
            s.keys(t, refused),
            ["play da: pin_not_allowed"],
            "{refused}"
        );
        assert_eq!(s.done(t + 2_000), [enter_new]);
    }
    assert_eq!(s.keys(21_000, "471189#"), ["play! da: enter_new_pin_again"]);
}

#[test]
fn the_default_pin_must_be_changed_following_the_rules() {
    let (mut s, _) = start(RetrieveSetup::new(
        Entry::OwnDevice {
            user: UserId(7),
            pin_required: true,
        },
        Lang::Da,
    ));
    s.keys(500, "0000#");
    assert_eq!(
        s.send(
            2_000,
            Event::StoreReply(StoreReply::Login(LoginResult::Granted(MailboxInfo {
                pin_must_change: true,
                ..info()
            })))
        ),
        ["play da: you_must_change_your_pin"]
    );
    let enter_new = "play! da: enter_new_pin press_pound_when_done";
    assert_eq!(s.done(4_000), [enter_new]);
    // * does not escape a forced change; it clears what was typed.
    assert_eq!(s.keys(5_000, "12*"), Vec::<String>::new());
    // 0000, the local number and its last four digits are refused.
    for (t, refused) in [
        (6_000, "0000#"),
        (9_000, "1000001#"),
        (12_000, "0001#"),
        (15_000, "12#"),
    ] {
        assert_eq!(
            s.keys(t, refused),
            ["play da: pin_not_allowed"],
            "{refused}"
        );
        assert_eq!(s.done(t + 2_000), [enter_new]);
    }
    assert_eq!(s.keys(18_000, "4711#"), ["play! da: enter_new_pin_again"]);
    // The second entry must match.
    assert_eq!(s.keys(20_000, "4712#"), ["play da: pins_do_not_match"]);
    assert_eq!(s.done(22_000), [enter_new]);
    assert_eq!(s.keys(23_000, "4711#"), ["play! da: enter_new_pin_again"]);
    assert_eq!(s.keys(24_000, "4711#"), ["change pin 4711"]);
    assert_eq!(
        s.send(25_000, Event::StoreReply(StoreReply::Written)),
        ["play da: pin_changed"]
    );
    // Then on into the mailbox.
    assert_eq!(s.done(26_000), ["load messages 7"]);
}

#[test]
fn listening_plays_envelope_then_message_and_marks_it_read() {
    let mut s = logged_in();
    assert_eq!(
        s.key(1_000, '1'),
        [
            "play! da: message_number num_1 message_received today at num_10 num_30 \
          unknown_number"
        ]
    );
    assert_eq!(s.done(4_000), ["play! message 3"]);
    assert_eq!(s.done(16_000), ["set 3 read", MESSAGE_MENU]);
    assert_eq!(
        s.key(17_000, '6'),
        ["play! da: message_number num_2 message_received today at num_9 num_0 num_5 from_number plus \
          digit_4 digit_5 digit_7 digit_0 digit_1 digit_0 digit_0 digit_0 digit_0 digit_2"]
    );
    // A key during the message acts at once, and the message counts as heard.
    assert_eq!(s.done(19_000), ["play! message 2"]);
    let next = s.key(20_000, '6');
    assert_eq!(next[0], "set 2 read");
    assert_eq!(
        next[1],
        "play! da: message_number num_3 message_received yesterday at num_13 from_number digit_1 \
         digit_1 digit_2"
    );
    // 5 replays the message alone; 3 says the envelope alone.
    s.done(21_000);
    s.done(33_000);
    assert_eq!(s.key(34_000, '5'), ["play! message 4"]);
    s.done(46_000);
    assert_eq!(
        s.key(47_000, '3'),
        ["play! da: message_received yesterday at num_13 from_number digit_1 digit_1 digit_2"]
    );
    // After it, a key is waited for; the menu is said again if none comes.
    assert_eq!(s.done(49_000), Vec::<String>::new());
    assert_eq!(
        s.timeout(),
        [MESSAGE_MENU.replace("play! da: ", "play! da: are_you_still_there ")]
    );
}

#[test]
fn the_first_and_last_messages_have_no_neighbours() {
    let mut s = logged_in();
    s.key(1_000, '1');
    assert_eq!(s.key(1_500, '4'), ["play! da: end_of_messages"]);
    assert_eq!(s.done(3_000), Vec::<String>::new());
    // Skip to the last message during the envelopes and try to go further.
    s.key(3_100, '6');
    s.key(3_200, '6');
    s.key(3_300, '6');
    assert_eq!(s.key(3_400, '6'), ["play! da: end_of_messages"]);
    // Messages skipped before their audio started are still new.
    assert_eq!(
        s.done(5_000),
        [main_menu(
            "you_have num_2 new_messages and num_2 saved_messages"
        )]
    );
}

#[test]
fn delete_can_be_undone_until_the_caller_leaves() {
    let mut s = logged_in();
    s.key(1_000, '1');
    s.done(3_000);
    assert_eq!(
        s.key(4_000, '7'),
        ["set 3 read", "play! da: message_deleted"]
    );
    assert_eq!(s.done(5_000), Vec::<String>::new());
    assert_eq!(s.key(6_000, '7'), ["play! da: undeleted"]);
    assert_eq!(s.key(7_000, '7'), ["play! da: message_deleted"]);
    // The count leaves the deleted message out, but nothing is deleted yet.
    assert_eq!(
        s.key(8_000, '*'),
        [main_menu(
            "you_have count_one new_message and num_2 saved_messages"
        )]
    );
    // Leaving commits the delete.
    assert_eq!(s.key(9_000, '#'), ["delete 3", "play da: goodbye"]);
    assert_eq!(s.done(10_000), ["hangup"]);
}

#[test]
fn a_hang_up_commits_the_deletes() {
    let mut s = logged_in();
    s.key(1_000, '1');
    s.key(1_100, '7');
    s.key(1_200, '6');
    s.key(1_300, '7');
    assert_eq!(s.send(2_000, Event::Hangup), ["delete 3", "delete 2"]);
    assert!(s.m.is_finished());
    // Nothing after the end.
    assert_eq!(s.key(2_100, '7'), Vec::<String>::new());
}

#[test]
fn saving_a_message() {
    let mut s = logged_in();
    s.key(1_000, '1');
    s.done(3_000);
    assert_eq!(
        s.key(4_000, '9'),
        ["set 3 read", "set 3 saved", "play! da: message_saved"]
    );
    // Saving an already-saved message writes nothing.
    assert_eq!(s.key(5_000, '9'), ["play! da: message_saved"]);
}

#[test]
fn key_2_lists_only_the_saved_messages() {
    let mut s = logged_in();
    assert_eq!(
        s.key(1_000, '2'),
        [
            "play! da: message_number num_1 message_received yesterday at num_13 from_number \
          digit_1 digit_1 digit_2"
        ]
    );
}

#[test]
fn quick_listen_goes_straight_to_the_newest_new_message() {
    let (mut s, first) = logged_in_with(
        MailboxInfo {
            quick_listen: true,
            ..info()
        },
        mailbox(),
    );
    assert_eq!(
        first,
        ["play! da: message_number num_1 message_received today at num_10 num_30 unknown_number"]
    );
    assert_eq!(s.done(3_000), ["play! message 3"]);
    // With no new message, quick listen has nothing to jump to: the main menu.
    let (_, first) = logged_in_with(
        MailboxInfo {
            quick_listen: true,
            ..info()
        },
        vec![message(1, MessageState::Read, wall(), None)],
    );
    assert_eq!(first, [main_menu("you_have count_one saved_message")]);
}

#[test]
fn calling_back_transfers_to_the_sender_when_allowed() {
    let mut s = logged_in();
    s.key(1_000, '1');
    s.key(1_100, '7');
    // Message 3 has no number: invalid.
    assert_eq!(s.key(1_200, '8'), ["play! da: invalid_choice"]);
    assert_eq!(s.done(2_000), [MESSAGE_MENU]);
    s.key(2_500, '6');
    assert_eq!(s.key(3_000, '8'), ["delete 3", "transfer +4570100002"]);
    assert!(s.m.is_finished());

    let (mut s, _) = start(RetrieveSetup {
        allow_call_back: false,
        ..RetrieveSetup::new(
            Entry::OwnDevice {
                user: UserId(7),
                pin_required: false,
            },
            Lang::Da,
        )
    });
    s.send(
        100,
        Event::StoreReply(StoreReply::Login(LoginResult::Granted(info()))),
    );
    s.send(200, Event::StoreReply(StoreReply::Messages(mailbox())));
    s.keys(1_000, "166");
    assert_eq!(s.key(2_000, '8'), ["play! da: invalid_choice"]);
}

#[test]
fn invalid_keys_and_silence_at_the_main_menu() {
    let mut s = logged_in();
    assert_eq!(s.key(1_000, '5'), ["play! da: invalid_choice"]);
    let menu = main_menu("you_have num_2 new_messages and num_2 saved_messages");
    assert_eq!(s.done(2_000), std::slice::from_ref(&menu));
    // * is help: the menu again.
    assert_eq!(s.key(3_000, '*'), std::slice::from_ref(&menu));
    s.done(10_000);
    let again = menu.replace("play! da: ", "play! da: are_you_still_there ");
    assert_eq!(s.timeout(), std::slice::from_ref(&again));
    s.done(30_000);
    assert_eq!(s.timeout(), [again]);
    s.done(50_000);
    assert_eq!(s.timeout(), ["play da: goodbye"]);
    assert_eq!(s.done(51_000), ["hangup"]);
}

#[test]
fn recording_a_greeting_with_listen_back_and_re_record() {
    let mut s = logged_in();
    assert_eq!(s.key(1_000, '0'), [OPTIONS_MENU]);
    assert_eq!(
        s.key(2_000, '1'),
        ["play da: record_your_greeting press_pound_when_done"]
    );
    assert_eq!(s.done(5_000), ["record max=60s silence=5s beep"]);
    assert_eq!(s.key(12_000, '#'), ["stop recording"]);
    let done = |ms| Event::RecordingDone {
        duration_ms: ms,
        speech_ms: ms,
        ended_by: RecordingEnd::Stopped,
    };
    assert_eq!(s.send(12_050, done(6_800)), [REVIEW_MENU]);
    assert_eq!(s.key(13_000, '2'), ["play! take"]);
    assert_eq!(s.done(20_000), [REVIEW_MENU]);
    assert_eq!(
        s.key(21_000, '3'),
        [
            "discard",
            "play da: record_your_greeting press_pound_when_done"
        ]
    );
    s.done(24_000);
    assert_eq!(
        s.send(
            35_000,
            Event::RecordingDone {
                duration_ms: 6_000,
                speech_ms: 6_000,
                ended_by: RecordingEnd::Silence
            }
        ),
        [REVIEW_MENU]
    );
    assert_eq!(s.key(36_000, '1'), ["save greeting", OPTIONS_MENU]);
    // The store's acknowledgement arrives later and changes nothing.
    assert_eq!(
        s.send(36_100, Event::StoreReply(StoreReply::Written)),
        Vec::<String>::new()
    );
}

#[test]
fn a_too_short_name_is_recorded_again() {
    let mut s = logged_in();
    s.key(1_000, '0');
    assert_eq!(
        s.key(2_000, '3'),
        ["play da: record_your_name press_pound_when_done"]
    );
    assert_eq!(s.done(4_000), ["record max=10s silence=3s beep"]);
    assert_eq!(
        s.send(
            4_300,
            Event::RecordingDone {
                duration_ms: 200,
                speech_ms: 200,
                ended_by: RecordingEnd::Silence
            }
        ),
        ["discard", "play da: your_message_was_too_short"]
    );
    assert_eq!(
        s.done(6_000),
        ["play da: record_your_name press_pound_when_done"]
    );
    // * during the record prompt goes back to the options.
    assert_eq!(s.key(6_500, '*'), ["stop", OPTIONS_MENU]);
}

#[test]
fn a_hang_up_never_keeps_an_unaccepted_take() {
    let mut s = logged_in();
    s.key(1_000, '0');
    s.key(2_000, '3');
    s.done(4_000);
    assert_eq!(s.send(6_000, Event::Hangup), ["stop recording"]);
    assert_eq!(
        s.send(
            6_010,
            Event::RecordingDone {
                duration_ms: 1_900,
                speech_ms: 1_900,
                ended_by: RecordingEnd::Stopped
            }
        ),
        ["discard"]
    );
    assert!(s.m.is_finished());

    let mut s = logged_in();
    s.key(1_000, '0');
    s.key(2_000, '1');
    s.done(4_000);
    s.send(
        9_000,
        Event::RecordingDone {
            duration_ms: 5_000,
            speech_ms: 5_000,
            ended_by: RecordingEnd::Silence,
        },
    );
    assert_eq!(s.send(9_500, Event::Hangup), ["discard"]);
    assert!(s.m.is_finished());
}

#[test]
fn changing_the_pin_from_the_options_menu() {
    let mut s = logged_in();
    s.key(1_000, '0');
    assert_eq!(
        s.key(2_000, '5'),
        ["play! da: enter_new_pin press_pound_when_done"]
    );
    // * leaves a voluntary change.
    assert_eq!(s.keys(3_000, "24*"), [OPTIONS_MENU]);
    s.key(4_000, '5');
    s.keys(5_000, "246813#");
    assert_eq!(s.keys(7_000, "246813#"), ["change pin 246813"]);
    assert_eq!(
        s.send(8_000, Event::StoreReply(StoreReply::Written)),
        ["play da: pin_changed"]
    );
    assert_eq!(s.done(9_000), [OPTIONS_MENU]);
    // A failed store write says nothing about success.
    s.key(10_000, '5');
    s.keys(11_000, "97531#");
    s.keys(13_000, "97531#");
    assert_eq!(
        s.send(14_000, Event::StoreReply(StoreReply::Failed)),
        [OPTIONS_MENU]
    );
}

#[test]
fn a_store_that_fails_or_stalls_at_login_ends_the_call() {
    let (mut s, _) = start(RetrieveSetup::new(
        Entry::OwnDevice {
            user: UserId(7),
            pin_required: false,
        },
        Lang::Da,
    ));
    assert_eq!(s.timeout(), ["play da: goodbye"]);
    let (mut s, _) = start(RetrieveSetup::new(
        Entry::OwnDevice {
            user: UserId(7),
            pin_required: false,
        },
        Lang::Da,
    ));
    s.send(
        100,
        Event::StoreReply(StoreReply::Login(LoginResult::Granted(info()))),
    );
    assert_eq!(
        s.send(200, Event::StoreReply(StoreReply::Failed)),
        ["play da: goodbye"]
    );
}

#[test]
fn pins_are_not_shown_in_debug_output() {
    let pin = Pin::new("2580");
    assert_eq!(format!("{pin:?}"), "Pin(<4 digits>)");
    let action = crate::ivr::Action::Store(crate::ivr::StoreRequest::ChangePin {
        user: UserId(7),
        pin,
    });
    assert!(!format!("{action:?}").contains("2580"));
}
