//! Deposit scripts: the greeting, options, recording and every way a call ends.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::Script;
use crate::domain::model::{UserId, VoicemailId};
use crate::domain::{Lang, Reason};
use crate::ivr::deposit::{RECORDING_GRACE, SAVE_TIMEOUT, STOP_GRACE};
use crate::ivr::{Caller, Deposit, DepositSetup, Event, RecordingEnd, RecordingLimits, StoreReply};
use crate::routing::GreetingStatus;

/// Monday 24 November 2025, 11:00 in Copenhagen.
fn wall() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 24, 10, 0, 0).unwrap()
}

/// In a meeting until 14:30 Copenhagen time today.
fn meeting() -> GreetingStatus {
    GreetingStatus::Absent {
        reason: Reason::Meeting,
        back_at: Some(Utc.with_ymd_and_hms(2025, 11, 24, 13, 30, 0).unwrap()),
        free_text: Some("budget review".into()),
    }
}

fn setup() -> DepositSetup {
    DepositSetup {
        user: UserId(7),
        lang: Lang::Da,
        timezone: chrono_tz::Europe::Copenhagen,
        status: meeting(),
        allow_messages: true,
        own_name: false,
        own_greeting: false,
        secondary_lang: None,
        receptionist: None,
        caller: Caller {
            number: Some("4522334455".into()),
            name: Some("Kim".into()),
            external: true,
        },
        limits: RecordingLimits::default(),
        option_wait: Duration::from_secs(5),
    }
}

fn start(setup: DepositSetup) -> (Script<Deposit>, Vec<String>) {
    let t0 = super::origin();
    let mut s = Script::new(t0, Deposit::new(t0, wall(), setup));
    let first = s.drain();
    (s, first)
}

const WELCOME_DA: &str = "play da: <name> is_in_a_meeting \
                          and_will_be_back today at num_14 num_30";
const LEAVE_DA: &str = "play da: leave_a_message_after_the_tone";
const RECORD: &str = "record max=180s silence=5s beep";

#[test]
fn greeting_tells_the_status_and_a_message_is_saved_after_pound() {
    let (mut s, first) = start(setup());
    assert_eq!(first, [WELCOME_DA]);
    assert_eq!(s.done(9_000), [LEAVE_DA]);
    assert_eq!(s.done(11_000), [RECORD]);
    assert_eq!(
        s.deadline_ms(),
        Some(11_000 + 180_000 + RECORDING_GRACE.as_millis() as u64)
    );
    assert_eq!(s.key(21_000, '#'), ["stop recording"]);
    assert_eq!(
        s.send(
            21_100,
            Event::RecordingDone {
                duration_ms: 9_600,
                speech_ms: 9_600,
                ended_by: RecordingEnd::Stopped
            }
        ),
        ["save message user 7 from 4522334455 (Kim) at 10:00:11 9600ms"]
    );
    assert!(!s.m.is_finished());
    assert_eq!(
        s.send(
            21_200,
            Event::StoreReply(StoreReply::MessageSaved(VoicemailId(42)))
        ),
        ["notify user 7 message 42", "play da: thank_you_goodbye"]
    );
    assert_eq!(s.done(23_000), ["hangup"]);
    assert!(s.m.is_finished());
    assert_eq!(s.m.poll_timeout(), None);
}

#[test]
fn the_recorder_may_end_the_message_itself() {
    for ended_by in [
        RecordingEnd::Pound,
        RecordingEnd::Silence,
        RecordingEnd::MaxLength,
    ] {
        let (mut s, _) = start(setup());
        s.done(9_000);
        s.done(11_000);
        let actions = s.send(
            40_000,
            Event::RecordingDone {
                duration_ms: 24_000,
                speech_ms: 24_000,
                ended_by,
            },
        );
        assert_eq!(
            actions,
            ["save message user 7 from 4522334455 (Kim) at 10:00:11 24000ms"],
            "{ended_by:?}"
        );
        s.send(
            40_100,
            Event::StoreReply(StoreReply::MessageSaved(VoicemailId(1))),
        );
        assert_eq!(s.done(42_000), ["hangup"]);
    }
}

#[test]
fn a_caller_who_hangs_up_mid_message_still_leaves_it() {
    let (mut s, _) = start(setup());
    s.done(9_000);
    s.done(11_000);
    assert_eq!(s.send(30_000, Event::Hangup), ["stop recording"]);
    assert!(!s.m.is_finished(), "the message is not saved yet");
    assert_eq!(
        s.send(
            30_050,
            Event::RecordingDone {
                duration_ms: 18_900,
                speech_ms: 18_900,
                ended_by: RecordingEnd::Stopped
            }
        ),
        ["save message user 7 from 4522334455 (Kim) at 10:00:11 18900ms"]
    );
    // Nobody to thank: the lamp and the e-mail, then the machine is done, without a hang-up
    // of its own (the caller's BYE has ended the dialog).
    assert_eq!(
        s.send(
            30_200,
            Event::StoreReply(StoreReply::MessageSaved(VoicemailId(5)))
        ),
        ["notify user 7 message 5"]
    );
    assert!(s.m.is_finished());
}

