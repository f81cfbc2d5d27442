#!/usr/bin/env bash
# Media benchmark: N simultaneous callers routed to OneVoicemail, each receiving the stitched
# greeting and leaving SPEECH_SECS of G.711 that is recorded. For each N of CURVE: outbound RTP
# pacing error (|arrival interval - 20 ms|) p50/p99/max, lost packets, post-dial delay to first
# audio, recordings stored with the right duration, server CPU and RSS per call.
# Reference in the same run: the generator's own floor, the same measurement for N=1.
#
# Usage: bash benches/voicemail.sh          (CURVE="1 50 200 500 1000 2000" SPEECH_SECS=30)
# Knobs for the smoke test (tests/bench_smoke.rs): ONESTATUS_BIN and GENERATOR (skip the
# release builds; GENERATOR is a command), RESULTS_FILE, RAISE_UDP_BUFFERS=0, PORT_BASE,
# RTP_PORT_MIN.
source "$(dirname "$0")/lib.sh"

CURVE="${CURVE:-1 50 200 500 1000 2000}"
SPEECH_SECS="${SPEECH_SECS:-30}"
PORT_BASE="${PORT_BASE:-26060}"
SIP_PORT=$PORT_BASE HTTP_PORT=$((PORT_BASE + 3020))
RTP_PORT_MIN="${RTP_PORT_MIN:-30000}"
MAX_N=0
for n in $CURVE; do [ "$n" -gt "$MAX_N" ] && MAX_N=$n; done

build_release
if [ -z "${GENERATOR:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked --quiet --bench voicemail_load)
    GENERATOR="$(ls -t "${CARGO_TARGET_DIR:-$ROOT/target}"/release/deps/voicemail_load-* | grep -v '\.d$' | head -1)"
fi
raise_udp_buffers

mkdir -p "$WORK/data"
ONESTATUS_DATA_DIR="$WORK/data" "$ONESTATUS" org populate --code 300 --users "$MAX_N" \
    | cut -d';' -f1 >"$WORK/numbers.txt"
export ONESTATUS_RTP_PORT_MIN=$RTP_PORT_MIN ONESTATUS_RTP_PORT_MAX=$((RTP_PORT_MIN + 4 * MAX_N + 100))
start_onestatus "$SIP_PORT" "$HTTP_PORT"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$ONESTATUS_PID/stat"; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$ONESTATUS_PID/status"; }

for n in $CURVE; do
    base_rss="$(rss_kib)"
    ticks0="$(cpu_ticks)"
    started="$(date +%s%3N)"
    peak_rss="$base_rss"
    (while sleep 1; do r="$(rss_kib)"; echo "$r"; done) >"$WORK/rss.$n" &
    SAMPLER=$!
    out="$(SERVER=127.0.0.1:$SIP_PORT NUMBERS="$WORK/numbers.txt" CALLS="$n" SPEECH_SECS="$SPEECH_SECS" \
        RAMP_MS="${RAMP_MS:-2}" timeout $((SPEECH_SECS + 180)) $GENERATOR 2>"$WORK/gen.$n.err" || true)"
    kill "$SAMPLER" 2>/dev/null || true
    elapsed_ms=$(( $(date +%s%3N) - started ))
    ticks1="$(cpu_ticks)"
    peak_rss="$(sort -n "$WORK/rss.$n" | tail -1)"
    # Saves queue (a few at once, one SQLite writer): wait until this step's N messages are
    # stored, or the count has not grown for 5 s, at most 120 s, before counting them.
    count_stored() {
        python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from voicemail_messages where received_at >= ?", (int(sys.argv[2]),)).fetchone()[0])' \
            "$WORK/data/onestatus.db" "$started" 2>/dev/null || echo 0
    }
    sleep 2
    last=-1 still=0
    for _ in $(seq 120); do
        now_stored="$(count_stored)"
        [ "$now_stored" -ge "$n" ] && break
        if [ "$now_stored" = "$last" ]; then still=$((still + 1)); else still=0; fi
        [ "$still" -ge 5 ] && break
        last="$now_stored"
        sleep 1
    done
    # Recordings of this step: stored messages whose duration is within 1 s of SPEECH_SECS.
    stored="$(python3 - "$WORK/data/onestatus.db" "$started" "$SPEECH_SECS" <<'PY'
import sqlite3, sys
db, since, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db)
rows = c.execute("select duration_ms from voicemail_messages where received_at >= ?", (since,)).fetchall()
ok = sum(1 for (d,) in rows if abs(d - secs * 1000) <= 1000)
print(f"{len(rows)} stored, {ok} with the right duration")
PY
)"
    # A call that left no message is named, with what the server logged about it (the
    # generator calls from "load<i>", Call-ID "vmload-<i>-<pid>@bench"): BENCH_LOG=info gives
    # the IVR's view (recording ended, speech heard, why it was not kept).
    missing="$(python3 - "$WORK/data/onestatus.db" "$started" "$n" <<'PY'
import sqlite3, sys
db, since, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db)
got = {r[0] for r in c.execute("select caller_number from voicemail_messages where received_at >= ?", (since,))}
print(" ".join(f"load{i}" for i in range(n) if f"load{i}" not in got))
PY
)"
    if [ -n "$missing" ]; then
        log "N=$n: no message from: $(echo "$missing" | cut -d' ' -f1-20)"
        for caller in $(echo "$missing" | cut -d' ' -f1-3); do
            log "  server log of ${caller}'s call:"
            grep -F "vmload-${caller#load}-" "$WORK/onestatus.log" | cut -c1-300 >&2 || true
            grep -F "call $((${caller#load})):" "$WORK/gen.$n.err" >&2 || true
        done
        stored="$stored (none from $(echo "$missing" | wc -w) calls: $(echo "$missing" | cut -d' ' -f1-5))"
    fi
    hz="$(getconf CLK_TCK)"
    cpu_pct="$(awk -v t=$((ticks1 - ticks0)) -v hz="$hz" -v ms="$elapsed_ms" 'BEGIN{printf "%.0f", 100*t/hz/(ms/1000)}')"
    per_call="$(awk -v p="${peak_rss:-0}" -v b="$base_rss" -v n="$n" 'BEGIN{printf "%.0f", (p-b)/n}')"
    log "N=$n: $out; $stored; CPU ${cpu_pct}% of one core; RSS +${per_call} KiB/call"
    append_result "| $(date -u +%Y-%m-%d) | $(commit) | $(machine) | \`bash benches/voicemail.sh\` N=$n, ${SPEECH_SECS}s speech | $out; recordings: $stored; server CPU ${cpu_pct}% of one core; RSS +${per_call} KiB per call | N=1 row of the same run is the floor | UDP buffers: $UDP_BUFFERS |"
    sleep 3
done
