#!/usr/bin/env bash
# explore-check: the long explorations `go test` leaves out, with their
# claims checked. Installs Debian's chromium if it is missing (as
# report-check does). Not part of `make test`.
#
#  1. pipechaos explore against s3sink's commit-before-write variant, a
#     5-minute budget: it must find lost records, confirmed, in ≤ 3 steps,
#     and write the regression file;
#  2. pipechaos replay of that file, 10 times: the reproduction rate is
#     printed and must be ≥ 8 of 10;
#  3. pipechaos explore against the fixed s3sink, 80 schedules: none
#     Illegal, ≥ 50 Ok, the kill-between-PUT-and-commit point hit;
#  4. the buggy exploration's report screenshot in headless Chromium, with
#     the minimal schedule drawn on its timeline.
#
#   make explore-check      # or: scripts/explore-check.sh [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out/explore-check}"
GO="${GO:-go}"
rm -rf "$out"
mkdir -p "$out"
"$GO" build -o "$out/pipechaos" ./cmd/pipechaos
"$GO" build -o "$out/explorecheck" ./reports/internal/explorecheck

echo "== 1. explore the commit-before-write sink (budget 5m)"
start=$(date +%s)
"$out/pipechaos" explore --sink s3sink-commit-before-write --seed "${SEED:-1}" --time 5m \
	--out "$out/buggy" --report "$out/buggy" | tee "$out/buggy.log" || true
echo "explore took $(( $(date +%s) - start ))s"
file="$("$out/explorecheck" finding "$out/buggy/explore.json" 3)"

echo "== 2. replay $file 10 times"
"$out/pipechaos" replay "$file" --times 10 | tee "$out/replay.log" || true
n="$(sed -n 's/^reproduced \([0-9]*\) of 10.*/\1/p' "$out/replay.log")"
if [ -z "$n" ] || [ "$n" -lt 8 ]; then
	echo "explore-check: the regression file reproduced in ${n:-0} of 10 replays (want ≥ 8)" >&2
	exit 1
fi

echo "== 3. explore the fixed sink (80 schedules)"
"$out/pipechaos" explore --sink s3sink --seed "${SEED:-7}" --runs 80 --keep-going \
	--out "$out/fixed" --report "$out/fixed" | tee "$out/fixed.log"
"$out/explorecheck" fixed "$out/fixed/explore.json" 50 sink-kill put-uncommitted

echo "== 4. screenshot the explore report"
browser=""
for b in chromium chromium-browser; do
	if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [ -z "$browser" ]; then
	sudo=""
	[ "$(id -u)" != 0 ] && sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
	browser=chromium
fi
page="$(cd "$out/buggy" && pwd)/explore.html"
# --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
	--window-size=1100,1500 --screenshot="$out/explore.png" "file://$page" >"$out/chromium.log" 2>&1 || {
	cat "$out/chromium.log" >&2
	exit 1
}
"$out/explorecheck" png "$out/explore.png"
echo "explore-check: ok (reports: $out/buggy/explore.html, $out/fixed/explore.html)"