#[test]
fn a_recorder_that_reports_the_hangup_itself_also_saves() {
    let (mut s, _) = start(setup());
    s.done(9_000);
    s.done(11_000);
    assert_eq!(
        s.send(
            25_000,
            Event::RecordingDone {
                duration_ms: 13_500,
                speech_ms: 13_500,
                ended_by: RecordingEnd::Hangup
            }
        ),
        ["save message user 7 from 4522334455 (Kim) at 10:00:11 13500ms"]
    );
    // The BYE arrives while the store works: the save goes on.
    assert_eq!(s.send(25_010, Event::Hangup), Vec::<String>::new());
    assert_eq!(
        s.send(
            25_200,
            Event::StoreReply(StoreReply::MessageSaved(VoicemailId(6)))
        ),
        ["notify user 7 message 6"]
    );
    assert!(s.m.is_finished());
}

#[test]
fn a_too_short_message_is_discarded() {
    let (mut s, _) = start(setup());
    s.done(9_000);
    s.done(11_000);
    s.key(11_700, '#');
    assert_eq!(
        s.send(
            11_750,
            Event::RecordingDone {
                duration_ms: 400,
                speech_ms: 400,
                ended_by: RecordingEnd::Stopped
            }
        ),
        ["discard", "play da: your_message_was_too_short goodbye"]
    );
    assert_eq!(s.done(15_000), ["hangup"]);
    assert!(s.m.is_finished());
}

#[test]
fn hanging_up_at_the_tone_leaves_nothing() {
    let (mut s, _) = start(setup());
    s.done(9_000);
    s.done(11_000);
    assert_eq!(s.send(11_300, Event::Hangup), ["stop recording"]);
    assert_eq!(
        s.send(
            11_320,
            Event::RecordingDone {
                duration_ms: 0,
                speech_ms: 0,
                ended_by: RecordingEnd::Stopped
            }
        ),
        ["discard"]
    );
    assert!(s.m.is_finished());
}

#[test]
fn hanging_up_during_the_greeting_ends_without_actions() {
    let (mut s, _) = start(setup());
    assert_eq!(s.send(3_000, Event::Hangup), Vec::<String>::new());
    assert!(s.m.is_finished());
    assert_eq!(s.m.poll_timeout(), None);
}

#[test]
fn own_name_and_own_greeting() {
    let (mut s, first) = start(DepositSetup {
        own_name: true,
        own_greeting: true,
        status: GreetingStatus::OnThePhone,
        ..setup()
    });
    assert_eq!(first, ["play da: <own name> is_on_the_phone"]);
    assert_eq!(s.done(5_000), ["play own greeting"]);
    assert_eq!(s.done(12_000), [LEAVE_DA]);
}

#[test]
fn status_variants_in_english_and_swedish() {
    let tomorrow_eight = Utc.with_ymd_and_hms(2025, 11, 25, 7, 0, 0).unwrap();
    let (_, first) = start(DepositSetup {
        lang: Lang::En,
        status: GreetingStatus::Absent {
            reason: Reason::Sick,
            back_at: Some(tomorrow_eight),
            free_text: None,
        },
        ..setup()
    });
    assert_eq!(
        first,
        ["play en: <name> is_ill and_will_be_back tomorrow at \
          num_8 am"]
    );
    let (_, first) = start(DepositSetup {
        lang: Lang::Sv,
        status: GreetingStatus::Absent {
            reason: Reason::Holiday,
            back_at: None,
            free_text: None,
        },
        ..setup()
    });
    assert_eq!(first, ["play sv: <name> is_on_holiday"]);
    let (_, first) = start(DepositSetup {
        status: GreetingStatus::NotAvailable,
        ..setup()
    });
    assert_eq!(first, ["play da: <name> is_not_available"]);
}

#[test]
fn pressing_5_switches_the_rest_of_the_call_to_the_secondary_language() {
    let (mut s, _) = start(DepositSetup {
        secondary_lang: Some(Lang::En),
        ..setup()
    });
    let offer = s.done(9_000);
    assert_eq!(offer, ["play da: for_english_press_5@en"]);
    let stale = s.last_play.unwrap();
    // The offer is not a barge-in prompt: the machine stops it and starts over in English.
    assert_eq!(
        s.key(9_800, '5'),
        [
            "stop",
            "play en: <name> is_in_a_meeting and_will_be_back \
             today at num_2 num_30 pm"
        ]
    );
    // A PromptDone of the stopped offer that crossed the stop changes nothing.
    assert_eq!(
        s.send(9_810, Event::PromptDone(stale)),
        Vec::<String>::new()
    );
    // No second offer, and pressing 5 again does nothing.
    assert_eq!(s.key(10_000, '5'), Vec::<String>::new());
    assert_eq!(s.done(18_000), ["play en: leave_a_message_after_the_tone"]);
    assert_eq!(s.m.lang(), Lang::En);
}

