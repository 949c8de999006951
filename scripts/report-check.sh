#!/usr/bin/env bash
# report-check: render the recorded runs in reports/testdata into HTML, open
# the report in headless Chromium, screenshot it and check that the picture
# shows a drawn timeline (non-white and saturated pixels where the timeline
# is). Installs Debian's chromium package if it is missing (needs root or
# sudo). Not part of `make test`: it needs a browser.
#
#   make report-check            # or: scripts/report-check.sh [out-dir]
#
# Leaves out/report-check/{index.html,<scenario>-<variant>/report.html,timeline.png};
# the screenshot is of store-outage-buggy (three store faults shaded, every panel).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out/report-check}"
GO="${GO:-go}"

browser=""
for b in chromium chromium-browser; do
	if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [ -z "$browser" ]; then
	echo "report-check: chromium is not installed; installing Debian's chromium package"
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null 2>&1 || { echo "report-check: need root or sudo to apt-get install chromium" >&2; exit 1; }
		sudo="sudo"
	fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
	browser=chromium
fi

rm -rf "$out"
mkdir -p "$out"
"$GO" run ./reports/internal/reportcheck render "$out" reports/testdata/*.json.gz
page="$(cd "$out" && pwd)/store-outage-buggy/report.html"
png="$out/timeline.png"
# --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
	--window-size=1100,1500 --screenshot="$png" "file://$page" >"$out/chromium.log" 2>&1 || {
	echo "report-check: chromium failed to screenshot $page; its log:" >&2
	cat "$out/chromium.log" >&2
	exit 1
}
"$GO" run ./reports/internal/reportcheck png "$png"
echo "report-check: screenshot at $png"
