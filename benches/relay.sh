#!/usr/bin/env bash
# Anchored relay benchmark (issue 22 §3): CALLS bridged calls with G.711-sized RTP both ways for
# SECS seconds, 20 ms pacing, relayed by onestatus with calls.media = "anchor":
#   relay_load caller -> onestatus (B2BUA, two relay ports per call) -> relay_load callee
# (every user's device is bound to the generator's UAS port; both ends are benches/relay_load.rs).
# References in the same run, with the same streams:
#   - direct: the same pairs of ends sending to each other (the floor of loopback + generator);
#   - rtpengine (Debian's, userspace forwarding: --table=-1, no kernel module), the calls set up
#     over its ng control protocol by benches/rtpengine_ng.py (offer/answer, as a proxy would).
# Measured at the receiving end (kernel arrival stamps vs the sender's stamp in the payload):
# added jitter |D| p50/p99/max, one-way transit, loss; and the relay's CPU from /proc/<pid>/stat
# over the steady window, as % of a core per 1,000 relayed streams (a call is two streams).
#
# Usage: bash benches/relay.sh          (CALLS=1000 SECS=30 RAMP_MS=2)
# Knobs for the smoke test (tests/bench_smoke.rs): ONESTATUS_BIN and GENERATOR (skip the
# release builds; GENERATOR is a command), RESULTS_FILE, RAISE_UDP_BUFFERS=0, PORT_BASE,
# RTP_PORT_MIN (onestatus's relay ports; the generator's pairs and rtpengine's ports follow),
# RTPENGINE=0 (skip the reference: the row says so), DIRECT=0 (skip the direct floor: the row
# says so; benches/relay_syscalls.sh counts the relays only).
source "$(dirname "$0")/lib.sh"

CALLS="${CALLS:-1000}"
SECS="${SECS:-30}"
RAMP_MS="${RAMP_MS:-2}"
# Below the ephemeral range (32768-60999), where the generator's own sockets come from.
PORT_BASE="${PORT_BASE:-19060}"
SIP_PORT=$PORT_BASE UAS_PORT=$((PORT_BASE + 2)) HTTP_PORT=$((PORT_BASE + 4)) NG_PORT=$((PORT_BASE + 6))
RTP_PORT_MIN="${RTP_PORT_MIN:-20000}"
# onestatus: two even ports per call (4 port numbers); rtpengine: an RTP/RTCP pair per side (4
# ports a call, allocated from a random start: a quarter more so a nearly full range still has
# pairs free). At CALLS=1000 the last port is 31,400, below the ephemeral range.
RTP_PORT_MAX=$((RTP_PORT_MIN + 4 * CALLS + 100))
PAIR_PORT_MIN=$((RTP_PORT_MAX + 100))
RTPE_PORT_MIN=$((PAIR_PORT_MIN + 2 * CALLS + 100))
RTPE_PORT_MAX=$((RTPE_PORT_MIN + 5 * CALLS + 100))
[ "$RTPE_PORT_MAX" -lt 32768 ] || log "warning: ports reach $RTPE_PORT_MAX, into the ephemeral range"

