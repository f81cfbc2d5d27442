#!/usr/bin/env bash
# Several nodes (issue #20): the highest call rate with 0 failed calls over DURATION seconds
# through Kamailio in front of two onestatus nodes on one PostgreSQL database,
#   SIPp UAC -> Kamailio (deploy/kamailio/kamailio.cfg: dispatcher round robin, OPTIONS
#               probing, Record-Route) -> onestatus node A | node B -> SIPp UAS
# and, in the same run and on the same database, the references:
#   SIPp UAC -> onestatus node A -> SIPp UAS                       (1 node direct)
#   SIPp UAC -> Kamailio (benches/kamailio/kamailio.cfg) -> SIPp UAS (Kamailio alone)
# The call is signalling.sh's basic call (INVITE, 180, 200, ACK, 1 s, BYE; SDP, no RTP).
# The cluster runs on freshly started nodes (the direct run may leave node A behind on calls).
# Issue #20's target: Kamailio + 2 nodes hold the 1-node rate with 0 failed calls. On one
# machine the three processes share its cores, so the figure says what the proxy hop and the
# shared store cost, not what a second machine would add.
#
# Usage: bash benches/nodes.sh   (DURATION=30 USERS=3000 RATES="250 500 ..." PG=postgres://...)
# A bench database (onestatus_bench_nodes_<pid>) is created on PG (default
# postgres://postgres@127.0.0.1:5432, trust auth) and dropped at the end.
# Knobs for the smoke test (tests/bench_smoke.rs): ONESTATUS_BIN, RESULTS_FILE,
# RAISE_UDP_BUFFERS=0, PORT_BASE (ports PORT_BASE+0..+22 and +3020, +3022), RTP_PORT_MIN and
# RTP_SPAN (node A gets RTP_SPAN ports from RTP_PORT_MIN, node B the next RTP_SPAN).
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-30}"
USERS="${USERS:-3000}"
RATES="${RATES:-250 500 750 1000 1250 1500 2000}"
PG="${PG:-${ONESTATUS_TEST_PG:-postgres://postgres@127.0.0.1:5432}}"
# onestatus takes every ONESTATUS_* variable for configuration and refuses unknown keys.
unset ONESTATUS_TEST_PG
# Below the nodes' RTP ranges (20000-30000 by default: anchored calls bind ports there).
PORT_BASE="${PORT_BASE:-16060}"
RTP_PORT_MIN="${RTP_PORT_MIN:-20000}"
RTP_SPAN="${RTP_SPAN:-5000}"
A_SIP=$PORT_BASE B_SIP=$((PORT_BASE + 2)) UAS_PORT=$((PORT_BASE + 10))
UAC_PORT=$((PORT_BASE + 12)) KAM_PORT=$((PORT_BASE + 20)) FRONT_PORT=$((PORT_BASE + 22))
A_HTTP=$((PORT_BASE + 3020)) B_HTTP=$((PORT_BASE + 3022))
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

command -v kamailio >/dev/null || { log "kamailio is needed (Debian package kamailio)"; exit 1; }
command -v psql >/dev/null || { log "psql is needed (Debian package postgresql-client)"; exit 1; }

DB="onestatus_bench_nodes_$$"
DB_URL="$PG/$DB"
# lib.sh's cleanup stops what was started (and reads the exit status from $?); the reference
# Kamailio, a daemon, is stopped before it and the database goes after it (FORCE: a node that
# did not stop still holds connections).
finish() {
    local status=$?
    set +e
    [ -f "$WORK/kamailio.pid" ] && kill "$(cat "$WORK/kamailio.pid")" 2>/dev/null
    (exit "$status")
    cleanup
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    exit "$status"
}
trap finish EXIT

# A row measured with another binary than the release build says which.
BINARY_NOTE="${ONESTATUS_BIN:+; binary \`$ONESTATUS_BIN\`, not the release build}"
build_release
raise_udp_buffers

log "database $DB on $PG, population: $USERS users"
psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null
# Every user's device is bound statically to the SIPp UAS, as in signalling.sh.
ONESTATUS_DATABASE_URL="$DB_URL" ONESTATUS_DATA_DIR="$WORK/populate" "$ONESTATUS" org populate \
    --code 200 --users "$USERS" --static-contact "127.0.0.1:$UAS_PORT" \
    >"$WORK/pop.body" 2>"$WORK/populate.log"
{ echo SEQUENTIAL; cat "$WORK/pop.body"; } >"$WORK/pop.csv"

