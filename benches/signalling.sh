#!/usr/bin/env bash
# Signalling benchmark: the highest call rate with 0 failed calls over DURATION seconds.
#   SIPp UAC -> onestatus (B2BUA) -> SIPp UAS registered as every user's device
# and, in the same run, the references:
#   SIPp UAC -> SIPp UAS directly (the tools' ceiling)
#   SIPp UAC -> Kamailio (minimal stateful proxy, benches/kamailio/kamailio.cfg) -> SIPp UAS
# Basic call: INVITE, 180, 200, ACK, 1 s, BYE; SDP offered, no RTP sent.
# Then INVITE->180 p50/p99 through onestatus at half its maximum rate.
# The ceiling (issue 22 §4): SIPp direct is searched first, past the last of RATES by STEP_ABOVE
# up to MAX_RATE, until it fails: that is the tools' own ceiling. onestatus and Kamailio are then
# searched up to it, so the row shows where each of the three stops (last clean step, first
# failing step). Each step of onestatus and Kamailio also records their CPU (utime + stime of
# every process, /proc/<pid>/stat) per call; the row gives both at the highest rate both held.
#
# Usage: bash benches/signalling.sh        (DURATION=30 USERS=3000 RATES="250 500 ..."
#                                           STEP_ABOVE=1000 MAX_RATE=10000)
# Knobs for the smoke test (tests/bench_smoke.rs): ONESTATUS_BIN (skip the release build),
# RESULTS_FILE (where the row goes), RAISE_UDP_BUFFERS=0, PORT_BASE (ports PORT_BASE+0..+20).
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-30}"
USERS="${USERS:-3000}"
RATES="${RATES:-250 500 750 1000 1250 1500 2000 2500 3000 4000}"
STEP_ABOVE="${STEP_ABOVE:-1000}"
MAX_RATE="${MAX_RATE:-10000}"
CLK_TCK="$(getconf CLK_TCK)"
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

# start_uas: a fresh SIPp UAS on $UAS_PORT (the one before, if any, stopped first). Each search
# gets its own, so the calls a failing step left half-done at the UAS do not weigh on the next.
UAS_PID=""
start_uas() {
    if [ -n "$UAS_PID" ]; then
        kill "$UAS_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$UAS_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    start_sipp_uas "$UAS_PORT"
    UAS_PID="$SIPP_UAS_PID"
}

# run_rate TARGET_PORT RATE [extra sipp args]: exit 0 when every call of the run succeeded and
# the run kept the rate. Near its ceiling SIPp does not fail calls, it falls behind: a run
# whose calls took longer than DURATION x 1.1 + 5 s (the last call's 1 s and set-up included)
# did not hold RATE.
run_rate() {
    local port="$1" rate="$2"
    shift 2
    local calls=$((rate * DURATION)) started elapsed_ms
    started="$(date +%s%3N)"
    timeout $((DURATION + 60)) sipp -sf "$BENCH_DIR/sipp/uac_call.xml" -inf "$WORK/pop.csv" \
        -i 127.0.0.1 -p "$UAC_PORT" -r "$rate" -m "$calls" -l $((rate * 4 + 100)) -nostdin \
        -buff_size 8388608 -max_socket 4096 -timeout $((DURATION + 45))s -timeout_error \
        -recv_timeout 8000 "$@" 127.0.0.1:"$port" >"$WORK/uac.$port.$rate.log" 2>&1 || return 1
    elapsed_ms=$(($(date +%s%3N) - started))
    if [ "$elapsed_ms" -gt $((DURATION * 1100 + 5000)) ]; then
        log "$calls calls took ${elapsed_ms} ms: $rate calls/s not kept"
        return 1
    fi
}

# all_rates: RATES, then on by STEP_ABOVE up to MAX_RATE.
all_rates() {
    local last=0
    for rate in $RATES; do echo "$rate"; last="$rate"; done
    [ "$STEP_ABOVE" -gt 0 ] || return 0
    for ((rate = last + STEP_ABOVE; rate <= MAX_RATE; rate += STEP_ABOVE)); do echo "$rate"; done
}

