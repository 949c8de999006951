#!/usr/bin/env bash
# Builds the pipechaos container images from FROM-scratch Dockerfiles and
# static (CGO_ENABLED=0) Go binaries. Needs a Docker engine and the Go module
# proxy, nothing else: no base image is pulled, no registry is contacted.
#
#   images/build.sh              build every image whose main exists
#   images/build.sh kafka minio  build only these
#
# An image is rebuilt only when its content changes: each image carries the
# label pipechaos.content-hash (sha256 of its Dockerfile and binary), and a
# build whose hash matches the existing image is skipped.
#
# MinIO is built from source at MINIO_VERSION, which takes ~6 minutes on two
# cores; the binary is cached in $PIPECHAOS_CACHE/bin/minio-<version>
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/pipechaos) and reused.
#
# Environment: PIPECHAOS_IMAGE_TAG (default dev), PIPECHAOS_CACHE, GO (default go).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
GO="${GO:-go}"
TAG="${PIPECHAOS_IMAGE_TAG:-dev}"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
CACHE="${PIPECHAOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pipechaos}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

if ! docker info >/dev/null 2>&1; then
	echo "images: the Docker engine is not reachable (docker info failed); start it or set DOCKER_HOST" >&2
	exit 1
fi
# Without the buildx plugin, BuildKit cannot run: use the classic builder.
if ! docker buildx version >/dev/null 2>&1; then
	export DOCKER_BUILDKIT=0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT


# image NAME CONTEXT_DIR: build pipechaos/NAME:TAG from CONTEXT_DIR unless
# the content hash matches the existing image.
image() {
	local name="$1" ctx="$2" ref="pipechaos/$1:$TAG" hash have start
	hash="$(cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | awk '{print $1}')"
	have="$(docker image inspect -f '{{index .Config.Labels "pipechaos.content-hash"}}' "$ref" 2>/dev/null || true)"
	if [ "$have" = "$hash" ]; then
		echo "images: $ref is up to date (${hash:0:12})"
		return
	fi
	start=$SECONDS
	docker build -q --label "pipechaos.content-hash=$hash" --label "pipechaos.image=$name" -t "$ref" "$ctx" >/dev/null 2> >(grep -v -e DEPRECATED -e 'legacy builder' -e BuildKit -e DOCKER_BUILDKIT -e '^ *$' -e 'environment-variable' >&2)
	echo "images: built $ref (${hash:0:12}) in $((SECONDS - start))s"
}

# gobin PKG OUT: a static, reproducible binary (same source → same bytes →
# same content hash).
gobin() {
	(cd "$root" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w" -o "$2" "$1")
}

build_kafka() {
	local ctx="$work/kafka"
	mkdir -p "$ctx"
	cp "$here/kafka/Dockerfile" "$ctx/"
	gobin ./fakes/kafka/cmd/pipechaos-kafka "$ctx/pipechaos-kafka"
	image kafka "$ctx"
}

build_registry() {
	local ctx="$work/registry"
	mkdir -p "$ctx"
	cp "$here/registry/Dockerfile" "$ctx/"
	gobin ./fakes/registry/cmd/pipechaos-registry "$ctx/pipechaos-registry"
	image registry "$ctx"
}

build_s3sink() {
	local ctx="$work/s3sink"
	mkdir -p "$ctx"
	cp "$here/s3sink/Dockerfile" "$ctx/"
	gobin ./connectors/s3sink/cmd/pipechaos-s3sink "$ctx/pipechaos-s3sink"
	image s3sink "$ctx"
}

minio_binary() {
	local bin="$CACHE/bin/minio-$MINIO_VERSION" gobin start
	if [ -x "$bin" ]; then
		echo "$bin"
		return
	fi
	mkdir -p "$CACHE/bin"
	gobin="$(mktemp -d "$CACHE/bin/.build.XXXXXX")"
	echo "images: building MinIO $MINIO_VERSION from source (about 6 minutes on 2 cores; cached afterwards in $bin)" >&2
	start=$SECONDS
	(cd "$gobin" && CGO_ENABLED=0 GOBIN="$gobin" GOFLAGS=-buildvcs=false "$GO" install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION") >&2
	mv "$gobin/minio" "$bin.tmp.$$" && mv "$bin.tmp.$$" "$bin"
	rm -rf "$gobin"
	echo "images: MinIO built in $((SECONDS - start))s" >&2
	echo "$bin"
}

build_minio() {
	local ctx="$work/minio" bin
	bin="$(minio_binary)"
	mkdir -p "$ctx/tmp"
	touch "$ctx/tmp/.keep"
	cp "$here/minio/Dockerfile" "$ctx/"
	cp "$bin" "$ctx/minio"
	image minio "$ctx"
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	targets=(kafka minio)
	if compgen -G "$root/fakes/registry/cmd/pipechaos-registry/*.go" >/dev/null; then targets+=(registry); fi
	if compgen -G "$root/connectors/s3sink/cmd/pipechaos-s3sink/*.go" >/dev/null && [ -f "$here/s3sink/Dockerfile" ]; then targets+=(s3sink); fi
fi
for t in "${targets[@]}"; do
	case "$t" in
	kafka | registry | minio | s3sink) "build_$t" ;;
	*)
		echo "images: unknown image $t (kafka, registry, minio, s3sink)" >&2
		exit 2
		;;
	esac
done
