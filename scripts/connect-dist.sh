#!/usr/bin/env bash
# Resolves the Kafka Connect worker pinned in java/connect-dist/pom.xml with
# Maven (dependency:copy-dependencies, runtime scope) into
#   $PIPECHAOS_CACHE/connect-dist/<hash>/libs
# and prints that directory's parent, as scripts/kafka-dist.sh does for the
# broker. <hash> is the sha256 of the pom and the log4j2 configuration: an
# unchanged pom is resolved once and reused. The log4j2 configuration is
# copied beside libs/ as log4j2.properties.
#
# Environment: PIPECHAOS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/pipechaos), MVN (default mvn).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/java/connect-dist"
CACHE="${PIPECHAOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pipechaos}"
MVN="${MVN:-mvn}"
hash="$(cat "$src/pom.xml" "$src/log4j2.properties" | sha256sum | cut -c1-16)"
dist="$CACHE/connect-dist/$hash"
if [ -f "$dist/.complete" ]; then
	echo "$dist"
	exit 0
fi
command -v "$MVN" >/dev/null 2>&1 || { echo "connect-dist: Maven ($MVN) is not installed; install it (apt-get install maven) or set MVN" >&2; exit 1; }
start=$SECONDS
mkdir -p "$CACHE/connect-dist"
tmp="$(mktemp -d "$CACHE/connect-dist/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
(cd "$src" && "$MVN" -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs") >&2 || {
	echo "connect-dist: mvn dependency:copy-dependencies failed for $src/pom.xml" >&2
	exit 1
}
cp "$src/log4j2.properties" "$tmp/log4j2.properties"
touch "$tmp/.complete"
rm -rf "$dist"
mv "$tmp" "$dist"
trap - EXIT
echo "connect-dist: resolved $(ls "$dist/libs" | wc -l) jars into $dist in $((SECONDS - start))s" >&2
echo "$dist"
