#!/usr/bin/env bash
# What each node spends per call on the shared PostgreSQL store (issue #20), counted, not
# timed: a fixed number of basic calls (signalling.sh's: INVITE, 180, 200, ACK, 1 s, BYE) at
# a small fixed rate, once through 1 node direct and once through Kamailio
# (deploy/kamailio/kamailio.cfg) in front of 2 nodes, and for each set-up
#   - the SQL statements the database executed, by statement (PostgreSQL's own log:
#     `log_statement = all` set on the bench database only), per call;
#   - the NOTIFYs among them (each is delivered to every listening node);
#   - socket syscalls of each node process and of the database's backends (perf tracepoints:
#     sendto/recvfrom/sendmsg/recvmsg, so the round trips the statement log does not show,
#     such as the connection pool's ping before each acquire), per call.
# Counts, not times: they hold on a loaded machine (the rate is far below any limit), which
# is why this exists next to benches/nodes.sh (the rate with 0 failed calls, a quiet machine).
#
# Usage: bash benches/nodes_counts.sh   (CALLS=200 RATE=20 USERS=100 MODES="single cluster kamailio")
# (`kamailio`: Kamailio alone with benches/kamailio/kamailio.cfg, for its syscalls per call
# next to the shipped configuration's in `cluster`.)
# Needs root (perf tracepoints, the PostgreSQL log), kamailio, sipp, psql, perf. The database
# log is read from PG_LOG (default /var/log/postgresql/postgresql-15-main.log; its lines must
# carry `%p` and `%d` as Debian's default log_line_prefix does).
# Knobs as in nodes.sh: ONESTATUS_BIN, PG, PORT_BASE, RTP_PORT_MIN, RTP_SPAN.
source "$(dirname "$0")/lib.sh"

CALLS="${CALLS:-200}"
RATE="${RATE:-20}"
USERS="${USERS:-100}"
MODES="${MODES:-single cluster kamailio}"
PG="${PG:-${ONESTATUS_TEST_PG:-postgres://postgres@127.0.0.1:5432}}"
PG_LOG="${PG_LOG:-/var/log/postgresql/postgresql-15-main.log}"
unset ONESTATUS_TEST_PG
PORT_BASE="${PORT_BASE:-17160}"
RTP_PORT_MIN="${RTP_PORT_MIN:-20000}"
RTP_SPAN="${RTP_SPAN:-5000}"
A_SIP=$PORT_BASE B_SIP=$((PORT_BASE + 2)) UAS_PORT=$((PORT_BASE + 10))
UAC_PORT=$((PORT_BASE + 12)) FRONT_PORT=$((PORT_BASE + 22))
A_HTTP=$((PORT_BASE + 3020)) B_HTTP=$((PORT_BASE + 3022))
EVENTS="syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvmsg,syscalls:sys_enter_sendmmsg,syscalls:sys_enter_recvmmsg"

for tool in kamailio psql perf sipp; do
    command -v "$tool" >/dev/null || { log "$tool is needed"; exit 1; }
done
[ -r "$PG_LOG" ] || { log "cannot read the PostgreSQL log $PG_LOG (PG_LOG)"; exit 1; }

DB="onestatus_bench_counts_$$"
DB_URL="$PG/$DB"
finish() {
    local status=$?
    set +e
    (exit "$status")
    cleanup
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    exit "$status"
}
trap finish EXIT

build_release
psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null
ONESTATUS_DATABASE_URL="$DB_URL" ONESTATUS_DATA_DIR="$WORK/populate" "$ONESTATUS" org populate \
    --code 200 --users "$USERS" --static-contact "127.0.0.1:$UAS_PORT" \
    >"$WORK/pop.body" 2>"$WORK/populate.log"
{ echo SEQUENTIAL; cat "$WORK/pop.body"; } >"$WORK/pop.csv"
# Only the bench database's sessions log their statements, and only those opened from now on.
psql "$PG/postgres" -qc "ALTER DATABASE $DB SET log_statement = 'all'" >/dev/null

