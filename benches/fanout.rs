//! Event fan-out between nodes (issue #20): how long a presence event takes from one node's
//! HTTP API to a live-event (SSE) client of another node, carried by PostgreSQL
//! `LISTEN`/`NOTIFY` (`cluster::presence_share`). Not a timed test: the figures go to
//! `benches/RESULTS.md`. Target (issue #20): p99 < 100 ms.
//!
//! Two `onestatus serve --demo` nodes on one fresh PostgreSQL database (`PG`, default
//! `postgres://postgres@127.0.0.1:5432`, trust auth; dropped at the end). Karen (1000002)
//! follows `GET /api/v1/events` on both nodes. Hans (1000001) presses "open my phone"
//! (`POST /api/v1/me/open-phone`) on node A, `EVENTS` times (default 200) one after the other,
//! `GAP_MS` (default 20) apart; each press publishes an `availability` event of Hans. Measured
//! from just before the request is written to when the event's `data:` line is read:
//!
//! - by node B's client: the fan-out (A's handler, `NOTIFY`, B's listener, B's stream);
//! - by node A's client: the same event on the node that made it, the reference in the same run;
//! - A's HTTP answer, for scale.
//!
//! p50/p99/max of each, after `WARMUP` (default 3) unrecorded presses; an event not heard
//! within 10 s counts as missed.
//!
//! Run: `cargo bench --bench fanout` (`EVENTS`, `GAP_MS`, `WARMUP`, `PG`; `RESULTS_FILE` writes
//! the row elsewhere). `tests/bench_smoke.rs` runs [`run`] with a few events.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time by definition

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::TestServer;

/// How long one event may take before it counts as missed.
const HEARD_WITHIN: Duration = Duration::from_secs(10);

/// p50, p99 and max of one series.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Latencies {
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
}