#[test]
fn colleagues_are_not_offered_the_secondary_language() {
    let (mut s, _) = start(DepositSetup {
        secondary_lang: Some(Lang::En),
        caller: Caller {
            external: false,
            ..Caller::default()
        },
        ..setup()
    });
    assert_eq!(s.done(9_000), [LEAVE_DA]);
    assert_eq!(s.key(9_500, '5'), Vec::<String>::new());
}

#[test]
fn a_secondary_language_equal_to_the_first_is_not_offered() {
    let (mut s, _) = start(DepositSetup {
        secondary_lang: Some(Lang::Da),
        ..setup()
    });
    assert_eq!(s.done(9_000), [LEAVE_DA]);
}

#[test]
fn pressing_9_reaches_the_receptionist() {
    let (mut s, _) = start(DepositSetup {
        receptionist: Some("4570100099".into()),
        secondary_lang: Some(Lang::Sv),
        ..setup()
    });
    assert_eq!(
        s.done(9_000),
        ["play da: for_swedish_press_5@sv press_9_for_reception"]
    );
    // 9 works during the whole greeting, not only after the offer.
    assert_eq!(s.key(9_500, '9'), ["stop", "transfer 4570100099"]);
    // The driver plays ringback while the destination rings: nothing more from the machine,
    // which is not finished (the caller may come back) and ignores keys meanwhile.
    assert!(!s.m.is_finished());
    assert_eq!(s.deadline_ms(), None);
    assert!(s.key(10_000, '9').is_empty());
    // A hang-up while it rings ends the call.
    s.send(11_000, Event::Hangup);
    assert!(s.m.is_finished());
}

#[test]
fn a_failed_transfer_brings_the_caller_back_to_leave_a_message() {
    let (mut s, _) = start(DepositSetup {
        receptionist: Some("4570100099".into()),
        ..setup()
    });
    assert_eq!(s.key(2_000, '9'), ["stop", "transfer 4570100099"]);
    assert_eq!(s.send(32_000, Event::TransferFailed), [LEAVE_DA]);
    assert_eq!(s.done(35_000), [RECORD]);
    assert!(!s.m.is_finished());
}

#[test]
fn keys_without_a_meaning_do_not_interrupt_the_greeting() {
    let (mut s, _) = start(setup());
    for key in ['1', '5', '9', '*', '0'] {
        assert_eq!(s.key(2_000, key), Vec::<String>::new(), "{key}");
    }
    assert_eq!(s.done(9_000), [LEAVE_DA]);
}

#[test]
fn pound_during_the_greeting_skips_to_the_tone() {
    let (mut s, _) = start(setup());
    assert_eq!(s.key(2_000, '#'), ["stop", RECORD]);
    let recording_started = s.at(2_000);
    assert_eq!(
        s.m.poll_timeout(),
        Some(recording_started + Duration::from_secs(180) + RECORDING_GRACE)
    );
}

#[test]
fn with_messages_off_the_caller_hears_the_status_then_goodbye() {
    let (mut s, first) = start(DepositSetup {
        allow_messages: false,
        ..setup()
    });
    assert_eq!(first, [WELCOME_DA]);
    assert_eq!(s.done(9_000), ["play da: goodbye"]);
    // No recording on # when messages are off.
    assert_eq!(s.key(9_100, '#'), Vec::<String>::new());
    assert_eq!(s.done(10_000), ["hangup"]);
    assert!(s.m.is_finished());
}

#[test]
fn with_messages_off_the_options_wait_for_a_key_then_say_goodbye() {
    let (mut s, _) = start(DepositSetup {
        allow_messages: false,
        receptionist: Some("100".into()),
        ..setup()
    });
    assert_eq!(s.done(9_000), ["play da: press_9_for_reception"]);
    assert_eq!(s.done(11_000), Vec::<String>::new());
    assert_eq!(s.deadline_ms(), Some(16_000));
    // An early wake-up of the driver changes nothing.
    assert_eq!(s.send(15_999, Event::Timeout), Vec::<String>::new());
    assert_eq!(s.timeout(), ["play da: goodbye"]);
    assert_eq!(s.done(17_000), ["hangup"]);

    let (mut s, _) = start(DepositSetup {
        allow_messages: false,
        receptionist: Some("100".into()),
        ..setup()
    });
    s.done(9_000);
    s.done(11_000);
    assert_eq!(s.key(13_000, '9'), ["transfer 100"]);
}

