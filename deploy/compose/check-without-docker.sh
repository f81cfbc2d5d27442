#!/usr/bin/env bash
# Runs the topology of compose.yaml without Docker, to check the file where no Docker daemon
# runs (the development machines): each service's environment and command are read from
# compose.yaml, the image's environment and health check from ../container/Containerfile, the
# network 172.28.0.0/24 is mapped to 127.28.0.0/24 on loopback (Linux answers on all of
# 127/8), PostgreSQL is the local one (PG, default postgres://postgres@127.0.0.1:5432, trust;
# a fresh database, dropped at the end). Then four calls go through Kamailio and must be
# answered, by both nodes.
#
# Usage: bash deploy/compose/check-without-docker.sh [path/to/onestatus]
#   (default: $CARGO_TARGET_DIR/debug/onestatus, else target/debug/onestatus)
# Needs: python3 with PyYAML (Debian python3-yaml), kamailio, sipp, psql, curl; run as root
# (Kamailio binds, then drops to the kamailio user, as in the image).
# What it cannot check: the image builds themselves and Docker's networking.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${1:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/onestatus}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
WORK="$(mktemp -d /tmp/onestatus-compose-check.XXXXXX)"
DB="onestatus_compose_check_$$"
PIDS=()
finish() {
    local status=$?
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null; done
    pkill -f "sipp -sf $ROOT/benches/sipp/uas_answer.xml -i 127.28.0.1 " 2>/dev/null
    sleep 1
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    if [ "$status" = 0 ]; then rm -rf "$WORK"; else echo "logs kept in $WORK" >&2; fi
    exit "$status"
}
trap finish EXIT
[ -x "$BIN" ] || { echo "no onestatus binary at $BIN (cargo build first)" >&2; exit 1; }

# compose SERVICE env|command: the service's environment (KEY=VALUE lines, addresses mapped)
# or command (one word a line) from compose.yaml, YAML merge keys resolved.
compose() {
    python3 - "$HERE/compose.yaml" "$1" "$2" <<'PY'
import sys, yaml
service = yaml.safe_load(open(sys.argv[1]))["services"][sys.argv[2]]
if sys.argv[3] == "env":
    for key, value in service.get("environment", {}).items():
        print(f"{key}={str(value).replace('172.28.0.', '127.28.0.')}")
else:
    for word in service.get("command", []):
        print(word.replace("172.28.0.", "127.28.0."))
PY
}
# The image's ENV and health check, from the Containerfile.
image_env() {
    sed -n '/^ENV /,/^[A-Z]/p' "$ROOT/deploy/container/Containerfile" |
        grep -o 'ONESTATUS_[A-Z_]*=[^ ]*\|RUST_LOG=[^ ]*'
}
HEALTH="$(grep -o 'exec 3<>.*\]"\]' "$ROOT/deploy/container/Containerfile" |
    sed 's/"\]$//; s/\\"/"/g; s/\\\\r\\\\n/\\r\\n/g')"

psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null

# start_node SERVICE ADDRESS: the node as its container would run it, until its health check
# passes (60 s at most).
start_node() {
    local service="$1" address="$2" env=() args=()
    while IFS= read -r line; do env+=("$line"); done < <(image_env; compose "$service" env)
    while IFS= read -r word; do args+=("$word"); done < <(compose "$service" command)
    [ "${#args[@]}" -gt 0 ] || args=(serve --config /etc/onestatus/onestatus.toml)
    # The image's paths and listeners, mapped to this machine.
    env+=("ONESTATUS_DATA_DIR=$WORK/$service" "ONESTATUS_PROMPT_DIR=$ROOT/prompts"
        "ONESTATUS_HTTP_LISTEN=$address:8080" "ONESTATUS_DATABASE_URL=$PG/$DB")
    args=("${args[@]//\/etc\/onestatus\/onestatus.toml/$ROOT/config/onestatus.toml}")
    echo "$service: ${env[*]} onestatus ${args[*]}" >&2
    env -i PATH="$PATH" "${env[@]}" "$BIN" "${args[@]}" >"$WORK/$service.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 60); do
        if bash -c "${HEALTH//127.0.0.1/$address}" 2>/dev/null; then
            echo "$service: healthy" >&2
            return 0
        fi
        sleep 1
    done
    echo "$service: never healthy; its log:" >&2
    tail -20 "$WORK/$service.log" >&2
    return 1
}
start_node node-a 127.28.0.11
start_node node-b 127.28.0.12

# Kamailio as the image runs it, with the mounted files at their places here.
sed 's/172\.28\.0\./127.28.0./' "$HERE/dispatcher.list" >"$WORK/dispatcher.list"
KAMAILIO_ARGS=()
while IFS= read -r word; do
    KAMAILIO_ARGS+=("${word//\/etc\/kamailio\/onestatus.cfg/$ROOT/deploy/kamailio/kamailio.cfg}")
done < <(compose kamailio command)
echo "kamailio: ${KAMAILIO_ARGS[*]}" >&2
# The runtime dir and the list must be the kamailio user's to reach once it drops root.
chmod 755 "$WORK"
mkdir -p "$WORK/run"
chown kamailio:kamailio "$WORK/run"
kamailio -DD -E -u kamailio -g kamailio -Y "$WORK/run" "${KAMAILIO_ARGS[@]}" \
    -A "DISPATCHER_LIST=\"$WORK/dispatcher.list\"" >"$WORK/kamailio.log" 2>&1 &
PIDS+=($!)
sleep 4  # the dispatcher's first OPTIONS probes

# Four calls from "the Docker host" (127.28.0.1) through Kamailio to a population bound to a
# SIPp UAS there.
ONESTATUS_DATABASE_URL="$PG/$DB" ONESTATUS_DATA_DIR="$WORK/populate" "$BIN" org populate \
    --code 200 --users 4 --static-contact 127.28.0.1:5090 >"$WORK/pop.body"
{ echo SEQUENTIAL; cat "$WORK/pop.body"; } >"$WORK/pop.csv"
sipp -sf "$ROOT/benches/sipp/uas_answer.xml" -i 127.28.0.1 -p 5090 -bg -nostdin \
    >"$WORK/uas.log" 2>&1 || true  # -bg: the parent exits 99
sleep 0.5
timeout 90 sipp -sf "$ROOT/benches/sipp/uac_call.xml" -inf "$WORK/pop.csv" -i 127.28.0.1 \
    -p 5092 -r 2 -m 4 -nostdin -timeout 60s -timeout_error -recv_timeout 8000 \
    127.28.0.10:5060 >"$WORK/uac.log" 2>&1 || { echo "calls through Kamailio failed" >&2; exit 1; }
sleep 1
answered() {
    curl -sf "http://$1:8080/metrics" | awk '/outcome="answered"/ {print $2}'
}
A="$(answered 127.28.0.11)" B="$(answered 127.28.0.12)"
echo "4 calls through Kamailio answered: node-a $A, node-b $B" >&2
[ "${A:-0}" -gt 0 ] && [ "${B:-0}" -gt 0 ] || { echo "not both nodes carried calls" >&2; exit 1; }
echo "compose topology: OK" >&2