# ticks PID...: utime + stime of those processes, in clock ticks.
ticks() {
    local total=0 t
    for pid in "$@"; do
        t="$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)"
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

# max_rate NAME PORT CAP [PID...]: "best first_failure" over all_rates up to CAP (first_failure
# is "none" when every step up to CAP held). With PIDs, each clean step's CPU per call of those
# processes goes to $WORK/cpu.NAME.RATE (µs).
max_rate() {
    local name="$1" port="$2" cap="$3" best=0 failed=none before after
    shift 3
    for rate in $(all_rates); do
        [ "$rate" -le "$cap" ] || break
        log "$name: $rate calls/s for ${DURATION}s"
        before="$(ticks "$@")"
        if run_rate "$port" "$rate"; then
            best="$rate"
            after="$(ticks "$@")"
            if [ "$#" -gt 0 ]; then
                awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n=$((rate * DURATION)) \
                    'BEGIN{printf "%.0f", t / hz * 1e6 / n}' >"$WORK/cpu.$name.$rate"
            fi
        else
            log "$name: failures at $rate calls/s"
            failed="$rate"
            break
        fi
        sleep 2
    done
    echo "$best $failed"
}

# stops BEST FAILED: how a search ended, for the row.
stops() {
    if [ "$2" = none ]; then echo "no failing step up to $1"; else echo "fails at $2"; fi
}

start_uas
read -r DIRECT_MAX DIRECT_FAIL <<<"$(max_rate sipp-direct "$UAS_PORT" "$MAX_RATE")"
CEILING="$DIRECT_MAX"
if [ "$DIRECT_FAIL" = none ]; then
    CEILING_NOTE=": the tools' ceiling is above MAX_RATE"
else
    CEILING_NOTE=": the tools' ceiling"
fi
[ "$CEILING" -gt 0 ] || CEILING="$MAX_RATE"
start_uas
read -r ONESTATUS_MAX ONESTATUS_FAIL <<<"$(max_rate onestatus "$SIP_PORT" "$CEILING" "$ONESTATUS_PID")"

KAMAILIO_MAX="not run (kamailio not installed)" KAMAILIO_FAIL=none KAMAILIO_STOPS=""
if command -v kamailio >/dev/null; then
    sed "s/KAM_PORT/$KAM_PORT/; s/UAS_PORT/$UAS_PORT/" "$BENCH_DIR/kamailio/kamailio.cfg" \
        >"$WORK/kamailio.cfg"
    kamailio -f "$WORK/kamailio.cfg" -P "$WORK/kamailio.pid" -w "$WORK" -m 256 -M 32 \
        >"$WORK/kamailio.log" 2>&1
    wait_udp "$KAM_PORT"
    KAM_MAIN="$(cat "$WORK/kamailio.pid")"
    start_uas
    # fork=yes: the main process and its children (UDP workers, timers) are all of Kamailio.
    # shellcheck disable=SC2046
    read -r KAMAILIO_MAX KAMAILIO_FAIL <<<"$(max_rate kamailio "$KAM_PORT" "$CEILING" \
        "$KAM_MAIN" $(pgrep -P "$KAM_MAIN"))"
    KAMAILIO_STOPS=" ($(stops "$KAMAILIO_MAX" "$KAMAILIO_FAIL"))"
    kill "$KAM_MAIN" 2>/dev/null || true
fi

# CPU per call at the highest rate both onestatus and Kamailio held.
CPU="CPU per call: n/a"
for rate in $(all_rates | sort -rn); do
    if [ -f "$WORK/cpu.onestatus.$rate" ] && [ -f "$WORK/cpu.kamailio.$rate" ]; then
        os_us="$(cat "$WORK/cpu.onestatus.$rate")" kam_us="$(cat "$WORK/cpu.kamailio.$rate")"
        CPU="CPU per call at $rate calls/s: onestatus $os_us µs, Kamailio $kam_us µs (onestatus/Kamailio $(awk -v a="$os_us" -v b="$kam_us" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}'))"
        break
    fi
done
if [ "$CPU" = "CPU per call: n/a" ] && [ -f "$WORK/cpu.onestatus.$ONESTATUS_MAX" ]; then
    CPU="CPU per call at $ONESTATUS_MAX calls/s: onestatus $(cat "$WORK/cpu.onestatus.$ONESTATUS_MAX") µs"
fi
RATIO=""
if [[ "$KAMAILIO_MAX" =~ ^[0-9]+$ ]] && [ "$KAMAILIO_MAX" -gt 0 ]; then
    RATIO="; max-rate ratio onestatus/Kamailio $(awk -v a="$ONESTATUS_MAX" -v b="$KAMAILIO_MAX" 'BEGIN{printf "%.2f", a / b}')"
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

ROW="| $(date -u +%Y-%m-%d) | $(commit) | $(machine) | \`bash benches/signalling.sh\` (DURATION=$DURATION, USERS=$USERS, RATES=\"$RATES\", STEP_ABOVE=$STEP_ABOVE, MAX_RATE=$MAX_RATE) | onestatus **$ONESTATUS_MAX** calls/s ($(stops "$ONESTATUS_MAX" "$ONESTATUS_FAIL")), INVITE→180 p50 $P50 / p99 $P99 at $HALF calls/s; $CPU$RATIO | SIPp direct $DIRECT_MAX calls/s ($(stops "$DIRECT_MAX" "$DIRECT_FAIL")$CEILING_NOTE; the others were searched up to $CEILING); Kamailio stateful proxy $KAMAILIO_MAX calls/s$KAMAILIO_STOPS | load: $(uptime | sed 's/.*load average/load average/'); UDP buffers: $UDP_BUFFERS |"
append_result "$ROW"
log "$ROW"
