#!/usr/bin/env bash
# Resolves the Apache Kafka distribution pinned in java/kafka-dist/pom.xml
# with Maven (dependency:copy-dependencies, runtime scope) into
#   $PIPECHAOS_CACHE/kafka-dist/<hash>/libs
# and prints that directory's parent. <hash> is the sha256 of the pom and the
# log4j2 configuration: an unchanged pom is resolved once and reused, a
# changed one gets a directory of its own. The log4j2 configuration is copied
# beside libs/ as log4j2.properties.
#
# Environment: PIPECHAOS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/pipechaos), MVN (default mvn).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/java/kafka-dist"
CACHE="${PIPECHAOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pipechaos}"
MVN="${MVN:-mvn}"
hash="$(cat "$src/pom.xml" "$src/log4j2.properties" | sha256sum | cut -c1-16)"
dist="$CACHE/kafka-dist/$hash"
if [ -f "$dist/.complete" ]; then
	echo "$dist"
	exit 0
fi
command -v "$MVN" >/dev/null 2>&1 || { echo "kafka-dist: Maven ($MVN) is not installed; install it (apt-get install maven) or set MVN" >&2; exit 1; }
start=$SECONDS
tmp="$(mktemp -d "$CACHE/kafka-dist.XXXXXX" 2>/dev/null || { mkdir -p "$CACHE" && mktemp -d "$CACHE/kafka-dist.XXXXXX"; })"
trap 'rm -rf "$tmp"' EXIT
(cd "$src" && "$MVN" -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs") >&2 || {
	echo "kafka-dist: mvn dependency:copy-dependencies failed for $src/pom.xml" >&2
	exit 1
}
cp "$src/log4j2.properties" "$tmp/log4j2.properties"
touch "$tmp/.complete"
mkdir -p "$CACHE/kafka-dist"
rm -rf "$dist"
mv "$tmp" "$dist"
trap - EXIT
echo "kafka-dist: resolved $(ls "$dist/libs" | wc -l) jars into $dist in $((SECONDS - start))s" >&2
echo "$dist"
