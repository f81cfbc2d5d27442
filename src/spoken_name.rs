//! A user's name spoken by espeak-ng, made when the user is created or renamed (issue #18), so
//! the greeting says "Hans Hansen is in a meeting" to callers even when Hans never recorded his
//! name; the number read digit by digit is the fallback only where espeak-ng is missing.
//!
//! In the flow: the CLI's `user add`, the demo seeding and a name or language change through
//! the API call [`refresh`]; the deposit driver (`runtime::voicemail`) plays the stored result
//! where no recorded name is used. Never at call time: a call must not wait for a synthesiser.
//!
//! The same voice and settings as `prompts/generate.sh` (its `voice_for` and `speed`), and the
//! same trimming and loudness ([`crate::speech::level`]), so the name sits in the stitched
//! greeting like any other fragment. Measured against the alternatives: espeak-ng is what the
//! prompts are made with (one voice throughout the greeting), it speaks da/sv/en and runs in
//! about 30 ms for a name; the pure-Rust TTS crates speak English only.
//!
//! A driver (it runs a process), so it may block: the synthesis runs on the blocking pool.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use crate::domain::Lang;
use crate::media::decode::{self, DecodeLimits};
use crate::speech::level;
use crate::store::{GeneratedName, Store, StoreError, User};

/// The synthesiser, looked up on `PATH`.
pub const ESPEAK: &str = "espeak-ng";
/// Speaking rate in words per minute: `speed` in `prompts/generate.sh`.
const SPEED: &str = "150";
/// Longest a name may take to speak; espeak-ng needs tens of milliseconds.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest name spoken, in characters: a name is a few words, and a hostile profile must not
/// make a minute of audio.
const MAX_CHARS: usize = 80;

/// Why no name was made.
#[derive(Debug, thiserror::Error)]
pub enum SpokenNameError {
    /// espeak-ng is not installed (or not on `PATH`).
    #[error("{ESPEAK} is not installed: {0}")]
    NotInstalled(std::io::Error),
    /// It ran but failed or produced nothing usable.
    #[error("{ESPEAK} failed: {0}")]
    Failed(String),
    /// It did not finish within [`TIMEOUT`].
    #[error("{ESPEAK} took longer than {TIMEOUT:?}")]
    TimedOut,
    /// The name has nothing to say.
    #[error("the name is empty")]
    Empty,
    /// Storing it failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The espeak-ng voice of `lang`: `voice_for` in `prompts/generate.sh`.
pub fn voice(lang: Lang) -> &'static str {
    match lang {
        Lang::Da => "da",
        Lang::Sv => "sv",
        Lang::En => "en-gb",
    }
}

/// `name` spoken in `lang`'s voice: 8 kHz mono 16-bit samples, trimmed and levelled like a
/// prompt fragment. Blocking (runs a process).
pub fn speak_blocking(name: &str, lang: Lang) -> Result<Vec<i16>, SpokenNameError> {
    let text: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_CHARS)
        .collect();
    if text.trim().is_empty() {
        return Err(SpokenNameError::Empty);
    }
    let mut child = Command::new(ESPEAK)
        .args(["-v", voice(lang), "-s", SPEED, "--stdout", "--"])
        .arg(text.trim())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(SpokenNameError::NotInstalled)?;
    // Read stdout on this thread while a watchdog bounds the run: a name's WAV is small
    // (tens of KB), so the pipe never holds the child up for long.
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| SpokenNameError::Failed("no stdout".into()))?;
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).map(|_| bytes)
    });
    // Polled every 5 ms, up to TIMEOUT in polls (no clock read: CONTRIBUTING.md rule 5).
    const POLL: Duration = Duration::from_millis(5);
    let mut polls = TIMEOUT.as_millis() / POLL.as_millis();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if polls == 0 => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SpokenNameError::TimedOut);
            }
            Ok(None) => {
                polls -= 1;
                std::thread::sleep(POLL);
            }
            Err(e) => return Err(SpokenNameError::Failed(e.to_string())),
        }
    };
    let bytes = reader
        .join()
        .map_err(|_| SpokenNameError::Failed("reader panicked".into()))?
        .map_err(|e| SpokenNameError::Failed(e.to_string()))?;
    if !status.success() {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        return Err(SpokenNameError::Failed(format!("{status}: {}", err.trim())));
    }
    let pcm = decode::decode(bytes, Some("wav"), &DecodeLimits::default())
        .map_err(|e| SpokenNameError::Failed(e.to_string()))?;
    let pcm = level::trim_and_level(&pcm);
    if pcm.is_empty() {
        return Err(SpokenNameError::Failed("silence".into()));
    }
    Ok(pcm)
}