# start_node NAME SIP_PORT HTTP_PORT RTP_MIN: a node on the bench database, with its own node
# id and RTP range, the nonce secret shared through the store, the per-source request limit
# off (every request comes from 127.0.0.1, through Kamailio or not).
start_node() {
    ONESTATUS_SECURITY_SIP_REQUESTS_PER_SEC=0 ONESTATUS_DATABASE_URL="$DB_URL" \
        ONESTATUS_CLUSTER_NODE_ID="$1" ONESTATUS_SIP_NONCE_SECRET=store \
        ONESTATUS_DATA_DIR="$WORK/$1" ONESTATUS_SIP_LISTEN="[\"127.0.0.1:$2\"]" \
        ONESTATUS_HTTP_LISTEN="127.0.0.1:$3" ONESTATUS_SIP_DIGEST_ALGORITHMS='["MD5"]' \
        ONESTATUS_RTP_PORT_MIN="$4" ONESTATUS_RTP_PORT_MAX=$(($4 + RTP_SPAN - 1)) \
        RUST_LOG="${BENCH_LOG:-warn}" "$ONESTATUS" serve >>"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    NODE_PIDS+=($!)
    wait_udp "$2"
}
# start_nodes: both nodes, one after the other (the first runs the migrations and makes the
# shared nonce secret).
start_nodes() {
    NODE_PIDS=()
    start_node node-a "$A_SIP" "$A_HTTP" "$RTP_PORT_MIN"
    start_node node-b "$B_SIP" "$B_HTTP" $((RTP_PORT_MIN + RTP_SPAN))
}
start_nodes

log "starting the SIPp UAS on $UAS_PORT"
sipp -sf "$BENCH_DIR/sipp/uas_answer.xml" -i 127.0.0.1 -p "$UAS_PORT" -bg -nostdin \
    -buff_size 8388608 -max_socket 4096 >"$WORK/uas.log" 2>&1 || true  # -bg: the parent exits 99
sleep 0.5
UAS_PID="$(pgrep -f "sipp -sf $BENCH_DIR/sipp/uas_answer.xml -i 127.0.0.1 -p $UAS_PORT " | head -1 || true)"
[ -n "$UAS_PID" ] || { log "the SIPp UAS did not start: $(cat "$WORK/uas.log")"; exit 1; }
PIDS+=("$UAS_PID")

# run_rate TARGET_PORT RATE: exit 0 when every call of the run succeeded.
run_rate() {
    local port="$1" rate="$2"
    local calls=$((rate * DURATION))
    timeout $((DURATION + 60)) sipp -sf "$BENCH_DIR/sipp/uac_call.xml" -inf "$WORK/pop.csv" \
        -i 127.0.0.1 -p "$UAC_PORT" -r "$rate" -m "$calls" -l $((rate * 4 + 100)) -nostdin \
        -buff_size 8388608 -max_socket 4096 -timeout $((DURATION + 45))s -timeout_error \
        -recv_timeout 8000 127.0.0.1:"$port" >"$WORK/uac.$port.$rate.log" 2>&1
}

# outcome LOG: "ok/failed" from SIPp's last statistics screen ("?" when it printed none).
outcome() {
    awk -F'|' '/Successful call/ {ok = $3} /Failed call/ {failed = $3}
        END {gsub(/ /, "", ok); gsub(/ /, "", failed)
             printf "%s/%s", (ok == "" ? "?" : ok), (failed == "" ? "?" : failed)}' "$1"
}

