#!/usr/bin/env bash
# Signalling benchmark: the highest call rate with 0 failed calls over DURATION seconds.
#   SIPp UAC -> onestatus (B2BUA) -> SIPp UAS registered as every user's device
# and, in the same run, the references:
#   SIPp UAC -> SIPp UAS directly (the tools' ceiling)
#   SIPp UAC -> Kamailio (minimal stateful proxy, benches/kamailio/kamailio.cfg) -> SIPp UAS
# Basic call: INVITE, 180, 200, ACK, 1 s, BYE; SDP offered, no RTP sent.
# Then INVITE->180 p50/p99 through onestatus at half its maximum rate.
#
# Usage: bash benches/signalling.sh        (DURATION=30 USERS=3000 RATES="250 500 ...")
# Knobs for the smoke test (tests/bench_smoke.rs): ONESTATUS_BIN (skip the release build),
# RESULTS_FILE (where the row goes), RAISE_UDP_BUFFERS=0, PORT_BASE (ports PORT_BASE+0..+20).
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-30}"
USERS="${USERS:-3000}"
RATES="${RATES:-250 500 750 1000 1250 1500 2000 2500 3000 4000}"
# Below the server's RTP range (20000-30000): with media anchored it binds two ports per call there.
PORT_BASE="${PORT_BASE:-15060}"
SIP_PORT=$PORT_BASE HTTP_PORT=$((PORT_BASE + 3020)) UAS_PORT=$((PORT_BASE + 10))
UAC_PORT=$((PORT_BASE + 12)) KAM_PORT=$((PORT_BASE + 20))

build_release
raise_udp_buffers

log "population: $USERS users"
mkdir -p "$WORK/data"
# Every user's device is bound statically to the SIPp UAS (SIPp 3.6 cannot take a per-call
# digest username from an injection file, so the population is not registered over SIP).
ONESTATUS_DATA_DIR="$WORK/data" "$ONESTATUS" org populate --code 200 --users "$USERS" \
    --static-contact "127.0.0.1:$UAS_PORT" >"$WORK/pop.body" 2>"$WORK/populate.log"
{ echo SEQUENTIAL; cat "$WORK/pop.body"; } >"$WORK/pop.csv"

start_onestatus "$SIP_PORT" "$HTTP_PORT"

log "starting the SIPp UAS on $UAS_PORT"
sipp -sf "$BENCH_DIR/sipp/uas_answer.xml" -i 127.0.0.1 -p "$UAS_PORT" -bg -nostdin \
    -buff_size 8388608 -max_socket 4096 >"$WORK/uas.log" 2>&1 || true  # -bg: the parent exits 99
sleep 0.5
UAS_PID="$(pgrep -f "sipp -sf $BENCH_DIR/sipp/uas_answer.xml -i 127.0.0.1 -p $UAS_PORT " | head -1 || true)"
[ -n "$UAS_PID" ] || { log "the SIPp UAS did not start: $(cat "$WORK/uas.log")"; exit 1; }
PIDS+=("$UAS_PID")

# run_rate TARGET_PORT RATE [extra sipp args]: exit 0 when every call of the run succeeded.
run_rate() {
    local port="$1" rate="$2"
    shift 2
    local calls=$((rate * DURATION))
    timeout $((DURATION + 60)) sipp -sf "$BENCH_DIR/sipp/uac_call.xml" -inf "$WORK/pop.csv" \
        -i 127.0.0.1 -p "$UAC_PORT" -r "$rate" -m "$calls" -l $((rate * 4 + 100)) -nostdin \
        -buff_size 8388608 -max_socket 4096 -timeout $((DURATION + 45))s -timeout_error \
        -recv_timeout 8000 "$@" 127.0.0.1:"$port" >"$WORK/uac.$port.$rate.log" 2>&1
}

# max_rate NAME PORT: highest rate of $RATES with 0 failed calls (stops at the first failure).
max_rate() {
    local name="$1" port="$2" best=0
    for rate in $RATES; do
        log "$name: $rate calls/s for ${DURATION}s"
        if run_rate "$port" "$rate"; then
            best="$rate"
        else
            log "$name: failures at $rate calls/s"
            break
        fi
        sleep 2
    done
    echo "$best"
}

ONESTATUS_MAX="$(max_rate onestatus "$SIP_PORT")"
DIRECT_MAX="$(max_rate sipp-direct "$UAS_PORT")"

KAMAILIO_MAX="not run (kamailio not installed)"
if command -v kamailio >/dev/null; then
    sed "s/KAM_PORT/$KAM_PORT/; s/UAS_PORT/$UAS_PORT/" "$BENCH_DIR/kamailio/kamailio.cfg" \
        >"$WORK/kamailio.cfg"
    kamailio -f "$WORK/kamailio.cfg" -P "$WORK/kamailio.pid" -w "$WORK" -m 256 -M 32 \
        >"$WORK/kamailio.log" 2>&1
    wait_udp "$KAM_PORT"
    KAMAILIO_MAX="$(max_rate kamailio "$KAM_PORT")"
    kill "$(cat "$WORK/kamailio.pid")" 2>/dev/null || true
fi

P50=n/a P99=n/a
HALF=$((ONESTATUS_MAX / 2))
if [ "$HALF" -gt 0 ]; then
    log "latency at $HALF calls/s"
    (cd "$WORK" && run_rate "$SIP_PORT" "$HALF" -trace_rtt -rtt_freq 1) || true
    # SIPp 3.6's rtt file: Date_ms;response_time_ms;rtd_no (ms resolution).
    awk -F';' 'NR>1 && $3==1 {print $2}' "$WORK"/uac_call_*_rtt.csv >"$WORK/rtd1.txt" 2>/dev/null || true
    P50="$(percentile "$WORK/rtd1.txt" 50) ms"
    P99="$(percentile "$WORK/rtd1.txt" 99) ms"
fi

ROW="| $(date -u +%Y-%m-%d) | $(commit) | $(machine) | \`bash benches/signalling.sh\` (DURATION=$DURATION, USERS=$USERS) | onestatus **$ONESTATUS_MAX** calls/s, INVITE→180 p50 $P50 / p99 $P99 at $HALF calls/s | SIPp direct $DIRECT_MAX calls/s; Kamailio stateful proxy $KAMAILIO_MAX calls/s | UDP buffers: $UDP_BUFFERS |"
append_result "$ROW"
log "$ROW"
