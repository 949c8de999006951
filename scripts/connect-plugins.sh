#!/usr/bin/env bash
# Builds pipechaos's own Kafka Connect plugins (java/smt: the header router,
# fixed and buggy, the line sink and the small S3 sink) with Maven (`mvn -q
# package`, tests skipped: `make smt-test` runs them) into
#   $PIPECHAOS_CACHE/connect-plugins/<hash>/pipechaos-smt/pipechaos-connect-smt-1.jar
# with its runtime dependencies (the AWS SDK's S3 client) beside it
# and prints $PIPECHAOS_CACHE/connect-plugins/<hash>, a directory to give a
# worker as its plugin.path (each plugin in a directory of its own). <hash>
# is the sha256 of java/smt's sources and pom: unchanged sources are built
# once. The build runs in a copy, so the work tree gets no target/.
#
# Environment: PIPECHAOS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/pipechaos), MVN (default mvn).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/java/smt"
CACHE="${PIPECHAOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pipechaos}"
MVN="${MVN:-mvn}"
hash="$(cd "$src" && find pom.xml src -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)"
dist="$CACHE/connect-plugins/$hash"
if [ -f "$dist/.complete" ]; then
	echo "$dist"
	exit 0
fi
command -v "$MVN" >/dev/null 2>&1 || { echo "connect-plugins: Maven ($MVN) is not installed; install it (apt-get install maven) or set MVN" >&2; exit 1; }
start=$SECONDS
mkdir -p "$CACHE/connect-plugins"
tmp="$(mktemp -d "$CACHE/connect-plugins/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/pom.xml" "$src/src" "$tmp/"
(cd "$tmp" && "$MVN" -q -B package dependency:copy-dependencies -DskipTests -DincludeScope=runtime -DoutputDirectory="$tmp/out/pipechaos-smt") >&2 || {
	echo "connect-plugins: mvn package failed for $src" >&2
	exit 1
}
cp "$tmp"/target/pipechaos-connect-smt-*.jar "$tmp/out/pipechaos-smt/"
touch "$tmp/out/.complete"
rm -rf "$dist"
mv "$tmp/out" "$dist"
echo "connect-plugins: built $(ls "$dist/pipechaos-smt") into $dist in $((SECONDS - start))s" >&2
echo "$dist"
