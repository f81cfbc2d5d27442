#!/usr/bin/env bash
# Post-dial delay to first audio (issue 9 §4): INVITE -> first RTP packet of the voicemail
# greeting, p50/p99/max, at a steady RATE of new calls (default 500 calls/s: half the measured
# signalling maximum of 1,000 calls/s; pass RATE=<half of the latest signalling row>). Each
# caller hangs up as soon as the first packet arrives, so the load is call set-up (SIP, routing
# lookup, media session, greeting) and not media. Also INVITE -> 200 OK.
# Reference in the same run: the same measurement at FLOOR_RATE (5 calls/s), the floor of an
# idle server and the generator.
#
# Usage: bash benches/post_dial.sh          (RATE=500 DURATION=10 USERS=2000)
# Knobs for the smoke test: ONESTATUS_BIN, GENERATOR, RESULTS_FILE, RAISE_UDP_BUFFERS=0,
# PORT_BASE, RTP_PORT_MIN.
source "$(dirname "$0")/lib.sh"

RATE="${RATE:-500}"
DURATION="${DURATION:-10}"
USERS="${USERS:-2000}"
FLOOR_RATE="${FLOOR_RATE:-5}"
PORT_BASE="${PORT_BASE:-27060}"
SIP_PORT=$PORT_BASE HTTP_PORT=$((PORT_BASE + 3020))
RTP_PORT_MIN="${RTP_PORT_MIN:-40000}"

build_release
if [ -z "${GENERATOR:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked --quiet --bench voicemail_load)
    GENERATOR="$(ls -t "${CARGO_TARGET_DIR:-$ROOT/target}"/release/deps/voicemail_load-* | grep -v '\.d$' | head -1)"
fi
raise_udp_buffers

log "population: $USERS users without phones (every call goes to voicemail)"
mkdir -p "$WORK/data"
ONESTATUS_DATA_DIR="$WORK/data" "$ONESTATUS" org populate --code 500 --users "$USERS" \
    | cut -d';' -f1 >"$WORK/numbers.txt"
export ONESTATUS_RTP_PORT_MIN=$RTP_PORT_MIN
export ONESTATUS_RTP_PORT_MAX=$((RTP_PORT_MIN + 10000 > 65000 ? 65000 : RTP_PORT_MIN + 10000))
start_onestatus "$SIP_PORT" "$HTTP_PORT"

# measure RATE SECONDS: the generator's summary line for RATE calls/s over SECONDS.
measure() {
    local rate="$1" secs="$2"
    SERVER=127.0.0.1:$SIP_PORT NUMBERS="$WORK/numbers.txt" CALLS=$((rate * secs)) RATE="$rate" \
        SPEECH_SECS=0 timeout $((secs + 120)) $GENERATOR 2>"$WORK/gen.$rate.err" || true
}

log "floor: $FLOOR_RATE calls/s for 2 s"
FLOOR="$(measure "$FLOOR_RATE" 2)"
sleep 2
log "$RATE calls/s for ${DURATION}s"
OUT="$(measure "$RATE" "$DURATION")"
log "floor: $FLOOR"
log "at $RATE calls/s: $OUT"
[ -s "$WORK/gen.$RATE.err" ] && log "generator: $(head -3 "$WORK/gen.$RATE.err")"

append_result "| $(date -u +%Y-%m-%d) | $(commit) | $(machine) | \`bash benches/post_dial.sh\` RATE=$RATE DURATION=$DURATION USERS=$USERS | $OUT | at $FLOOR_RATE calls/s: $FLOOR | target first_audio p99 < 100 ms; UDP buffers: $UDP_BUFFERS |"
