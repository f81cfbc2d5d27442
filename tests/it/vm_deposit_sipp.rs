//! Issue #5 "Done when", with SIPp as the caller against the real binary: a call to a user in
//! a meeting until 14:30 (the server's clock set to 10:00 by `ONESTATUS_TEST_NOW`) hears
//! welcome + the user's number (no recorded name) + "is in a meeting and will be back at
//! 14:30", the options, "leave a message after the tone" and the tone — the RTP we send,
//! captured on loopback, is cut at the talkspurt markers and each piece compared sample by
//! sample with the prompt stitched from the fragment files — then leaves 10 s of speech
//! (SIPp `play_pcap_audio`) that is stored (duration within 100 ms, the same audio), mailed to
//! a loopback SMTP receiver and lights the lamp (MWI NOTIFY); in Danish, Swedish and English.
//! Pressing 5 replays the greeting in the other language; pressing 9 transfers the caller to
//! the receptionist group by REFER.
// Tests drive a real process over real sockets: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::Duration;

use crate::support::smtp::{Received, Relay, SmtpReceiver};
use crate::support::voicemail::*;
use onestatus::domain::Lang;

fn leave_a_message(user: (&str, &str, &str, Lang, Lang)) {
    let (one_number, local, email, lang, secondary) = user;
    let mails = SmtpReceiver::start(Relay::Accept);
    let rtp = rtp_range();
    let server = start(Some(mails.port), rtp);
    let phone = Phone::new();
    let account = prepare_user(&server, local, email, secondary, phone.addr());
    let prompts = Prompts::load();
    let expected: Vec<Vec<i16>> = greeting(account.id.0, secondary)
        .iter()
        .map(|u| prompts.greeted(&server, &account, u, lang))
        .collect();
    let greeting_ms: usize = expected.iter().map(|p| p.len() / 8).sum();
    let capture = Capture::start(rtp);

    // Listen to the greeting plus a second (prompt gaps), then speak for 10 s and hang up.
    let listen = (greeting_ms + 1200).to_string();
    sipp(
        "vm_deposit.xml",
        server.sip_udp,
        &["-s", one_number, "-d", &listen],
    )
    .unwrap();
    let handed = server
        .wait_log("reason=meeting", Duration::from_secs(5))
        .expect("the meeting is the hand-off's reason");
    assert!(handed.contains("back_at="), "{handed}");

    // The greeting, prompt by prompt, in order.
    let sent = capture.packets();
    assert!(sent.iter().all(|p| p.payload_type == 8), "PCMA as offered");
    let starts = prompt_starts(&sent);
    assert!(
        starts.len() >= 4,
        "prompt starts {starts:?} in {} packets",
        sent.len()
    );
    let names = ["welcome + status", "options", "leave a message", "tone"];
    for (k, want) in expected.iter().enumerate() {
        let (from, to) = (starts[k], starts.get(k + 1).copied().unwrap_or(sent.len()));
        let got = audio(&sent, from, to);
        let what = format!("{lang} {}", names[k]);
        // The prompt, then at most a few frames of silence while the next one is stitched
        // (after the tone: silence until the caller hangs up).
        let longest = if k + 1 == expected.len() {
            usize::MAX
        } else {
            frames(want.len()) + 15
        };
        assert!(
            (frames(want.len())..longest).contains(&(to - from)),
            "{what}: {} frames heard, {} expected",
            to - from,
            frames(want.len())
        );
        assert_sounds_like(&got, want, &what);
    }

    // The message: stored, the length and the audio SIPp sent.
    server
        .wait_log("voicemail message stored", Duration::from_secs(10))
        .expect("message stored");
    let (list, wav) = with_store(&server, async |store| {
        let list = store.voicemails(account.id).await.unwrap();
        let wav = store.voicemail_audio(account.id, list[0].id).await.unwrap();
        (list, wav)
    });
    assert_eq!(list.len(), 1, "{list:?}");
    let stored: Vec<i16> = wav[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let spoken = pcap_audio(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/audio/vm_speech_10s.pcap"),
    );
    // Stored: what SIPp said, with its leading and trailing silence trimmed to short margins
    // (issue #18). Nothing audible is cut: what lies outside is quiet.
    let kept = onestatus::media::vad::analyse(&spoken).trim(spoken.len());
    assert!(
        kept.len() < spoken.len() && kept.len() > spoken.len() / 2,
        "{kept:?} of {}",
        spoken.len()
    );
    let outside: Vec<i16> = spoken[..kept.start]
        .iter()
        .chain(&spoken[kept.end..])
        .copied()
        .collect();
    assert!(
        level(&outside) < 50.0,
        "trimmed audio was not silence: {:.0}",
        level(&outside)
    );
    let expected_ms = kept.len() as u64 / 8;
    assert!(
        list[0].duration_ms.abs_diff(expected_ms) <= 100,
        "{lang}: stored {} ms for the {expected_ms} ms of speech and margins in the 10,000 ms sent",
        list[0].duration_ms
    );
    assert_eq!(list[0].caller_number.as_deref(), Some("4512345678"));
    assert!(
        stored.len().abs_diff(kept.len()) <= 800,
        "{} samples stored",
        stored.len()
    );
    assert!(level(&stored) > 300.0, "not silent: {:.0}", level(&stored));
    assert_sounds_like(
        &stored,
        &spoken[kept],
        "the stored message is what SIPp said",
    );

    // Notified: e-mail with the WAV, and the lamp.
    let Received {
        rcpt_to: rcpt,
        data,
        ..
    } = mails
        .next_blocking(Duration::from_secs(15))
        .expect("new-message mail");
    assert!(rcpt.iter().any(|r| r.contains(email)), "{rcpt:?}");
    assert!(data.contains(".wav"), "WAV attached");
    let notify = phone
        .notify_with("Messages-Waiting: yes", Duration::from_secs(10))
        .expect("MWI NOTIFY to the registered phone");
    assert!(notify.contains("Voice-Message: 1/0"), "{notify}");
}

#[test]
fn danish_caller_hears_the_meeting_greeting_and_leaves_a_message() {
    leave_a_message(HANS);
}

#[test]
fn swedish_caller_hears_the_meeting_greeting_and_leaves_a_message() {
    leave_a_message(SVEN);
}

#[test]
fn english_caller_hears_the_meeting_greeting_and_leaves_a_message() {
    leave_a_message(EMMA);
}

/// 5 during the welcome: the welcome starts again in the secondary language.
fn press_5(user: (&str, &str, &str, Lang, Lang)) {
    let (one_number, local, email, lang, secondary) = user;
    let rtp = rtp_range();
    let server = start(None, rtp);
    let phone = Phone::new();
    let account = prepare_user(&server, local, email, secondary, phone.addr());
    let prompts = Prompts::load();
    let [first, ..] = greeting(account.id.0, secondary);
    let primary = prompts.greeted(&server, &account, &first, lang);
    let switched = prompts.greeted(&server, &account, &first, secondary);
    let capture = Capture::start(rtp);
    // Listen for the replayed welcome (and a little more).
    let listen = (switched.len() / 8 + 500).to_string();
    sipp(
        "vm_deposit_key5.xml",
        server.sip_udp,
        &["-s", one_number, "-d", &listen],
    )
    .unwrap();
    let sent = capture.packets();
    let starts = prompt_starts(&sent);
    assert!(starts.len() >= 2, "prompt starts {starts:?}");
    // The first welcome was cut short by the key (3 s after the answer).
    let cut = starts[1] - starts[0];
    assert!(
        (60..frames(primary.len())).contains(&cut),
        "first welcome {cut} frames of {}",
        frames(primary.len())
    );
    // Up to its first 1.6 s (after the key, silence until the replay is stitched).
    assert_sounds_like(
        &audio(&sent, starts[0], starts[0] + (cut - 25).min(80)),
        &primary,
        &format!("{lang} welcome"),
    );
    let replay = audio(&sent, starts[1], sent.len());
    let seqs: Vec<u16> = sent.iter().map(|p| p.seq).collect();
    let gaps = seqs
        .windows(2)
        .filter(|w| w[1] != w[0].wrapping_add(1))
        .count();
    let context = format!(
        "prompt starts {starts:?} of {} packets, {gaps} sequence gaps, welcome in {secondary} {} frames, SNR of its first second {:.1} dB",
        sent.len(),
        frames(switched.len()),
        snr_db(&replay[..50 * FRAME], &switched[..50 * FRAME])
    );
    assert!(
        replay.len() >= switched.len(),
        "replay {} samples, welcome in {secondary} {}",
        replay.len(),
        switched.len()
    );
    assert_sounds_like(
        &replay,
        &switched,
        &format!("welcome again in {secondary} ({context})"),
    );
}

#[test]
fn pressing_5_replays_the_greeting_in_english_for_a_danish_user() {
    press_5(HANS);
}

#[test]
fn pressing_5_replays_the_greeting_in_english_for_a_swedish_user() {
    press_5(SVEN);
}

#[test]
fn pressing_5_replays_the_greeting_in_danish_for_an_english_user() {
    press_5(EMMA);
}

/// 9 during the welcome with `calls.transfer = "refer"`: REFER to the receptionist group (the
/// scenario checks Refer-To), 202, then our BYE; no message is left. (The default, a transfer
/// the B2BUA carries, is `transfer_sipp`.)
#[test]
fn pressing_9_transfers_the_caller_to_the_receptionist_group() {
    for user in [HANS, SVEN, EMMA] {
        let (one_number, local, email, _, secondary) = user;
        let server = start_with_env(None, rtp_range(), &[("ONESTATUS_CALLS_TRANSFER", "refer")]);
        let phone = Phone::new();
        let account = prepare_user(&server, local, email, secondary, phone.addr());
        sipp(
            "vm_deposit_key9.xml",
            server.sip_udp,
            &["-s", one_number, "-set", "group", RECEPTIONIST_GROUP],
        )
        .unwrap();
        assert!(server
            .wait_log("transferring the caller (REFER)", Duration::from_secs(5))
            .is_some_and(|l| l.contains(RECEPTIONIST_GROUP)));
        let list = with_store(&server, async |store| {
            store.voicemails(account.id).await.unwrap()
        });
        assert!(list.is_empty(), "{list:?}");
    }
}
