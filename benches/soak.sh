#!/usr/bin/env bash
# Endurance (issue 22 §5): DURATION seconds (default 30 min) of two loads at once on one server:
#   - basic calls at RATE calls/s (half the measured signalling maximum; default 750, half of
#     the 1,500 of issue 22): SIPp UAC -> onestatus -> SIPp UAS, INVITE/180/200/ACK, 1 s, BYE,
#     media anchored (two relay ports per call, no RTP sent), as in benches/signalling.sh;
#   - VM_CONCURRENT voicemail calls up at any time (default 200), each leaving SPEECH_SECS of
#     G.711 (benches/voicemail_load.rs in its soak mode: each caller calls again as soon as its
#     last call ended).
# Every SAMPLE_SECS (10) benches/soak.py samples the server: RSS, file descriptors, threads, CPU,
# its UDP sockets in the RTP range (/proc), and transactions and relays from GET /metrics when
# the server exposes such series. At the end: a plot (SVG, next to the results file under
# plots/), the check that every curve is flat after WARMUP_SECS (60) and the failed calls of
# both loads (0 expected); the row records both.
#
# Usage: bash benches/soak.sh               (DURATION=1800 RATE=750 VM_CONCURRENT=200)
# Knobs for the smoke test (tests/bench_smoke.rs): ONESTATUS_BIN and GENERATOR (skip the
# release builds), RESULTS_FILE, RAISE_UDP_BUFFERS=0,
# PORT_BASE, RTP_PORT_MIN, RTP_PORT_MAX, SAMPLE_SECS, WARMUP_SECS, USERS, PLOT_DIR (where
# the plot and the samples go; default plots/ beside the results file).
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-1800}"
RATE="${RATE:-750}"
VM_CONCURRENT="${VM_CONCURRENT:-200}"
SPEECH_SECS="${SPEECH_SECS:-20}"
SAMPLE_SECS="${SAMPLE_SECS:-10}"
WARMUP_SECS="${WARMUP_SECS:-60}"
USERS="${USERS:-3000}"
PORT_BASE="${PORT_BASE:-17060}"
SIP_PORT=$PORT_BASE UAS_PORT=$((PORT_BASE + 2)) UAC_PORT=$((PORT_BASE + 4)) HTTP_PORT=$((PORT_BASE + 6))
RTP_PORT_MIN="${RTP_PORT_MIN:-20000}"
RTP_PORT_MAX="${RTP_PORT_MAX:-$((RTP_PORT_MIN + 12000 > 32700 ? 32700 : RTP_PORT_MIN + 12000))}"
PLOT_DIR="${PLOT_DIR:-$(dirname "$RESULTS")/plots}"