# start_node NAME SIP_PORT HTTP_PORT RTP_MIN: as in nodes.sh, the node's name as the
# connections' application_name (to tell the database backends apart).
start_node() {
    ONESTATUS_SECURITY_SIP_REQUESTS_PER_SEC=0 ONESTATUS_DATABASE_URL="$DB_URL?application_name=$1" \
        ONESTATUS_CLUSTER_NODE_ID="$1" ONESTATUS_SIP_NONCE_SECRET=store \
        ONESTATUS_DATA_DIR="$WORK/$1" ONESTATUS_SIP_LISTEN="[\"127.0.0.1:$2\"]" \
        ONESTATUS_HTTP_LISTEN="127.0.0.1:$3" ONESTATUS_SIP_DIGEST_ALGORITHMS='["MD5"]' \
        ONESTATUS_RTP_PORT_MIN="$4" ONESTATUS_RTP_PORT_MAX=$(($4 + RTP_SPAN - 1)) \
        RUST_LOG="${BENCH_LOG:-warn}" "$ONESTATUS" serve >>"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    NODE_PIDS+=($!)
    wait_udp "$2"
}

start_sipp_uas "$UAS_PORT"

# measure MODE TARGET_PORT: one set-up's calls, counted; prints its table rows.
measure() {
    local mode="$1" port="$2"
    sleep 3 # start-up statements (migrations, secrets, first heartbeat) before the window
    local backends
    backends="$(psql "$PG/postgres" -Atc "SELECT pid || ' ' || application_name FROM pg_stat_activity WHERE datname = '$DB'")"
    local offset
    offset="$(stat -c %s "$PG_LOG")"
    local perf_pids=() i=0
    for pid in "${NODE_PIDS[@]}"; do
        perf stat -x, -o "$WORK/perf.$mode.node$i" -e "$EVENTS" -p "$pid" &
        perf_pids+=($!)
        i=$((i + 1))
    done
    if [ -n "$backends" ]; then
        perf stat -x, -o "$WORK/perf.$mode.pg" -e "$EVENTS" \
            -p "$(echo "$backends" | cut -d' ' -f1 | paste -sd,)" &
        perf_pids+=($!)
    fi
    # Kamailio's processes (its children are forked before the window), when it is in front.
    local kam
    kam="$(pgrep -f "kamailio .*$WORK" | paste -sd, || true)"
    if [ -n "$kam" ]; then
        perf stat -x, -o "$WORK/perf.$mode.kamailio" -e "$EVENTS" -p "$kam" &
        perf_pids+=($!)
    fi
    sleep 0.5
    timeout $((CALLS / RATE + 60)) sipp -sf "$BENCH_DIR/sipp/uac_call.xml" -inf "$WORK/pop.csv" \
        -i 127.0.0.1 -p "$UAC_PORT" -r "$RATE" -m "$CALLS" -l $((RATE * 4 + 10)) -nostdin \
        -timeout $((CALLS / RATE + 45))s -timeout_error -recv_timeout 8000 \
        127.0.0.1:"$port" >"$WORK/uac.$mode.log" 2>&1 || log "$mode: some calls failed"
    sleep 2 # the last calls' history and cluster rows
    kill -INT "${perf_pids[@]}"
    wait "${perf_pids[@]}" 2>/dev/null || true
    local ok
    ok="$(awk -F'|' '/Successful call/ {gsub(/ /, "", $3); n = $3} END {print n + 0}' "$WORK/uac.$mode.log")"
    tail -c +"$((offset + 1))" "$PG_LOG" | grep "@$DB " >"$WORK/sql.$mode.log" || true
    # pid -> node, then each executed statement's first words, per node.
    {
        echo "$backends" | sed 's/^/BACKEND /'
        cat "$WORK/sql.$mode.log"
    } | awk -v mode="$mode" -v calls="$ok" '
        /^BACKEND / {node[$2] = $3; next}
        {
            if (!match($0, /LOG:  (execute [^:]*|statement): /)) next
            sql = substr($0, RSTART + RLENGTH)
            match($0, /\[[0-9]+\]/)
            pid = substr($0, RSTART + 1, RLENGTH - 2)
            n = (pid in node) ? node[pid] : "other"
            split(sql, w, " ")
            key = w[1] " " w[2] " " w[3] " " w[4]
            if (w[1] == "WITH") key = key " " w[5] " " w[6]
            if (sql ~ /pg_notify/) {
                key = (sql ~ /cluster_calls/) ? "NOTIFY with the cluster_calls rows" : "NOTIFY"
                notifies++
            }
            count[key]++; total++; pernode[n]++
        }
        END {
            for (k in count) printf "| %s | `%s` | %d | %.2f |\n", mode, k, count[k], count[k] / calls
            printf "| %s | **all statements** (%d with NOTIFY) | %d | **%.2f** |\n", mode, notifies, total, total / calls
            for (n in pernode) printf "| %s | statements from %s | %d | %.2f |\n", mode, n, pernode[n], pernode[n] / calls
        }' | sort >"$WORK/table.$mode"
    for f in "$WORK"/perf."$mode".*; do
        awk -F, -v who="${f##*.}" -v mode="$mode" -v calls="$ok" '
            /syscalls/ {n += $1}
            END {printf "| %s | socket syscalls of %s | %d | %.2f |\n", mode, who, n, n / calls}' "$f"
    done >>"$WORK/table.$mode"
    log "$mode: $ok calls answered of $CALLS"
    echo "| $mode | calls answered | $ok | 1 |" >>"$WORK/table.$mode"
}