#[test]
fn the_guard_stops_a_recorder_that_overruns_and_saves_without_its_answer() {
    let (mut s, _) = start(DepositSetup {
        limits: RecordingLimits {
            max: Duration::from_secs(60),
            ..RecordingLimits::default()
        },
        ..setup()
    });
    s.done(9_000);
    assert_eq!(s.done(11_000), ["record max=60s silence=5s beep"]);
    assert_eq!(s.timeout(), ["stop recording"]);
    assert_eq!(
        s.deadline_ms(),
        Some(11_000 + 62_000 + STOP_GRACE.as_millis() as u64)
    );
    // The recorder never answers: the message is saved with the length the machine measured,
    // capped at the maximum.
    assert_eq!(
        s.timeout(),
        ["save message user 7 from 4522334455 (Kim) at 10:00:11 60000ms"]
    );
}

#[test]
fn a_failed_or_slow_save_is_not_thanked_for() {
    let (mut s, _) = start(setup());
    s.done(9_000);
    s.done(11_000);
    s.send(
        20_000,
        Event::RecordingDone {
            duration_ms: 9_000,
            speech_ms: 9_000,
            ended_by: RecordingEnd::Silence,
        },
    );
    assert_eq!(
        s.send(20_100, Event::StoreReply(StoreReply::Failed)),
        ["play da: goodbye"]
    );

    let (mut s, _) = start(setup());
    s.done(9_000);
    s.done(11_000);
    s.send(
        20_000,
        Event::RecordingDone {
            duration_ms: 9_000,
            speech_ms: 9_000,
            ended_by: RecordingEnd::Silence,
        },
    );
    assert_eq!(
        s.deadline_ms(),
        Some(20_000 + SAVE_TIMEOUT.as_millis() as u64)
    );
    assert_eq!(s.timeout(), ["play da: goodbye"]);
    // The store answers late: the user is still notified, once.
    assert_eq!(
        s.send(
            51_000,
            Event::StoreReply(StoreReply::MessageSaved(VoicemailId(9)))
        ),
        ["notify user 7 message 9"]
    );
    assert_eq!(
        s.send(
            51_001,
            Event::StoreReply(StoreReply::MessageSaved(VoicemailId(9)))
        ),
        Vec::<String>::new()
    );
}

#[test]
fn a_duplicate_recording_report_saves_once() {
    let (mut s, _) = start(setup());
    s.done(9_000);
    s.done(11_000);
    let done = Event::RecordingDone {
        duration_ms: 5_000,
        speech_ms: 5_000,
        ended_by: RecordingEnd::Silence,
    };
    assert_eq!(s.send(20_000, done.clone()).len(), 1);
    assert_eq!(s.send(20_001, done), Vec::<String>::new());
}

#[test]
fn a_recording_without_speech_is_not_kept_whatever_its_length() {
    // The caller says nothing and hangs up 2.5 s after the tone: nothing is stored, so nothing
    // is notified and no lamp lights.
    let (mut s, _) = start(setup());
    s.done(9_000);
    s.done(11_000);
    assert_eq!(s.send(13_500, Event::Hangup), ["stop recording"]);
    assert_eq!(
        s.send(
            13_520,
            Event::RecordingDone {
                duration_ms: 2_500,
                speech_ms: 0,
                ended_by: RecordingEnd::Hangup
            }
        ),
        ["discard"]
    );
    assert!(s.m.is_finished());

    // A minute of line noise that the silence timeout did not end, with 200 ms of something
    // voiced in it: still no message.
    let (mut s, _) = start(setup());
    s.done(9_000);
    s.done(11_000);
    assert_eq!(
        s.send(
            71_000,
            Event::RecordingDone {
                duration_ms: 60_000,
                speech_ms: 200,
                ended_by: RecordingEnd::MaxLength
            }
        ),
        ["discard", "play da: your_message_was_too_short goodbye"]
    );
}

#[test]
fn a_short_message_ended_by_the_silence_timeout_is_kept() {
    // 0.8 s of speech, then the 5 s of silence that ends the recording: the recorder trims the
    // silence, and the speech decides, not the length left.
    let (mut s, _) = start(setup());
    s.done(9_000);
    s.done(11_000);
    assert_eq!(
        s.send(
            17_000,
            Event::RecordingDone {
                duration_ms: 1_100,
                speech_ms: 640,
                ended_by: RecordingEnd::Silence
            }
        ),
        ["save message user 7 from 4522334455 (Kim) at 10:00:11 1100ms"]
    );
}
