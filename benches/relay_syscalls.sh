#!/usr/bin/env bash
# The anchored relay's cost per relayed datagram in figures the machine's load does not change:
# system calls and context switches of the relaying process, counted by the kernel (`perf stat`
# on syscall tracepoints) over WINDOW seconds in the middle of a `benches/relay.sh` run of N
# calls, while RTP flows both ways (N·2·50 datagrams a second in, as many out). With
# RTPENGINE=1, the same window is counted on rtpengine (userspace) in the same run, as the
# reference. relay.sh's own row goes to a scratch file, not RESULTS.md; this prints one
# markdown row per relay for RESULTS.md (the CPU figure still depends on the load: read it
# beside the load average, the counts do not).
#
# Usage: N=200 WINDOW=5 bash benches/relay_syscalls.sh
# Knobs: N (calls, default 200), WINDOW (seconds counted, default 5), DELAY (seconds from the
# relay's start to the window, default 6: the calls are up and streaming), ONESTATUS_BIN
# (binary under test, else relay.sh's release build), GENERATOR (as for relay.sh), RTPENGINE
# (default 0). Needs perf with the syscalls:* tracepoints (root, or perf_event_paranoid ≤ -1).
set -euo pipefail
BENCH="$(cd "$(dirname "$0")" && pwd)"
N="${N:-200}"
WINDOW="${WINDOW:-5}"
DELAY="${DELAY:-6}"
RTPENGINE="${RTPENGINE:-0}"
SCRATCH="$(mktemp -d /tmp/onestatus-relay-syscalls.XXXXXX)"
trap 'rm -rf "$SCRATCH"' EXIT

# No direct floor: only the relays are counted.
CALLS="$N" SECS=$((DELAY + WINDOW + 4)) DIRECT=0 RTPENGINE="$RTPENGINE" \
    RESULTS_FILE="$SCRATCH/row.md" bash "$BENCH/relay.sh" 2>"$SCRATCH/relay.log" &
RUN=$!

# child PATTERN: the pid of relay.sh's child process matching PATTERN, waited for (bounded).
child() {
    local pid=""
    for _ in $(seq 1200); do
        pid="$(pgrep -P "$RUN" -f "$1" | head -1 || true)"
        [ -n "$pid" ] && break
        kill -0 "$RUN" 2>/dev/null || break
        sleep 0.5
    done
    [ -n "$pid" ] || { echo "no '$1' started; see the log:" >&2; cat "$SCRATCH/relay.log" >&2; exit 1; }
    echo "$pid"
}

# count NAME FILE: one counter of a perf CSV.
count() { awk -F, -v e="$1" '$3 == e {print $1 + 0; f=1} END {if (!f) print 0}' "$2"; }

# measure NAME PID: counts PID's syscalls over the window; prints the row.
measure() {
    local name="$1" pid="$2" csv="$SCRATCH/$1.csv" events load
    sleep "$DELAY"
    load="$(cut -d' ' -f1-3 /proc/loadavg)"
    events="task-clock,context-switches,raw_syscalls:sys_enter,net:net_dev_xmit"
    for call in sendto sendmsg sendmmsg recvfrom recvmsg recvmmsg epoll_wait epoll_pwait futex; do
        events="$events,syscalls:sys_enter_$call"
    done
    perf stat -x, -o "$csv" -e "$events" -p "$pid" -- sleep "$WINDOW"
    # Datagrams relayed: packets the process handed to the loopback device (net_dev_xmit
    # fires in the sender's context, once per datagram: one sendto, sendmsg or each message
    # of a sendmmsg alike). SIP's few messages in the window are included.
    local datagrams
    datagrams="$(count net:net_dev_xmit "$csv")"
    [ "$datagrams" -gt 0 ] || datagrams=1
    per() { awk -v a="$1" -v d="$datagrams" 'BEGIN {printf "%.3f", a / d}'; }
    local task_ms nominal row
    task_ms="$(count task-clock "$csv")"
    nominal=$((2 * N * 50 * WINDOW))
    row="$name, N=$N calls, ${WINDOW} s window, $datagrams datagrams relayed (nominal N·2·50/s: $nominal): syscalls/datagram $(per "$(count raw_syscalls:sys_enter "$csv")")"
    row="$row (sendto $(per "$(count syscalls:sys_enter_sendto "$csv")"), sendmsg $(per "$(count syscalls:sys_enter_sendmsg "$csv")"), sendmmsg $(per "$(count syscalls:sys_enter_sendmmsg "$csv")"), recvfrom $(per "$(count syscalls:sys_enter_recvfrom "$csv")"), recvmsg $(per "$(count syscalls:sys_enter_recvmsg "$csv")"), recvmmsg $(per "$(count syscalls:sys_enter_recvmmsg "$csv")"), epoll_wait $(per "$(( $(count syscalls:sys_enter_epoll_wait "$csv") + $(count syscalls:sys_enter_epoll_pwait "$csv") ))"), futex $(per "$(count syscalls:sys_enter_futex "$csv")"))"
    row="$row; context switches/datagram $(per "$(count context-switches "$csv")")"
    row="$row; CPU $(awk -v t="$task_ms" -v d="$datagrams" 'BEGIN {printf "%.2f", 1000 * t / d}') µs/datagram; load average $load"
    echo "$row"
}

# The server is "$ONESTATUS serve" (whatever the binary's file is called).
pid="$(child " serve$")" || exit 1
measure onestatus "$pid"
if [ "$RTPENGINE" != 0 ]; then
    pid="$(child "^rtpengine --config-file")" || exit 1
    measure "rtpengine $(rtpengine --version 2>&1 | awk '{print $2}') userspace" "$pid"
fi
wait "$RUN" || { echo "relay.sh failed:" >&2; tail -20 "$SCRATCH/relay.log" >&2; exit 1; }
echo "relay.sh row: $(tail -1 "$SCRATCH/row.md" 2>/dev/null)" >&2
