#!/usr/bin/env bash
# kcat-check: `pipechaos up` serves real Kafka clients. Starts the embedded
# environment, produces keyed messages with kcat (Debian package `kcat`,
# installed if missing, needs root or sudo) to the printed bootstrap servers,
# consumes them back with kcat, compares, and tears the environment down
# with Ctrl-C (SIGINT), expecting a clean exit.
#
#   scripts/kcat-check.sh          (PIPECHAOS_BIN=path checks a built binary)
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"

if ! command -v kcat >/dev/null 2>&1; then
	echo "kcat-check: kcat is not installed; installing Debian's kcat package"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq kcat >/dev/null
fi

work="$(mktemp -d)"
bin="${PIPECHAOS_BIN:-}" # a pipechaos binary to check instead of building one
if [ -z "$bin" ]; then
	bin="$work/pipechaos"
	"$GO" build -o "$bin" ./cmd/pipechaos
fi
"$bin" up --topics events:3 --env-file "$work/env" >"$work/up.out" 2>"$work/up.err" &
up=$!
cleanup() {
	kill -INT "$up" 2>/dev/null || true
	wait "$up" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# Wait for the environment (the env file appears once everything is ready).
for _ in $(seq 1 300); do
	[ -f "$work/env" ] && break
	kill -0 "$up" 2>/dev/null || { echo "kcat-check: pipechaos up exited early:" >&2; cat "$work/up.err" >&2; exit 1; }
	sleep 0.1
done
[ -f "$work/env" ] || { echo "kcat-check: pipechaos up was not ready within 30s" >&2; cat "$work/up.err" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/env"
echo "kcat-check: environment up; primary bootstrap $PIPECHAOS_PRIMARY_BOOTSTRAP"

n=100
for i in $(seq 1 "$n"); do echo "key-$((i % 7)):message-$i"; done >"$work/sent"
kcat -P -b "$PIPECHAOS_PRIMARY_BOOTSTRAP" -t events -K: -z none <"$work/sent"
echo "kcat-check: produced $n messages with kcat"
kcat -C -b "$PIPECHAOS_PRIMARY_BOOTSTRAP" -t events -o beginning -e -q -f '%k:%s\n' >"$work/got"
got=$(wc -l <"$work/got")
if ! diff <(sort "$work/sent") <(sort "$work/got") >/dev/null; then
	echo "kcat-check: FAIL: consumed $got messages, not the $n produced" >&2
	diff <(sort "$work/sent") <(sort "$work/got") | head >&2
	exit 1
fi
echo "kcat-check: consumed all $n messages back with kcat (keys and values match)"
kcat -L -b "$PIPECHAOS_PRIMARY_BOOTSTRAP" -t events | grep -E "partitions?:|broker" | head -5

kill -INT "$up"
if wait "$up"; then
	echo "kcat-check: pipechaos up tore down cleanly on Ctrl-C"
else
	echo "kcat-check: FAIL: pipechaos up exited $? on Ctrl-C" >&2
	cat "$work/up.err" >&2
	exit 1
fi
trap 'rm -rf "$work"' EXIT
echo "kcat-check: ok"
