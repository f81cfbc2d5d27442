//! Smoke versions of the benchmarks (issue 9: "make one smoke version of each part of the test
//! suite so they never rot"): the same scripts and the same harness code as `benches/`, at a
//! scale of a few calls, with assertions on the rows they produce. Speed is not asserted here
//! (the machine may be loaded); what is asserted is that every call succeeded, every recording
//! was stored, every decision was made, and that the figures were produced at all.
//!
//! - `routing_decide`, `routing_lookup`: `benches/routing.rs` and `benches/routing_lookup.rs`
//!   compiled in as modules, run with a few iterations over a 30-user SQLite store.
//! - `signalling`, `voicemail`, `post_dial`: the shell scripts with the debug binary
//!   (`ONESTATUS_BIN`), their rows written to a temporary file (`RESULTS_FILE`, never
//!   `RESULTS.md`), their own ports below the ephemeral range, and the machine's UDP buffers left
//!   alone. For the media scripts this binary is also the load generator: run with
//!   `BENCH_SMOKE_ROLE=voicemail_load` it is `benches/voicemail_load.rs`'s `main`.
//! - `relay`, `soak`: `relay.sh` (two anchored calls with RTP both ways for 3 s, beside the
//!   direct floor and rtpengine; the generator is `benches/relay_load.rs`'s `main`, role
//!   `relay_load`) and `soak.sh` (12 s of 5 calls/s plus two voicemail callers, sampled every
//!   2 s, the plot written to a temporary directory).
//! - `nodes` (`benches/nodes.sh`: Kamailio + 2 nodes on one PostgreSQL database, 1 node direct,
//!   Kamailio alone) the same way; `fanout` (`benches/fanout.rs`, compiled in as a module): a
//!   few presence events from node A's API to SSE clients on both nodes. Both need PostgreSQL
//!   at 127.0.0.1:5432 (or `ONESTATUS_TEST_PG`), as the integration tests do.
//!
//! A harness of its own (`harness = false`) for that second role; it takes test-name filters
//! like libtest (`cargo test --test bench_smoke signalling`) and `--list`.
#![allow(clippy::disallowed_methods)] // drives real processes with wall-clock deadlines

#[path = "../benches/fanout.rs"]
#[allow(dead_code)]
mod fanout;
#[path = "../benches/relay_load.rs"]
#[allow(dead_code)]
mod relay_load;
#[path = "../benches/routing.rs"]
#[allow(dead_code)]
mod routing_bench;
#[path = "../benches/routing_lookup.rs"]
#[allow(dead_code)]
mod routing_lookup;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use onestatus::routing::{decide, CallContext, GreetingStatus, Route, VoicemailInfo};
// benches/voicemail_load.rs, included once, inside the relay generator that reuses it.
use relay_load::voicemail_load;

