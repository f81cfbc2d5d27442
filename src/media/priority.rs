//! The media driver threads' scheduling priority.
//!
//! In the call flow: every RTP packet we send leaves from a driver thread (`engine`) at its
//! frame deadline, and a receiver hears every millisecond it is late as jitter (RFC 3550
//! §6.4.1) or, past its jitter buffer, as a gap. Signalling, the IVRs and the store can wait a
//! few milliseconds; audio cannot. When the machine is busy (builds, a second service, our own
//! tokio workers saturating a core) the kernel's fair scheduler gives a waking driver no more
//! than its share, and the voicemail tests saw stalls of over 100 ms at a load average of 8
//! on two cores: frames skipped, prompts cut.
//!
//! So a driver thread asks for a lower nice value ([`MEDIA_NICE`]), the way Asterisk (`-p`)
//! and FreeSWITCH (`-rp`) raise their media threads. It needs `CAP_SYS_NICE` or an
//! `RLIMIT_NICE` that allows it (systemd: `LimitNICE=`, see `deploy/systemd/`); without
//! either the thread keeps the normal priority and says so once in the log. A nice value,
//! not a real-time class: a driver that falls behind with thousands of calls must not be
//! able to starve the rest of the machine, only to come first.

use std::sync::atomic::{AtomicBool, Ordering};

/// The nice value a driver thread asks for: weighted about 9 times a normal thread by the
/// fair scheduler, and still preemptible by it.
pub(crate) const MEDIA_NICE: i32 = -10;

/// Whether the "normal priority" notice was logged already (once per process).
static REFUSED_LOGGED: AtomicBool = AtomicBool::new(false);

/// Lowers the calling thread's nice value to [`MEDIA_NICE`]; true if it could.
pub(crate) fn raise_current_thread() -> bool {
    // On Linux, nice is per thread: PRIO_PROCESS with a thread id sets that thread alone.
    let tid = rustix::thread::gettid();
    match rustix::process::setpriority_process(Some(tid), MEDIA_NICE) {
        Ok(()) => true,
        Err(error) => {
            if !REFUSED_LOGGED.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    %error,
                    nice = MEDIA_NICE,
                    "media threads keep the normal priority (no CAP_SYS_NICE or LimitNICE)"
                );
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_gets_the_media_priority_or_keeps_its_own() {
        let own = || rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        let before = own().expect("getpriority on our own thread");
        let (raised, nice) = std::thread::spawn(move || (raise_current_thread(), own()))
            .join()
            .expect("the thread does not panic");
        let nice = nice.expect("getpriority on our own thread");
        if raised {
            assert_eq!(nice, MEDIA_NICE);
        } else {
            assert_eq!(nice, before, "refused, yet changed");
        }
        // Only the driver thread moves: the thread that started it keeps its priority.
        assert_eq!(own().expect("getpriority"), before);
    }
}