build_release
if [ -z "${GENERATOR:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked --quiet --bench relay_load)
    GENERATOR="$(ls -t "${CARGO_TARGET_DIR:-$ROOT/target}"/release/deps/relay_load-* | grep -v '\.d$' | head -1)"
fi
raise_udp_buffers
# File descriptors: at CALLS=1000 the generator holds 3 sockets per call in `sip` mode (SIP and
# RTP of the caller, RTP of the callee), onestatus 2 per call and rtpengine 4 (RTP and RTCP per
# side), more than the usual soft limit of 1,024. Raised for this shell and its children.
NOFILE=$((4 * CALLS + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$NOFILE" ]; then
    ulimit -n "$NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    [ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$NOFILE" ] ||
        log "warning: open files limited to $(ulimit -n), the run needs about $NOFILE"
fi
# Loopback delivers through the per-core backlog (netdev_max_backlog, 1,000 packets by
# default): at CALLS=1000 the relay takes 100,000 datagrams a second in and sends as many, and
# a scheduling stall of a few ms overflows it, a loss neither relay caused. Raised with the
# UDP buffers (reported in the row), unless RAISE_UDP_BUFFERS=0.
BACKLOG="$(cat /proc/sys/net/core/netdev_max_backlog)"
if [ "${RAISE_UDP_BUFFERS:-1}" != 0 ] && [ "$BACKLOG" -lt 30000 ] &&
    sysctl -q -w net.core.netdev_max_backlog=30000 >/dev/null 2>&1; then
    BACKLOG=30000
fi
UDP_BUFFERS="$UDP_BUFFERS, netdev_max_backlog=$BACKLOG, open files $(ulimit -n)"
CLK_TCK="$(getconf CLK_TCK)"
export CLK_TCK SECS RAMP_MS CALLS

# generate MODE [VAR=value...]: the generator's summary line (failures to $WORK/gen.MODE.err).
generate() {
    local mode="$1"
    shift
    env MODE="$mode" "$@" timeout $((SECS + 120)) $GENERATOR 2>"$WORK/gen.$mode.err" || true
}
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
p99() { sed -n 's/.*added_jitter_us p50=[^ ]* p99=\([^ ]*\).*/\1/p' <<<"$1"; }

RUN_DIRECT="${DIRECT:-1}"
DIRECT="not run (DIRECT=0)"
if [ "$RUN_DIRECT" != 0 ]; then
    log "direct (no relay): $CALLS pairs for ${SECS}s"
    DIRECT="$(generate direct)"
    log "direct: $DIRECT"
fi

log "onestatus: population of $CALLS users bound to the generator's UAS on $UAS_PORT"
mkdir -p "$WORK/data"
ONESTATUS_DATA_DIR="$WORK/data" "$ONESTATUS" org populate --code 400 --users "$CALLS" \
    --static-contact "127.0.0.1:$UAS_PORT" 2>"$WORK/populate.log" | cut -d';' -f1 >"$WORK/numbers.txt"
ONESTATUS_CALLS_MEDIA=anchor ONESTATUS_RTP_PORT_MIN=$RTP_PORT_MIN ONESTATUS_RTP_PORT_MAX=$RTP_PORT_MAX \
    start_onestatus "$SIP_PORT" "$HTTP_PORT"
sleep 1
log "onestatus: $CALLS anchored calls for ${SECS}s"
ONESTATUS_ROW="$(generate sip SERVER="127.0.0.1:$SIP_PORT" UAS_PORT="$UAS_PORT" \
    NUMBERS="$WORK/numbers.txt" RELAY_PID="$ONESTATUS_PID")"
log "onestatus: $ONESTATUS_ROW"
kill "$ONESTATUS_PID" 2>/dev/null || true
wait "$ONESTATUS_PID" 2>/dev/null || true

RTPE_ROW="not run (RTPENGINE=0)"
if [ "${RTPENGINE:-1}" != 0 ]; then
    command -v rtpengine >/dev/null || { log "rtpengine is not installed (apt-get install -y rtpengine)"; exit 1; }
    # Userspace only (--table=-1), no config file, one worker thread per core like onestatus's
    # runtime; logs on stderr at warning level.
    rtpengine --config-file=none --foreground --log-stderr --table=-1 --interface=127.0.0.1 \
        --listen-ng="127.0.0.1:$NG_PORT" --port-min="$RTPE_PORT_MIN" --port-max="$RTPE_PORT_MAX" \
        --num-threads="$(nproc)" --log-level=4 >"$WORK/rtpengine.log" 2>&1 &
    RTPE_PID=$!
    PIDS+=("$RTPE_PID")
    wait_udp "$NG_PORT"
    python3 "$BENCH_DIR/rtpengine_ng.py" offer "127.0.0.1:$NG_PORT" "$CALLS" "$PAIR_PORT_MIN" \
        >"$WORK/pairs.txt"
    log "rtpengine $(rtpengine --version 2>&1 | awk '{print $2}'): $CALLS calls for ${SECS}s"
    RTPE_ROW="$(generate pairs PAIRS="$WORK/pairs.txt" RELAY_PID="$RTPE_PID")"
    log "rtpengine: $RTPE_ROW"
    python3 "$BENCH_DIR/rtpengine_ng.py" delete "127.0.0.1:$NG_PORT" "$CALLS" || true
    kill "$RTPE_PID" 2>/dev/null || true
fi

# Added jitter: p99 through the relay beside the direct floor's p99.
SUMMARY="onestatus: $(field cpu_pct_per_1000_streams "$ONESTATUS_ROW")% of a core per 1,000 streams, jitter p99 $(p99 "$ONESTATUS_ROW") µs, lost $(field lost "$ONESTATUS_ROW")"
if [ "${RTPENGINE:-1}" != 0 ]; then
    SUMMARY="$SUMMARY; rtpengine: $(field cpu_pct_per_1000_streams "$RTPE_ROW")% per 1,000 streams, jitter p99 $(p99 "$RTPE_ROW") µs, lost $(field lost "$RTPE_ROW")"
fi
if [ "$RUN_DIRECT" != 0 ]; then
    SUMMARY="$SUMMARY; direct floor jitter p99 $(p99 "$DIRECT") µs"
fi
log "$SUMMARY"
append_result "| $(date -u +%Y-%m-%d) | $(commit) | $(machine) | \`bash benches/relay.sh\` CALLS=$CALLS SECS=$SECS | **$SUMMARY**. onestatus (calls.media = anchor): $ONESTATUS_ROW | rtpengine $(rtpengine --version 2>&1 | awk '{print $2}') userspace: $RTPE_ROW; direct (no relay): $DIRECT | load: $(uptime | sed 's/.*load average/load average/'); UDP buffers: $UDP_BUFFERS |"