type Outcome = Result<(), String>;
/// A smoke test: its name and body.
type Smoke = (&'static str, fn() -> Outcome);

fn check(ok: bool, what: impl FnOnce() -> String) -> Outcome {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

fn routing_decide() -> Outcome {
    let rows = routing_bench::run(50);
    check(rows.len() == 8, || {
        format!("{} rows, expected 8", rows.len())
    })?;
    for (label, (p50, p99, max)) in &rows {
        check(*p50 > 0.0 && p50 <= p99 && p99 <= max, || {
            format!("{label}: p50 {p50} p99 {p99} max {max} out of order")
        })?;
    }
    // The labels say what decide finds in the realistic state; hold the bench to them (the
    // heavy state replaces its absences and calendar, so there they are only instants).
    let call = CallContext {
        dialled: "+4570202020".into(),
        ..CallContext::default()
    };
    let state = routing_bench::realistic_state();
    let [available, lunch, weekly, chain] = routing_bench::cases();
    let got = |(label, at): (&str, _)| (label.to_owned(), decide(&state, at, &call));
    let (label, route) = got(available);
    check(matches!(route, Route::Ring { .. }), || {
        format!("{label}: {route:?}")
    })?;
    for case in [lunch, weekly, chain] {
        let (label, route) = got(case);
        check(
            matches!(
                &route,
                Route::Voicemail(VoicemailInfo {
                    status: GreetingStatus::Absent {
                        back_at: Some(_),
                        ..
                    },
                    ..
                })
            ),
            || format!("{label}: {route:?}"),
        )?;
    }
    Ok(())
}

fn routing_lookup() -> Outcome {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let comparison = runtime
        .block_on(routing_lookup::run(dir.path(), 30, 200))
        .map_err(|e| format!("lookup failed: {e}"))?;
    println!("    {comparison:?}");
    // The direct SQLite reads and the reference through sqlx decide the same.
    check(comparison.direct.routes == comparison.sqlx.routes, || {
        format!("{comparison:?}")
    })?;
    let report = comparison.direct;
    check(
        report.lookups == 200 && report.routes.iter().sum::<usize>() == 200,
        || format!("{report:?}"),
    )?;
    // The 60-day read holds what is in force at or after `now`: of a user's 200 entries, one
    // every six hours from three weeks back, the 116 or so not yet ended; and (but for one that
    // ended) the 20 absences. Users in an absence at `now` go to voicemail, the others ring.
    check((100..=130).contains(&report.last_entries), || {
        format!("{} calendar entries loaded", report.last_entries)
    })?;
    // A call reads one day ahead first: the four or five entries of the next day.
    check((1..=6).contains(&report.first_read_entries), || {
        format!(
            "{} calendar entries read by a call",
            report.first_read_entries
        )
    })?;
    check(
        report.last_absences >= routing_lookup::ABSENCES as usize - 1,
        || format!("{} absences loaded", report.last_absences),
    )?;
    check(report.routes[0] > 0 && report.routes[2] > 0, || {
        format!(
            "expected both ring and voicemail decisions: {:?}",
            report.routes
        )
    })?;
    check(
        report.p50 > Duration::ZERO && report.p50 <= report.p99,
        || format!("{report:?}"),
    )
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `benches/<script>` with the smoke knobs and `extra`; returns the rows it wrote.
fn script(script: &str, extra: &[(&str, &str)], limit: Duration) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let results = dir.path().join("results.md");
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new("timeout");
    cmd.arg(limit.as_secs().to_string())
        .arg("bash")
        .arg(root().join("benches").join(script))
        .current_dir(root())
        .env("ONESTATUS_BIN", env!("CARGO_BIN_EXE_onestatus"))
        .env("GENERATOR", &me)
        .env("BENCH_SMOKE_ROLE", "voicemail_load")
        .env("RESULTS_FILE", &results)
        .env("RAISE_UDP_BUFFERS", "0")
        .env_remove("RUST_LOG");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| format!("bash: {e}"))?;
    let rows = std::fs::read_to_string(&results).unwrap_or_default();
    if !out.status.success() {
        return Err(format!(
            "{script} exited with {}; rows: {rows}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if rows.trim().is_empty() {
        return Err(format!(
            "{script} wrote no row\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    for row in rows.lines() {
        println!("    {row}");
    }
    Ok(rows)
}

fn contains(rows: &str, needle: &str) -> Outcome {
    check(rows.contains(needle), || {
        format!("expected {needle:?} in the row: {rows}")
    })
}

fn has_tool(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn signalling() -> Outcome {
    let rows = script(
        "signalling.sh",
        &[
            ("DURATION", "2"),
            ("RATES", "5"),
            ("MAX_RATE", "5"),
            ("USERS", "20"),
            ("PORT_BASE", "21060"),
        ],
        Duration::from_secs(240),
    )?;
    contains(&rows, "onestatus **5** calls/s")?;
    contains(&rows, "at 2 calls/s")?;
    contains(&rows, "SIPp direct 5 calls/s")?;
    // INVITE->180 came out as numbers, not n/a.
    check(
        !rows.contains("p50 n/a") && !rows.contains("p99 n/a"),
        || format!("no INVITE->180 figures: {rows}"),
    )?;
    contains(&rows, "CPU per call at ")?;
    if has_tool("kamailio") {
        contains(&rows, "Kamailio stateful proxy 5 calls/s")?;
        contains(&rows, "CPU per call at 5 calls/s: onestatus ")?;
    }
    Ok(())
}

fn voicemail() -> Outcome {
    let rows = script(
        "voicemail.sh",
        &[
            ("CURVE", "2"),
            ("SPEECH_SECS", "3"),
            ("PORT_BASE", "22060"),
            ("RTP_PORT_MIN", "23000"),
        ],
        Duration::from_secs(240),
    )?;
    contains(&rows, "calls=2 answered=2 failed=0")?;
    contains(&rows, " lost=0 ")?;
    contains(&rows, "2 stored, 2 with the right duration")?;
    contains(&rows, "RSS +")
}

fn post_dial() -> Outcome {
    let rows = script(
        "post_dial.sh",
        &[
            ("RATE", "5"),
            ("DURATION", "2"),
            ("FLOOR_RATE", "2"),
            ("USERS", "4"),
            ("PORT_BASE", "22560"),
            ("RTP_PORT_MIN", "23500"),
        ],
        Duration::from_secs(240),
    )?;
    contains(&rows, "calls=10 answered=10 failed=0")?;
    contains(&rows, "calls=4 answered=4 failed=0")?;
    check(!rows.contains("first_audio_us p50=0 "), || {
        format!("no first-audio figures: {rows}")
    })
}

/// The number after `key=` in a generator's summary line.
fn figure(rows: &str, key: &str) -> Option<f64> {
    let at = rows.find(&format!(" {key}="))? + key.len() + 2;
    rows[at..].split(' ').next()?.parse().ok()
}

fn relay() -> Outcome {
    let rows = script(
        "relay.sh",
        &[
            ("BENCH_SMOKE_ROLE", "relay_load"),
            ("CALLS", "2"),
            ("SECS", "3"),
            ("PORT_BASE", "24560"),
            ("RTP_PORT_MIN", "24600"),
        ],
        Duration::from_secs(240),
    )?;
    // Each of the three runs: both calls set up, all four streams carried to the end.
    for mode in ["direct", "sip", "pairs"] {
        contains(
            &rows,
            &format!("mode={mode} calls=2 streams=4 streams_done=4 failed=0"),
        )?;
    }
    // Loss is measured (a debug relay on a loaded machine may drop a packet, not a stream).
    for (i, line) in rows.split("mode=").skip(1).enumerate() {
        let line = format!(" {line}");
        let (sent, lost) = (figure(&line, "sent"), figure(&line, "lost"));
        check(
            matches!((sent, lost), (Some(s), Some(l)) if s >= 300.0 && l * 20.0 <= s),
            || format!("run {i}: sent {sent:?} lost {lost:?}: {rows}"),
        )?;
    }
    // The relays' CPU was read over the steady window, and the jitter figures came out.
    contains(&rows, "cpu_pct_per_1000_streams=")?;
    contains(&rows, "added_jitter_us p50=")?;
    check(!rows.contains("p99= "), || format!("empty p99: {rows}"))
}

fn soak() -> Outcome {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let plots = dir.path().to_string_lossy().into_owned();
    let rows = script(
        "soak.sh",
        &[
            ("PLOT_DIR", plots.as_str()),
            ("DURATION", "12"),
            ("RATE", "5"),
            ("VM_CONCURRENT", "2"),
            ("SPEECH_SECS", "2"),
            ("SAMPLE_SECS", "2"),
            ("WARMUP_SECS", "4"),
            ("USERS", "20"),
            ("PORT_BASE", "25260"),
            ("RTP_PORT_MIN", "25300"),
            ("RTP_PORT_MAX", "25700"),
        ],
        Duration::from_secs(300),
    )?;
    // Both loads without a failed call, and the sampler's figures judged.
    contains(&rows, " successful, 0 failed")?;
    contains(&rows, "SIPp exit status 0")?;
    contains(&rows, " failed=0 ")?;
    contains(&rows, "rss_kib ")?;
    contains(&rows, "rtp_sockets ")?;
    // The plot was written where PLOT_DIR says.
    let plots: Vec<_> = std::fs::read_dir(dir.path())
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "svg"))
        .collect();
    let svg = plots
        .first()
        .map(|p| std::fs::read_to_string(p.path()).unwrap_or_default())
        .unwrap_or_default();
    check(svg.contains("<polyline"), || {
        format!("no plot in {}: {svg}", dir.path().display())
    })
}

/// `benches/nodes.sh`: the three set-ups at 5 calls/s for 2 s, every call answered, and the
/// cluster's calls carried by both nodes.
fn nodes() -> Outcome {
    let rows = script(
        "nodes.sh",
        &[
            ("DURATION", "2"),
            ("RATES", "5"),
            ("USERS", "20"),
            ("PORT_BASE", "26160"),
            ("RTP_PORT_MIN", "27000"),
            ("RTP_SPAN", "200"),
        ],
        Duration::from_secs(300),
    )?;
    contains(&rows, "Kamailio + 2 nodes **5** calls/s")?;
    contains(&rows, "1 node direct 5 calls/s (5: 10/0)")?;
    contains(&rows, "Kamailio alone 5 calls/s (5: 10/0)")?;
    contains(&rows, "ok/failed per step: 5: 10/0;")?;
    // "answered calls carried: node A <n>, node B <m>": round robin gives each some.
    let carried = |node: &str| -> Option<u32> {
        let after = rows.split(&format!("node {node} ")).nth(1)?;
        after
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let (a, b) = (carried("A"), carried("B"));
    check(
        matches!((a, b), (Some(a), Some(b)) if a > 0 && b > 0 && a + b == 10),
        || format!("the 10 calls through Kamailio were not spread over both nodes: {rows}"),
    )
}

/// `benches/fanout.rs` with a few events: every event reaches the SSE clients of both nodes.
fn fanout() -> Outcome {
    let pg = std::env::var("ONESTATUS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let report = fanout::run(&pg, 10, 1, Duration::from_millis(20))?;
    println!("    {report:?}");
    check(
        report.events == 10 && report.missed_other == 0 && report.missed_same == 0,
        || format!("events missed: {report:?}"),
    )?;
    for series in [report.other_node, report.same_node, report.api] {
        check(
            series.p50 > Duration::ZERO && series.p50 <= series.p99 && series.p99 <= series.max,
            || format!("figures out of order: {report:?}"),
        )?;
    }
    Ok(())
}

fn main() {
    match std::env::var("BENCH_SMOKE_ROLE").as_deref() {
        Ok("voicemail_load") => return voicemail_load::main(),
        Ok("relay_load") => return relay_load::main(),
        _ => {}
    }
    let tests: [Smoke; 9] = [
        ("routing_decide", routing_decide),
        ("routing_lookup", routing_lookup),
        ("signalling", signalling),
        ("voicemail", voicemail),
        ("post_dial", post_dial),
        ("relay", relay),
        ("soak", soak),
        ("nodes", nodes),
        ("fanout", fanout),
    ];
    // libtest-style arguments: filters, `--list`, and flags (with values) that cargo passes on
    // to every test binary.
    let mut filters = Vec::new();
    let mut list = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => list = true,
            "--test-threads" | "--skip" | "--format" | "--color" | "--logfile" => {
                args.next();
            }
            a if a.starts_with('-') => {}
            a => filters.push(a.to_owned()),
        }
    }
    let selected: Vec<_> = tests
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f)))
        .collect();
    if list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return;
    }
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let start = Instant::now();
        println!("test {name} ...");
        match test() {
            Ok(()) => println!(
                "test {name} ... ok ({:.1} s)",
                start.elapsed().as_secs_f64()
            ),
            Err(e) => {
                println!("test {name} ... FAILED\n{e}");
                failed.push(*name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
