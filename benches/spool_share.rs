//! What mirroring recordings to the store costs (issue #20, `cluster::spool_share`): with
//! several nodes on PostgreSQL every recording in progress is also written to the store, a
//! chunk row per second of audio, so that a survivor can store it if the node dies.
//!
//! Measured against a real PostgreSQL (`ONESTATUS_BENCH_PG`, default
//! `postgres://postgres@127.0.0.1:5432`; a fresh database, dropped after):
//! - `CALLS` recordings (default 100) each writing one second of audio (8,000 samples,
//!   16,000 bytes) a second for `SECONDS` (default 20), as the mirror does: store writes per
//!   second, chunk insert latency p50/p99/max, bytes per call in the table, and the CPU time
//!   of this process (the node's side) and of the PostgreSQL server processes over the run;
//! - the deposit's save: storing a 30 s message alone, and with the mirror's extra work (the
//!   recording's rows deleted after it), p50/p99 over `SAVES` (default 30) saves.
//! - an answered call's dialogs (`cluster::dialog_share`): the write at the answer and the
//!   delete at the end, p50/p99 over `SAVES` × 10 calls one after the other.
//!
//! `cargo bench --bench spool_share`; figures in `benches/RESULTS.md`.
// A benchmark measures wall-clock time: that is its point.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use onestatus::domain::model::NewVoicemail;
use onestatus::store::{RecordingChunk, SharedRecording, Store};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time (user + system, seconds) of the processes whose `comm` is `name`, or of this one.
fn cpu_seconds(name: Option<&str>) -> f64 {
    let ticks = 100.0; // CLK_TCK on Linux
    let stat = |path: std::path::PathBuf| -> Option<(String, f64)> {
        let text = std::fs::read_to_string(path).ok()?;
        let open = text.find('(')?;
        let close = text.rfind(')')?;
        let comm = text[open + 1..close].to_owned();
        let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((comm, (utime + stime) / ticks))
    };
    match name {
        None => stat("/proc/self/stat".into()).map_or(0.0, |(_, s)| s),
        Some(name) => std::fs::read_dir("/proc")
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| stat(e.path().join("stat")))
                    .filter(|(comm, _)| comm == name)
                    .map(|(_, s)| s)
                    .sum()
            })
            .unwrap_or(0.0),
    }
}

async fn admin(admin: &str, sql: &str) {
    use sqlx::{Connection, Executor};
    let mut connection = sqlx::PgConnection::connect(&format!("{admin}/postgres"))
        .await
        .expect("PostgreSQL must be reachable (ONESTATUS_BENCH_PG)");
    connection.execute(sql).await.expect("admin statement");
}

