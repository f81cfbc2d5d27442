//! Debian's baresip as a real phone that blind-transfers a call (issue #18, "A real
//! softphone"): it registers as Karen (MD5 by its User-Agent rule), answers a SIPp caller
//! automatically, and is told through its TCP control interface (`ctrl_tcp`, netstring JSON)
//! to transfer the call to Sven, whose phone is a SIPp UAS. baresip sends REFER; we carry the
//! transfer, the caller is re-INVITEd onto Sven's call and talks to him.
// Tests drive a real process over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::voicemail::*;
use crate::support::TestServer;

/// A baresip process with its own configuration, answering calls itself, driven over TCP;
/// killed (by its own handle) when dropped.
struct Phone {
    child: Child,
    control: SocketAddr,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Phone {
    fn start(server: SocketAddr, user: &str, password: &str) -> Phone {
        let dir = tempfile::tempdir().unwrap();
        let control: SocketAddr = format!("127.0.0.1:{}", crate::support::free_udp_port())
            .parse()
            .unwrap();
        let wav = dir.path().join("voice.wav");
        std::fs::write(&wav, sine_wav()).unwrap();
        std::fs::write(
            dir.path().join("config"),
            format!(
                "poll_method\t\tepoll\nsip_listen\t\t127.0.0.1:0\n\
                 module_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\n\
                 module\t\t\taufile.so\nmodule\t\t\taccount.so\nmodule\t\t\tmenu.so\n\
                 module\t\t\tctrl_tcp.so\nctrl_tcp_listen\t\t{control}\n\
                 audio_player\t\tnone\naudio_source\t\taufile,{}\naudio_alert\t\tnone\n",
                wav.display()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("accounts"),
            format!(
                "<sip:{user}@onestatus;transport=udp>;auth_pass={password};\
                 outbound=\"sip:{server};transport=udp\";regint=600;answermode=auto\n"
            ),
        )
        .unwrap();
        let log = dir.path().join("baresip.log");
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip is installed (apt-get install baresip)");
        Phone {
            child,
            control,
            log,
            _dir: dir,
        }
    }

    /// One control command (`ctrl_tcp`: netstring-framed JSON); the reply's text.
    fn command(&self, command: &str, params: &str) -> String {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.control, Duration::from_secs(2))
        else {
            return String::new();
        };
        let message =
            format!("{{\"command\":\"{command}\",\"params\":\"{params}\",\"token\":\"t\"}}");
        let _ = stream.write_all(format!("{}:{message},", message.len()).as_bytes());
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buffer = vec![0u8; 8192];
        let n = stream.read(&mut buffer).unwrap_or(0);
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 30 s of a 440 Hz tone as an 8 kHz 16-bit mono WAV: what baresip says.
fn sine_wav() -> Vec<u8> {
    let samples: Vec<i16> = (0..8000 * 30)
        .map(|n| (6000.0 * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / 8000.0).sin()) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    wav
}

#[test]
fn baresip_blind_transfers_a_call_through_us() {
    let (min, max) = rtp_range();
    let (min, max) = (min.to_string(), max.to_string());
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[
            ("ONESTATUS_SIP_T1_MS", "500"),
            ("ONESTATUS_TEST_NOW", TEST_NOW),
            ("ONESTATUS_RTP_PORT_MIN", min.as_str()),
            ("ONESTATUS_RTP_PORT_MAX", max.as_str()),
        ],
    );
    // Karen's phone: baresip, registering itself.
    let karen = Phone::start(server.sip_udp, "1000002", "demo1000002");
    assert!(
        server
            .wait_log(
                "registered aor=sip:1000002@onestatus",
                Duration::from_secs(15)
            )
            .is_some(),
        "baresip did not register: {}",
        karen.output()
    );
    // Sven's phone: a SIPp UAS that answers and talks.
    let sven_port = crate::support::free_udp_port();
    with_store(&server, async |store| {
        let sven = store.user_by_local_number("1000003").await.unwrap();
        let addr = format!("127.0.0.1:{sven_port}").parse().unwrap();
        register(store, &sven, addr, test_now()).await;
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sip = server.sip_udp.to_string();
    let media = free_media_port().to_string();
    let sven = std::thread::spawn(move || {
        Command::new("timeout")
            .arg("90")
            .arg("sipp")
            .arg("-sf")
            .arg(root.join("testdata/sipp/uas_answer_talk.xml"))
            .arg(&sip)
            .current_dir(root)
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &sven_port.to_string(),
                "-mp",
                &media,
            ])
            .args(["-m", "1", "-nostdin", "-timeout", "75s", "-timeout_error"])
            .stdin(Stdio::null())
            .output()
            .expect("sipp runs")
    });
    std::thread::sleep(Duration::from_millis(400));
    // The caller: calls Karen, is answered by baresip, then moved to Sven by our re-INVITE.
    let sip = server.sip_udp;
    let caller =
        std::thread::spawn(move || sipp("uac_transferred.xml", sip, &["-s", "4570100002"]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !karen.command("listcalls", "").contains("ESTABLISHED") {
        assert!(
            Instant::now() < deadline,
            "baresip never had the call: {}",
            karen.output()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let reply = karen.command("transfer", "sip:4570100003@onestatus");
    assert!(reply.contains("\"ok\":true"), "{reply}");
    caller.join().unwrap().unwrap();
    let sven = sven.join().unwrap();
    assert!(
        sven.status.success(),
        "{}",
        String::from_utf8_lossy(&sven.stdout)
    );
    assert!(server
        .wait_log("transferee bridged to the target", Duration::from_secs(5))
        .is_some());
    let output = karen.output();
    assert!(!output.contains("transfer failed"), "{output}");
}