build_release
if [ -z "${GENERATOR:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked --quiet --bench voicemail_load)
    GENERATOR="$(ls -t "${CARGO_TARGET_DIR:-$ROOT/target}"/release/deps/voicemail_load-* | grep -v '\.d$' | head -1)"
fi
raise_udp_buffers

log "population: $USERS users ringing the SIPp UAS, $VM_CONCURRENT without phones (voicemail)"
mkdir -p "$WORK/data"
ONESTATUS_DATA_DIR="$WORK/data" "$ONESTATUS" org populate --code 200 --users "$USERS" \
    --static-contact "127.0.0.1:$UAS_PORT" >"$WORK/pop.body" 2>"$WORK/populate.log"
{ echo SEQUENTIAL; cat "$WORK/pop.body"; } >"$WORK/pop.csv"
ONESTATUS_DATA_DIR="$WORK/data" "$ONESTATUS" org populate --code 300 --users "$VM_CONCURRENT" \
    2>>"$WORK/populate.log" | cut -d';' -f1 >"$WORK/vm_numbers.txt"

ONESTATUS_CALLS_MEDIA=anchor ONESTATUS_RTP_PORT_MIN=$RTP_PORT_MIN ONESTATUS_RTP_PORT_MAX=$RTP_PORT_MAX \
    start_onestatus "$SIP_PORT" "$HTTP_PORT"
start_sipp_uas "$UAS_PORT"

log "sampling every ${SAMPLE_SECS}s"
python3 "$BENCH_DIR/soak.py" sample "$ONESTATUS_PID" "http://127.0.0.1:$HTTP_PORT/metrics" \
    "$RTP_PORT_MIN" "$RTP_PORT_MAX" "$SAMPLE_SECS" $((DURATION + 120)) "$WORK/samples.csv" &
SAMPLER=$!
PIDS+=("$SAMPLER")

log "soak: $RATE calls/s and $VM_CONCURRENT voicemail calls for ${DURATION}s"
timeout $((DURATION + 120)) sipp -sf "$BENCH_DIR/sipp/uac_call.xml" -inf "$WORK/pop.csv" \
    -i 127.0.0.1 -p "$UAC_PORT" -r "$RATE" -m $((RATE * DURATION)) -l $((RATE * 4 + 100)) -nostdin \
    -buff_size 8388608 -max_socket 4096 -timeout $((DURATION + 90))s -timeout_error \
    -recv_timeout 8000 -trace_stat -stf "$WORK/sipp_stat.csv" -fd "$SAMPLE_SECS" \
    127.0.0.1:"$SIP_PORT" >"$WORK/uac.log" 2>&1 &
SIPP_UAC=$!
# The voicemail callers start over the first 10 s (or a tenth of a short run), not all at once.
VM_RAMP_MS=$((1000 * (DURATION < 100 ? DURATION : 100) / 10 / VM_CONCURRENT))
VM="$(SERVER=127.0.0.1:$SIP_PORT NUMBERS="$WORK/vm_numbers.txt" CONCURRENT="$VM_CONCURRENT" \
    UNTIL_SECS="$DURATION" SPEECH_SECS="$SPEECH_SECS" RAMP_MS="$VM_RAMP_MS" \
    timeout $((DURATION + SPEECH_SECS + 180)) $GENERATOR 2>"$WORK/gen.err" || true)"
SIPP_STATUS=0
wait "$SIPP_UAC" || SIPP_STATUS=$?
# One more sample after both loads ended, then the sampler stops.
sleep "$SAMPLE_SECS"
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
log "voicemail: $VM"
[ -s "$WORK/gen.err" ] && log "voicemail generator: $(head -3 "$WORK/gen.err")"

mkdir -p "$PLOT_DIR"
PLOT="soak-$(date -u +%Y%m%d-%H%M)-$(commit).svg"
cp "$WORK/samples.csv" "$PLOT_DIR/${PLOT%.svg}.csv"
REPORT="$(python3 "$BENCH_DIR/soak.py" report "$WORK/samples.csv" "$WARMUP_SECS" "$PLOT_DIR/$PLOT" \
    --end "$DURATION" --sipp-stat "$WORK/sipp_stat.csv" \
    --title "soak $(date -u +%Y-%m-%d) $(commit): $RATE calls/s + $VM_CONCURRENT voicemail calls, ${DURATION}s")"
log "$REPORT"
log "SIPp exit status $SIPP_STATUS; plot: $PLOT_DIR/$PLOT"

append_result "| $(date -u +%Y-%m-%d) | $(commit) | $(machine) | \`bash benches/soak.sh\` DURATION=$DURATION RATE=$RATE VM_CONCURRENT=$VM_CONCURRENT SPEECH_SECS=$SPEECH_SECS | $REPORT (SIPp exit status $SIPP_STATUS); voicemail: $VM | plot [plots/$PLOT](plots/$PLOT), samples plots/${PLOT%.svg}.csv; flat = growth (Theil-Sen slope × span) after ${WARMUP_SECS}s up to the end of the load within 5 % of the mean | load: $(uptime | sed 's/.*load average/load average/'); UDP buffers: $UDP_BUFFERS |"