#[tokio::main]
async fn main() {
    let calls = env("CALLS", 100) as usize;
    let seconds = env("SECONDS", 20);
    let saves = env("SAVES", 30) as usize;
    let server = std::env::var("ONESTATUS_BENCH_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!("onestatus_bench_spool_{}", std::process::id());
    admin(&server, &format!("CREATE DATABASE {name}")).await;
    let store = Store::connect(&format!("{server}/{name}")).await.unwrap();
    onestatus::store::demo::seed(&store).await.unwrap();
    let user = store.user_by_local_number("1000001").await.unwrap().id;
    let received_at = chrono::Utc::now();

    // The load: every call writes a second of audio a second, as the mirror does.
    let audio: Vec<u8> = (0..8000i16)
        .flat_map(|s| (s % 2000).to_le_bytes())
        .collect();
    let (cpu_self, cpu_pg) = (cpu_seconds(None), cpu_seconds(Some("postgres")));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for call in 0..calls {
        let store = store.clone();
        let audio = audio.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("bench-{call}");
            let recording = SharedRecording {
                id: id.clone(),
                node_id: "bench".into(),
                call_id: format!("call-{call}"),
                user_id: user.0,
                caller_number: Some("4512345678".into()),
                caller_name: None,
                received_at,
                format: SharedRecording::PCM.into(),
            };
            store
                .shared_recording_begin(&recording, received_at)
                .await
                .unwrap();
            // Spread the calls over the second, as real calls are.
            tokio::time::sleep(Duration::from_millis(
                (call as u64 * 1000) / calls as u64 + 1,
            ))
            .await;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut latencies = Vec::new();
            for seq in 0..seconds as i64 {
                tick.tick().await;
                let chunk = RecordingChunk {
                    seq,
                    offset_samples: seq * 8000,
                    audio: audio.clone(),
                };
                let at = Instant::now();
                store.shared_recording_chunk(&id, &chunk).await.unwrap();
                latencies.push(at.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    let (cpu_self, cpu_pg) = (
        cpu_seconds(None) - cpu_self,
        cpu_seconds(Some("postgres")) - cpu_pg,
    );
    latencies.sort();
    let writes = latencies.len() as f64 / elapsed.as_secs_f64();
    let bytes: i64 = {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect(&format!("{server}/{name}"))
            .await
            .unwrap();
        let (n,): (i64,) = sqlx::query_as(
            "SELECT pg_total_relation_size('cluster_recording_chunks') \
             + pg_total_relation_size('cluster_recordings')",
        )
        .fetch_one(&mut connection)
        .await
        .unwrap();
        n
    };
    println!(
        "mirror: calls={calls} seconds={seconds} chunks={} writes_per_s={writes:.1} \
         chunk_insert_ms p50={:.2} p99={:.2} max={:.2} table_bytes_per_call={} \
         audio_bytes_per_call={} cpu_bench_s={cpu_self:.2} cpu_postgres_s={cpu_pg:.2} \
         cpu_per_call_second_us={:.0}",
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0)),
        bytes / calls.max(1) as i64,
        seconds * 16_000,
        (cpu_self + cpu_pg) * 1e6 / (calls as f64 * seconds as f64).max(1.0),
    );

    // The deposit's save of a 30 s message, alone and with the mirror's clean-up.
    let message = NewVoicemail {
        user_id: user,
        caller_number: Some("4512345678".into()),
        caller_name: None,
        received_at,
        duration_ms: 30_000,
        audio: onestatus::media::decode::wav_bytes(&vec![300i16; 240_000]).unwrap(),
    };
    let mut alone = Vec::new();
    let mut mirrored = Vec::new();
    for n in 0..saves {
        let at = Instant::now();
        store.voicemail_insert(&message).await.unwrap();
        alone.push(at.elapsed());
        let at = Instant::now();
        store.voicemail_insert(&message).await.unwrap();
        store
            .shared_recording_remove(&format!("bench-{}", n % calls.max(1)))
            .await
            .unwrap();
        mirrored.push(at.elapsed());
    }
    alone.sort();
    mirrored.sort();
    println!(
        "save 30 s message: alone p50={:.2} p99={:.2} ms; with the mirror's delete p50={:.2} \
         p99={:.2} ms",
        ms(percentile(&alone, 0.5)),
        ms(percentile(&alone, 0.99)),
        ms(percentile(&mirrored, 0.5)),
        ms(percentile(&mirrored, 0.99)),
    );

    // An answered call's dialogs: one write at the answer, one delete at the end.
    let state = r#"{"legs":[{"uac":false,"call_id":"c","local_tag":"t","remote_tag":"r","local_uri":"<sip:1@h>","remote_uri":"<sip:2@h>","local_cseq":null,"remote_cseq":1,"remote_target":"sip:2@10.0.0.2:5060","route_set":[],"destination":"10.0.0.2:5060","tcp":false},{"uac":true,"call_id":"d","local_tag":"t2","remote_tag":"r2","local_uri":"<sip:2@h>","remote_uri":"<sip:1@h>","local_cseq":1,"remote_cseq":null,"remote_target":"sip:1@10.0.0.3:5060","route_set":[],"destination":"10.0.0.3:5060","tcp":false}],"history":[{"user_id":1,"direction":"in","other_number":"4512345678","other_name":null,"started_at":"2026-12-07T00:00:00Z","answered_at":"2026-12-07T00:00:01Z","route":"interrupted"}]}"#;
    let mut puts = Vec::new();
    let mut removes = Vec::new();
    for n in 0..saves * 10 {
        let call_id = format!("call-{n}");
        let at = Instant::now();
        store
            .shared_dialog_put("bench", &call_id, state, received_at)
            .await
            .unwrap();
        puts.push(at.elapsed());
        let at = Instant::now();
        store.shared_dialog_remove("bench", &call_id).await.unwrap();
        removes.push(at.elapsed());
    }
    puts.sort();
    removes.sort();
    println!(
        "answered call's dialogs ({} bytes): put p50={:.2} p99={:.2} ms, delete p50={:.2} \
         p99={:.2} ms",
        state.len(),
        ms(percentile(&puts, 0.5)),
        ms(percentile(&puts, 0.99)),
        ms(percentile(&removes, 0.5)),
        ms(percentile(&removes, 0.99)),
    );
    store.close().await;
    admin(
        &server,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
}
