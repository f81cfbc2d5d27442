# Shared helpers for the benchmark scripts (sourced). Everything runs on 127.0.0.1 and every
# load is bounded by a call count and a timeout.

set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
# RESULTS_FILE: where the row goes (the smoke tests point it at a temporary file, so a smoke
# run never touches RESULTS.md).
RESULTS="${RESULTS_FILE:-$BENCH_DIR/RESULTS.md}"
WORK="$(mktemp -d /tmp/onestatus-bench.XXXXXX)"
PIDS=()

# Stops what this run started; keeps $WORK (logs, SIPp traces) only when the run failed or
# KEEP_WORK=1 asks for it.
cleanup() {
    local status=$?
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    pkill -f "sipp.*$WORK" 2>/dev/null || true
    wait 2>/dev/null || true
    if [ "$status" = 0 ] && [ "${KEEP_WORK:-0}" != 1 ]; then
        rm -rf "$WORK"
    else
        log "logs kept in $WORK"
    fi
}
trap cleanup EXIT

log() { echo "[bench] $*" >&2; }

# The binary under test: ONESTATUS_BIN when given (the smoke tests pass the debug binary they
# already built), else a fresh release build in CARGO_TARGET_DIR (or target/).
build_release() {
    if [ -n "${ONESTATUS_BIN:-}" ]; then
        ONESTATUS="$ONESTATUS_BIN"
        # onestatus reads every ONESTATUS_* variable as configuration and refuses unknown keys.
        unset ONESTATUS_BIN
        log "binary under test: $ONESTATUS (ONESTATUS_BIN)"
        return
    fi
    log "building the release binary"
    (cd "$ROOT" && cargo build --release --locked --quiet)
    ONESTATUS="${CARGO_TARGET_DIR:-$ROOT/target}/release/onestatus"
}

machine() {
    local cpu
    cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, ${cpu:-unknown CPU}"
}

commit() { (cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null) || echo unknown; }

# Larger socket buffers so loopback bursts are not dropped in the kernel; reported in results.
# RAISE_UDP_BUFFERS=0 leaves the machine's settings alone (the smoke tests: a few calls).
raise_udp_buffers() {
    if [ "${RAISE_UDP_BUFFERS:-1}" = 0 ]; then
        UDP_BUFFERS="kernel default, not raised ($(cat /proc/sys/net/core/rmem_default) bytes)"
    elif sysctl -q -w net.core.rmem_max=26214400 net.core.rmem_default=26214400 \
        net.core.wmem_max=26214400 >/dev/null 2>&1; then
        UDP_BUFFERS="rmem_default=rmem_max=25 MiB"
    else
        UDP_BUFFERS="kernel default (sysctl not permitted here: $(cat /proc/sys/net/core/rmem_default) bytes)"
    fi
    log "UDP buffers: $UDP_BUFFERS"
}

# wait_udp PORT: until something listens on 127.0.0.1:PORT/udp (bounded).
wait_udp() {
    for _ in $(seq 1 100); do
        # grep reads all of ss's output: with -q it would exit early, ss would die of SIGPIPE
        # and pipefail would call the port closed (it did, once SIPp held many sockets).
        if ss -lun | grep "127.0.0.1:$1 " >/dev/null; then return 0; fi
        sleep 0.1
    done
    log "nothing listens on udp/$1"
    return 1
}

# start_onestatus SIP_PORT HTTP_PORT: serve on a fresh SQLite store in $WORK/data.
# Every load generator sends from 127.0.0.1, so the per-source SIP request limit
# ([security] sip_requests_per_sec) is off: the benches measure capacity, not the limiter.
start_onestatus() {
    ONESTATUS_SECURITY_SIP_REQUESTS_PER_SEC=0 \
    ONESTATUS_DATA_DIR="$WORK/data" ONESTATUS_SIP_LISTEN="[\"127.0.0.1:$1\"]" \
        ONESTATUS_HTTP_LISTEN="127.0.0.1:$2" ONESTATUS_SIP_DIGEST_ALGORITHMS='["MD5"]' \
        RUST_LOG="${BENCH_LOG:-warn}" "$ONESTATUS" serve >"$WORK/onestatus.log" 2>&1 &
    PIDS+=($!)
    ONESTATUS_PID=$!
    wait_udp "$1"
}

# percentile FILE P: the P-th percentile (0-100) of the numbers in FILE, one per line.
percentile() {
    sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {if (NR==0) {print "n/a"; exit}
        i=int((p/100)*NR+0.999999); if (i<1) i=1; if (i>NR) i=NR; print a[i]}'
}

append_result() {
    if [ ! -f "$RESULTS" ]; then
        printf '# Benchmark results\n\nEach run appends a row; see README.md for the commands.\n' >"$RESULTS"
    fi
    printf '%s\n' "$1" >>"$RESULTS"
}

# start_sipp_uas PORT: SIPp answering every call (benches/sipp/uas_answer.xml) on
# 127.0.0.1:PORT, in the background; its pid in SIPP_UAS_PID (and in PIDS, for cleanup).
start_sipp_uas() {
    log "starting the SIPp UAS on $1"
    sipp -sf "$BENCH_DIR/sipp/uas_answer.xml" -i 127.0.0.1 -p "$1" -bg -nostdin \
        -buff_size 8388608 -max_socket 4096 >"$WORK/uas.log" 2>&1 || true  # -bg: the parent exits 99
    sleep 0.5
    SIPP_UAS_PID="$(pgrep -f "sipp -sf $BENCH_DIR/sipp/uas_answer.xml -i 127.0.0.1 -p $1 " | head -1 || true)"
    [ -n "$SIPP_UAS_PID" ] || { log "the SIPp UAS did not start: $(cat "$WORK/uas.log")"; exit 1; }
    PIDS+=("$SIPP_UAS_PID")
}