for mode in $MODES; do
    NODE_PIDS=()
    case "$mode" in
    single)
        start_node node-a "$A_SIP" "$A_HTTP" "$RTP_PORT_MIN"
        measure single "$A_SIP"
        ;;
    cluster)
        start_node node-a "$A_SIP" "$A_HTTP" "$RTP_PORT_MIN"
        start_node node-b "$B_SIP" "$B_HTTP" $((RTP_PORT_MIN + RTP_SPAN))
        printf '1 sip:127.0.0.1:%s\n1 sip:127.0.0.1:%s\n' "$A_SIP" "$B_SIP" >"$WORK/dispatcher.list"
        kamailio -DD -E -f "$ROOT/deploy/kamailio/kamailio.cfg" -m 64 -M 8 -Y "$WORK" \
            -A "LISTEN=udp:127.0.0.1:$FRONT_PORT" -A "DISPATCHER_LIST=\"$WORK/dispatcher.list\"" \
            </dev/null >"$WORK/front.log" 2>&1 &
        PIDS+=($!)
        FRONT_PID=$!
        wait_udp "$FRONT_PORT"
        sleep 3 # the dispatcher's first OPTIONS probes
        measure cluster "$FRONT_PORT"
        kill "$FRONT_PID" 2>/dev/null || true
        ;;
    kamailio)
        # The reference: Kamailio alone (benches/kamailio/kamailio.cfg) straight to the UAS.
        sed "s/KAM_PORT/$FRONT_PORT/; s/UAS_PORT/$UAS_PORT/" "$BENCH_DIR/kamailio/kamailio.cfg" \
            >"$WORK/kamailio.cfg"
        kamailio -f "$WORK/kamailio.cfg" -P "$WORK/kamailio.pid" -w "$WORK" -m 64 -M 8 \
            >"$WORK/kamailio.log" 2>&1
        wait_udp "$FRONT_PORT"
        measure kamailio "$FRONT_PORT"
        kill "$(cat "$WORK/kamailio.pid")" 2>/dev/null || true
        ;;
    *) log "unknown mode $mode"; exit 1 ;;
    esac
    kill "${NODE_PIDS[@]}" 2>/dev/null || true
    wait "${NODE_PIDS[@]}" 2>/dev/null || true
done

echo "| set-up | what | count | per call |"
echo "|---|---|---|---|"
cat "$WORK"/table.*
log "calls=$CALLS rate=$RATE users=$USERS; load average $(cut -d' ' -f1-3 /proc/loadavg)"
