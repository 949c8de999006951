#!/usr/bin/env bash
# Builds the MinIO server binary from source once (CGO_ENABLED=0, about six
# minutes on two cores) into $PIPECHAOS_CACHE/bin/minio-<version> and prints
# its path; an existing binary is reused. images/build.sh copies it into
# pipechaos/minio; the nodes backend runs it as a process.
#
# Environment: PIPECHAOS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/pipechaos), GO (default go).
set -euo pipefail
GO="${GO:-go}"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
CACHE="${PIPECHAOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pipechaos}"
bin="$CACHE/bin/minio-$MINIO_VERSION"
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
mkdir -p "$CACHE/bin"
gobin="$(mktemp -d)"
trap 'rm -rf "$gobin"' EXIT
start=$SECONDS
echo "minio: building github.com/minio/minio@$MINIO_VERSION from source (about six minutes, once)" >&2
(cd "$gobin" && CGO_ENABLED=0 GOBIN="$gobin" GOFLAGS=-buildvcs=false "$GO" install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION") >&2
mv "$gobin/minio" "$bin.tmp.$$" && mv "$bin.tmp.$$" "$bin"
echo "minio: built $bin in $((SECONDS - start))s" >&2
echo "$bin"