impl Latencies {
    fn of(mut samples: Vec<Duration>) -> Latencies {
        samples.sort();
        // Nearest rank, as benches/lib.sh's `percentile`.
        let at = |p: f64| -> Duration {
            let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            samples
                .get(rank.clamp(1, samples.len().max(1)) - 1)
                .copied()
                .unwrap_or_default()
        };
        Latencies {
            p50: at(50.0),
            p99: at(99.0),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "p50 {:.1} ms / p99 {:.1} ms / max {:.1} ms",
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        )
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Report {
    /// Presses recorded (after the warm-up).
    pub(crate) events: usize,
    /// Node A's API → node B's SSE client, over the events B heard.
    pub(crate) other_node: Latencies,
    /// Node A's API → node A's own SSE client.
    pub(crate) same_node: Latencies,
    /// Node A's HTTP answer.
    pub(crate) api: Latencies,
    /// Events node B's client did not hear within [`HEARD_WITHIN`].
    pub(crate) missed_other: usize,
    /// Events node A's client did not hear within [`HEARD_WITHIN`].
    pub(crate) missed_same: usize,
}

/// A fresh PostgreSQL database, dropped with the value.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn create(admin: &str) -> Result<Database, String> {
        let name = format!(
            "onestatus_bench_fanout_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        admin_sql(admin, &format!("CREATE DATABASE {name}"))?;
        Ok(Database {
            admin: admin.to_owned(),
            url: format!("{admin}/{name}"),
            name,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = admin_sql(&self.admin, &sql) {
            eprintln!("fanout: {e}");
        }
    }
}

fn admin_sql(admin: &str, sql: &str) -> Result<(), String> {
    use sqlx::{Connection, Executor};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut connection = sqlx::PgConnection::connect(&format!("{admin}/postgres"))
            .await
            .map_err(|e| format!("PostgreSQL at {admin} is needed: {e}"))?;
        connection
            .execute(sql)
            .await
            .map_err(|e| format!("{sql}: {e}"))?;
        Ok(())
    })
}

/// A node on `db` with the node id `id`; the first one seeds the demo organisation.
fn node(db: &Database, id: &str) -> TestServer {
    TestServer::start_with(
        &["serve", "--demo"],
        &[
            ("ONESTATUS_DATABASE_URL", db.url.as_str()),
            ("ONESTATUS_CLUSTER_NODE_ID", id),
            ("ONESTATUS_SIP_NONCE_SECRET", "store"),
            // The start-up line is all the harness reads; per-request lines would only cost.
            ("RUST_LOG", "info,sqlx=warn,onestatus::access=warn"),
        ],
    )
}

/// Logs in as the demo user `local_number`: (token, user id).
fn login(http: SocketAddr, local_number: &str) -> Result<(String, i64), String> {
    let body = serde_json::json!({ "local_number": local_number, "pin": "2580" });
    let (status, reply) = support::http_json(http, "POST", "/api/v1/login", None, Some(body));
    let token = reply["token"]
        .as_str()
        .filter(|_| status == 200)
        .ok_or_else(|| format!("login of {local_number} on {http}: {status} {reply}"))?
        .to_owned();
    let (status, me) = support::http_json(http, "GET", "/api/v1/me", Some(&token), None);
    let id = me["id"]
        .as_i64()
        .filter(|_| status == 200)
        .ok_or_else(|| format!("GET /api/v1/me on {http}: {status} {me}"))?;
    Ok((token, id))
}

/// Opens `GET /api/v1/events` on `http` as `token`; every `data:` line with the instant it was
/// read, once the stream's `ready` event has come.
fn follow(http: SocketAddr, token: &str) -> Result<mpsc::Receiver<(Instant, String)>, String> {
    let mut stream = std::net::TcpStream::connect(http).map_err(|e| format!("{http}: {e}"))?;
    // HTTP/1.0: the stream is not chunked, so every line read is a line of the event stream.
    write!(
        stream,
        "GET /api/v1/events HTTP/1.0\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\
         Accept: text/event-stream\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel();
    // Ends when the node closes the stream (it is killed at the end of the run) or nobody
    // listens any more.
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data:") {
                if tx.send((Instant::now(), data.trim().to_owned())).is_err() {
                    break;
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| format!("no ready event on {http}'s live-event stream"))?;
    Ok(rx)
}

/// When `events` carried the availability event of `user`, waiting until `deadline`.
fn heard(
    events: &mpsc::Receiver<(Instant, String)>,
    user: i64,
    deadline: Instant,
) -> Option<Instant> {
    while let Ok((at, data)) =
        events.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        let event: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
        if event["type"] == "availability" && event["user_id"] == user {
            return Some(at);
        }
    }
    None
}

/// Two nodes on a fresh database on `pg`; `warmup` unrecorded presses, then `events` recorded
/// ones, `gap` apart.
pub(crate) fn run(pg: &str, events: usize, warmup: usize, gap: Duration) -> Result<Report, String> {
    let db = Database::create(pg)?;
    // One after the other: the first runs the migrations and seeds the demo organisation.
    let a = node(&db, "node-a");
    let b = node(&db, "node-b");
    let (hans, hans_id) = login(a.http, "1000001")?;
    let (karen_b, _) = login(b.http, "1000002")?;
    let (karen_a, _) = login(a.http, "1000002")?;
    let on_b = follow(b.http, &karen_b)?;
    let on_a = follow(a.http, &karen_a)?;

    let (mut other, mut same, mut api) = (Vec::new(), Vec::new(), Vec::new());
    let (mut missed_other, mut missed_same) = (0, 0);
    for press in 0..warmup + events {
        // Whatever came late for an earlier press is not this one's.
        while on_b.try_recv().is_ok() {}
        while on_a.try_recv().is_ok() {}
        let start = Instant::now();
        let (status, reply) =
            support::http_json(a.http, "POST", "/api/v1/me/open-phone", Some(&hans), None);
        let answered = start.elapsed();
        if status != 200 {
            return Err(format!("POST /api/v1/me/open-phone: {status} {reply}"));
        }
        let deadline = start + HEARD_WITHIN;
        let at_b = heard(&on_b, hans_id, deadline);
        let at_a = heard(&on_a, hans_id, deadline);
        if press >= warmup {
            api.push(answered);
            match at_b {
                Some(at) => other.push(at - start),
                None => missed_other += 1,
            }
            match at_a {
                Some(at) => same.push(at - start),
                None => missed_same += 1,
            }
        }
        std::thread::sleep(gap);
    }
    Ok(Report {
        events,
        other_node: Latencies::of(other),
        same_node: Latencies::of(same),
        api: Latencies::of(api),
        missed_other,
        missed_same,
    })
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// "2 cores, 23 GiB, <CPU>", as benches/lib.sh's `machine`.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let gib = memory
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024 / 1024);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, v)| v.trim());
    format!("{cores} cores, {gib} GiB, {cpu}")
}

fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".into(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}

fn main() {
    let pg: String = env("PG", "postgres://postgres@127.0.0.1:5432".to_owned());
    let events = env("EVENTS", 200);
    let warmup = env("WARMUP", 3);
    let gap = Duration::from_millis(env("GAP_MS", 20));
    let load_before = load_average();
    let report = match run(&pg, events, warmup, gap) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("fanout: {e}");
            std::process::exit(1);
        }
    };
    let row = format!(
        "| {} | {} | {} | `cargo bench --bench fanout` (EVENTS={events}, GAP_MS={}, WARMUP={warmup}; \
         2 nodes, one PostgreSQL database{}) | node A's API → node B's SSE client: **{}**, {} of {} \
         missed | node A's own SSE client (same run): {}, {} missed; A's HTTP answer {} | target p99 < \
         100 ms (issue #20); load average before {load_before}, after {} |",
        chrono::Utc::now().format("%Y-%m-%d"),
        commit(),
        machine(),
        gap.as_millis(),
        // `--profile dev` (no release build) measures an unoptimised server: say so.
        if cfg!(debug_assertions) {
            "; **debug build**"
        } else {
            ""
        },
        report.other_node,
        report.missed_other,
        report.events,
        report.same_node,
        report.missed_same,
        report.api,
        load_average(),
    );
    println!("{row}");
    let results = std::env::var("RESULTS_FILE")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/benches/RESULTS.md").to_owned());
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&results)
        .and_then(|mut f| writeln!(f, "{row}"));
    if let Err(e) = appended {
        eprintln!("fanout: cannot append to {results}: {e}");
        std::process::exit(1);
    }
}