# max_rate NAME PORT: highest rate of $RATES with 0 failed calls (stops at the first failure);
# each step's "rate: ok/failed" goes to $WORK/steps.NAME.
max_rate() {
    local name="$1" port="$2" best=0
    for rate in $RATES; do
        log "$name: $rate calls/s for ${DURATION}s"
        if run_rate "$port" "$rate"; then
            best="$rate"
            echo "$rate: $(outcome "$WORK/uac.$port.$rate.log")" >>"$WORK/steps.$name"
        else
            echo "$rate: $(outcome "$WORK/uac.$port.$rate.log")" >>"$WORK/steps.$name"
            log "$name: failures at $rate calls/s"
            break
        fi
        sleep 2
    done
    echo "$best"
}
# answered HTTP_PORT: the node's count of answered calls (its /metrics, this node's only).
# (bash's /dev/tcp: no HTTP client needed.)
answered() {
    {
        exec 3<>"/dev/tcp/127.0.0.1/$1" &&
            printf 'GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n' >&3 && timeout 5 cat <&3
    } 2>/dev/null |
        awk '/^onestatus_calls_total\{outcome="answered"\}/ {n = $2} END {print n + 0}'
}
steps() { paste -sd, "$WORK/steps.$1" | sed 's/,/, /g'; }

NODE_MAX="$(max_rate node "$A_SIP")"
# A node that fell behind in the last step would go on working off its calls (and answering
# SIPp's old port) through the next runs. Killed, not drained (a drain waits for those calls);
# each clears its old calls from the store when it starts again under the same node id.
kill -KILL "${NODE_PIDS[@]}" 2>/dev/null || true
wait "${NODE_PIDS[@]}" 2>/dev/null || true

# Kamailio alone: the minimal stateful proxy of signalling.sh, straight to the SIPp UAS.
sed "s/KAM_PORT/$KAM_PORT/; s/UAS_PORT/$UAS_PORT/" "$BENCH_DIR/kamailio/kamailio.cfg" \
    >"$WORK/kamailio.cfg"
kamailio -f "$WORK/kamailio.cfg" -P "$WORK/kamailio.pid" -w "$WORK" -m 256 -M 32 \
    >"$WORK/kamailio.log" 2>&1
wait_udp "$KAM_PORT"
KAMAILIO_MAX="$(max_rate kamailio "$KAM_PORT")"
kill "$(cat "$WORK/kamailio.pid")" 2>/dev/null || true
rm -f "$WORK/kamailio.pid"

# Fresh nodes for the cluster, started after the Kamailio-alone run.
start_nodes

# Kamailio + 2 nodes: deploy/kamailio/kamailio.cfg as shipped, included from a file that only
# lets Kamailio's socket buffers grow as far as the reference's (maxbuffer; the shipped file
# leaves Kamailio's default), with the listen address and dispatcher list passed as defines.
printf '1 sip:127.0.0.1:%s\n1 sip:127.0.0.1:%s\n' "$A_SIP" "$B_SIP" >"$WORK/dispatcher.list"
printf '#!KAMAILIO\nmaxbuffer=26214400\ninclude_file "%s"\n' \
    "$ROOT/deploy/kamailio/kamailio.cfg" >"$WORK/front.cfg"
kamailio -DD -E -f "$WORK/front.cfg" -m 256 -M 32 -Y "$WORK" \
    -A "LISTEN=udp:127.0.0.1:$FRONT_PORT" -A "DISPATCHER_LIST=\"$WORK/dispatcher.list\"" \
    </dev/null >"$WORK/front.log" 2>&1 &
PIDS+=($!)
wait_udp "$FRONT_PORT"
sleep 3  # the dispatcher's first OPTIONS probes (every 2 s)
A_BEFORE="$(answered "$A_HTTP")" B_BEFORE="$(answered "$B_HTTP")"
CLUSTER_MAX="$(max_rate cluster "$FRONT_PORT")"
sleep 1  # the last calls' history records
# Which node carried the cluster steps' calls (each node's own counter, GET /metrics).
SPREAD="node A $(($(answered "$A_HTTP") - A_BEFORE)), node B $(($(answered "$B_HTTP") - B_BEFORE))"

LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
ROW="| $(date -u +%Y-%m-%d) | $(commit) | $(machine) | \`bash benches/nodes.sh\` (DURATION=$DURATION, USERS=$USERS, RATES=\"$RATES\", PostgreSQL store$BINARY_NOTE) | Kamailio + 2 nodes **$CLUSTER_MAX** calls/s with 0 failed (ok/failed per step: $(steps cluster); answered calls carried: $SPREAD) | 1 node direct $NODE_MAX calls/s ($(steps node)); Kamailio alone $KAMAILIO_MAX calls/s ($(steps kamailio)) | load average before $LOAD_BEFORE, after $LOAD_AFTER; UDP buffers: $UDP_BUFFERS |"
append_result "$ROW"
log "$ROW"
