#!/usr/bin/env bash
# The media engine's cost per datagram in figures the machine's load does not change: system
# calls, context switches and CPU time of the server, counted by the kernel (`perf stat` on
# syscall tracepoints) over WINDOW seconds in the middle of a voicemail run of N callers, while
# every caller is speaking (so RTP flows both ways: N·50 datagrams a second each way).
# benches/voicemail.sh makes the calls; its row goes to a scratch file, not RESULTS.md. Prints
# one markdown row for RESULTS.md (the CPU column still depends on the load: read it beside
# `uptime`, the counts do not).
#
# Usage: N=200 WINDOW=5 bash benches/media_syscalls.sh
# Knobs: N (callers, default 200), WINDOW (seconds counted, default 5), DELAY (seconds from the
# start to the window, default 14: ramp, greeting and beep are over), ONESTATUS_BIN (binary
# under test, else the release build), GENERATOR (as for voicemail.sh).
# Needs perf with the syscalls:* tracepoints (root, or perf_event_paranoid ≤ -1).
set -euo pipefail
BENCH="$(cd "$(dirname "$0")" && pwd)"
N="${N:-200}"
WINDOW="${WINDOW:-5}"
DELAY="${DELAY:-14}"
SCRATCH="$(mktemp -d /tmp/onestatus-syscalls.XXXXXX)"
trap 'rm -rf "$SCRATCH"' EXIT

CURVE="$N" SPEECH_SECS=$((DELAY + WINDOW + 6)) RESULTS_FILE="$SCRATCH/row.md" \
    bash "$BENCH/voicemail.sh" 2>"$SCRATCH/voicemail.log" &
VM=$!
# The server is voicemail.sh's own child (start_onestatus; `org populate` runs first), bounded.
SERVER=""
for _ in $(seq 600); do
    SERVER="$(pgrep -P "$VM" -f "onestatus serve" | head -1 || true)"
    [ -n "$SERVER" ] && break
    sleep 0.5
done
[ -n "$SERVER" ] || { echo "no server started; see $SCRATCH/voicemail.log" >&2; cat "$SCRATCH/voicemail.log" >&2; exit 1; }
sleep "$DELAY"
load="$(cut -d' ' -f1-3 /proc/loadavg)"
events="task-clock,context-switches,raw_syscalls:sys_enter"
for call in sendto sendmsg sendmmsg recvfrom recvmsg recvmmsg epoll_wait epoll_pwait futex sched_yield; do
    events="$events,syscalls:sys_enter_$call"
done
perf stat -x, -o "$SCRATCH/perf.csv" -e "$events" \
    -e syscalls:sys_exit_recvfrom --filter 'ret < 0' -p "$SERVER" -- sleep "$WINDOW"
wait "$VM" || true

count() { awk -F, -v e="$1" '$3 == e {print $1 + 0; f=1} END {if (!f) print 0}' "$SCRATCH/perf.csv"; }
nominal=$((2 * N * 50 * WINDOW))
# What the server really moved: the datagrams it sent (one per sendto/sendmsg; SIP's few
# included) and as many received (while everyone speaks both directions run at 50/s a call).
# A server that falls behind moves fewer than nominal; the figures are per datagram moved.
datagrams=$(( 2 * ($(count syscalls:sys_enter_sendto) + $(count syscalls:sys_enter_sendmsg)) ))
[ "$datagrams" -gt 0 ] || datagrams=1
task_ms="$(count task-clock)"
per() { awk -v a="$1" -v d="$datagrams" 'BEGIN {printf "%.3f", a / d}'; }
total="$(count raw_syscalls:sys_enter)"
recv_empty="$(count syscalls:sys_exit_recvfrom)"
row="N=$N, ${WINDOW} s window, $datagrams datagrams moved (nominal N·50/s each way: $nominal): syscalls/datagram $(per "$total")"
row="$row (sendto $(per "$(count syscalls:sys_enter_sendto)"), recvfrom $(per "$(count syscalls:sys_enter_recvfrom)") of which empty $(per "$recv_empty"), recvmmsg $(per "$(count syscalls:sys_enter_recvmmsg)"), sendmmsg $(per "$(count syscalls:sys_enter_sendmmsg)"), epoll_wait $(per "$(( $(count syscalls:sys_enter_epoll_wait) + $(count syscalls:sys_enter_epoll_pwait) ))"), futex $(per "$(count syscalls:sys_enter_futex)"), sched_yield $(per "$(count syscalls:sys_enter_sched_yield)"))"
row="$row; context switches/datagram $(per "$(count context-switches)")"
row="$row; server CPU $(awk -v t="$task_ms" -v d="$datagrams" 'BEGIN {printf "%.2f", 1000 * t / d}') µs/datagram = $(awk -v t="$task_ms" -v w="$WINDOW" -v n="$N" 'BEGIN {printf "%.2f", t / 1000 / w / n * 1000}') cores per 1,000 calls"
row="$row; load average $load"
echo "$row"
echo "voicemail.sh row: $(tail -1 "$SCRATCH/row.md" 2>/dev/null)" >&2