/// Makes and stores `user`'s spoken name unless the stored one already says the current name
/// in the current language. `Ok(true)` when a new one was stored.
pub async fn refresh(
    store: &Store,
    user: &User,
    now: DateTime<Utc>,
) -> Result<bool, SpokenNameError> {
    let name = user.profile.name.trim().to_owned();
    let lang = user.profile.lang;
    if let Some(stored) = store.generated_name(user.id).await? {
        if stored.spoken == name && stored.lang == lang {
            return Ok(false);
        }
    }
    let spoken = name.clone();
    let pcm = tokio::task::spawn_blocking(move || speak_blocking(&spoken, lang))
        .await
        .map_err(|e| SpokenNameError::Failed(e.to_string()))??;
    let audio = decode::wav_bytes(&pcm).map_err(|e| SpokenNameError::Failed(e.to_string()))?;
    store
        .generated_name_set(
            user.id,
            &GeneratedName {
                spoken: name,
                lang,
                audio,
            },
            now,
        )
        .await?;
    debug!(
        user_id = user.id.0,
        samples = pcm.len(),
        "spoken name stored"
    );
    Ok(true)
}

/// [`refresh`] that logs instead of failing: a user without a generated name is still
/// greeted, by number. espeak-ng missing is worth one line at `info`, not a warning per user.
pub async fn refresh_logged(store: &Store, user: &User, now: DateTime<Utc>) {
    match refresh(store, user, now).await {
        Ok(_) => {}
        Err(error @ SpokenNameError::NotInstalled(_)) => {
            info!(%error, user_id = user.id.0, "no spoken name: callers hear the number");
        }
        Err(error) => warn!(%error, user_id = user.id.0, "spoken name not made"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_spoken_trimmed_and_at_the_prompt_level() {
        let pcm = speak_blocking("Hans Hansen", Lang::Da)
            .expect("espeak-ng is installed (.ci/run installs it)");
        let seconds = pcm.len() as f64 / 8000.0;
        assert!((0.5..2.0).contains(&seconds), "{seconds:.2} s");
        let level = level::rms_dbfs(&pcm);
        assert!(
            (level - level::TARGET_RMS_DBFS).abs() <= 2.0,
            "{level:.2} dBFS"
        );
        // Trimmed: it starts and ends with sound, not silence.
        assert!(pcm[..160].iter().any(|s| s.unsigned_abs() > 100));
        // It is speech, by the recorder's own measure.
        assert!(crate::media::vad::analyse(&pcm).speech() > Duration::from_millis(200));
    }

    #[test]
    fn every_language_has_the_prompts_voice_and_bad_names_are_refused() {
        for lang in [Lang::Da, Lang::Sv, Lang::En] {
            assert!(speak_blocking("Emma Evans", lang).is_ok(), "{lang}");
        }
        assert!(matches!(
            speak_blocking(" \n\t", Lang::Da),
            Err(SpokenNameError::Empty)
        ));
        // A long name is cut, not spoken for minutes.
        let long = "Hans ".repeat(200);
        let pcm = speak_blocking(&long, Lang::Da).unwrap();
        assert!(pcm.len() < 8000 * 15, "{} s", pcm.len() / 8000);
    }
}
