#!/usr/bin/env bash
# Builds the pipechaos container images from FROM-scratch Dockerfiles and
# static (CGO_ENABLED=0) Go binaries. Needs a Docker engine and the Go module
# proxy, nothing else: no base image is pulled, no registry is contacted.
# The real Kafka image (apache-kafka) stands on a JRE base made here with
# debootstrap from this machine's Debian archive (debian-jre) and takes its
# jars from Maven Central through scripts/kafka-dist.sh.
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

# debian_source: "MIRROR SUITE" of this machine's Debian archive, read from
# its apt configuration at run time (deb822 .sources first, then
# sources.list); the security and updates suites are skipped.
debian_source() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			/^[[:space:]]*$/ { flush(); next }
			/^#/ { next }
			{ k = tolower($1); sub(/:$/, "", k); $1 = ""; sub(/^ +/, ""); v[k] = $0 }
			END { flush() }
			function flush() {
				if (!done && v["types"] ~ /(^| )deb( |$)/ && v["uris"] != "" && v["enabled"] != "no") {
					split(v["uris"], u, " "); n = split(v["suites"], s, " ")
					for (i = 1; i <= n; i++) if (s[i] !~ /-(security|updates|backports)$/ && s[i] !~ /\//) { print u[1], s[i]; done = 1; break }
				}
				delete v
			}' "$f" | head -1
	done | head -1 | grep . && return
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($2 ~ /^\[/) i++; if ($(i+1) !~ /-(security|updates|backports)$/) { print $i, $(i+1); exit } }' "$f"
	done | head -1 | grep . && return
	echo "images: no Debian archive found in this machine's apt configuration (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list)" >&2
	return 1
}

# The JRE base: a minimal Debian root filesystem made by debootstrap with
# Debian's headless OpenJDK 17, imported as pipechaos/debian-jre. Its
# inputs are the suite, the mirror, the package list and the recipe
# (debian_rootfs); the rootfs tarball is cached per input hash in
# $CACHE/debian-jre, so the image is re-imported (seconds) rather than
# rebuilt when it went missing.
DEBIAN_JRE_PACKAGES="openjdk-17-jre-headless"
build_debian-jre() {
	local ref="pipechaos/debian-jre:$TAG" src mirror suite hash have tarball rootfs start
	src="$(debian_source)" || exit 1
	read -r mirror suite <<<"$src"
	hash="$( { echo "$suite $mirror $DEBIAN_JRE_PACKAGES"; declare -f debian_rootfs; } | sha256sum | awk '{print $1}')"
	have="$(docker image inspect -f '{{index .Config.Labels "pipechaos.content-hash"}}' "$ref" 2>/dev/null || true)"
	if [ "$have" = "$hash" ]; then
		echo "images: $ref is up to date (${hash:0:12})"
		return
	fi
	tarball="$CACHE/debian-jre/${hash:0:16}.tar"
	start=$SECONDS
	if [ ! -f "$tarball" ]; then
		[ "$(id -u)" = 0 ] || { echo "images: building $ref runs debootstrap and chroot, which need root" >&2; exit 1; }
		if ! command -v debootstrap >/dev/null 2>&1; then
			echo "images: installing debootstrap from Debian's packages" >&2
			apt-get install -y -q debootstrap >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q debootstrap >/dev/null; } ||
				{ echo "images: debootstrap is not installed and apt-get install debootstrap failed; install it" >&2; exit 1; }
		fi
		mkdir -p "$CACHE/debian-jre"
		rootfs="$(mktemp -d "$CACHE/debian-jre/.rootfs.XXXXXX")"
		echo "images: building the $suite root filesystem with $DEBIAN_JRE_PACKAGES (debootstrap, a few minutes; cached afterwards in $tarball)" >&2
		# A failed build leaves nothing behind; --one-file-system keeps rm
		# out of a /proc that failed to unmount.
		trap 'umount "'"$rootfs"'/proc" 2>/dev/null; rm -rf --one-file-system "'"$rootfs"'" "'"$rootfs"'.log" "'"$tarball"'.tmp.$$" "$work"' EXIT
		debian_rootfs "$rootfs" "$suite" "$mirror"
		tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp.$$" . && mv "$tarball.tmp.$$" "$tarball"
		rm -rf --one-file-system "$rootfs"
		trap 'rm -rf "$work"' EXIT
	fi
	docker import \
		-c "LABEL pipechaos.content-hash=$hash" -c "LABEL pipechaos.image=debian-jre" \
		-c "ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8" \
		-c 'CMD ["/bin/bash"]' \
		"$tarball" "$ref" >/dev/null
	echo "images: built $ref (${hash:0:12}) in $((SECONDS - start))s"
}

# debian_rootfs DIR SUITE MIRROR: debootstrap (minbase), the JRE from
# Debian's packages without recommends, then apt's caches and lists,
# documentation and manuals removed.
debian_rootfs() {
	local dir="$1" suite="$2" mirror="$3"
	chmod 755 "$dir" # mktemp made it 0700; it becomes the image's /
	debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 || {
		tail -20 "$dir.log" >&2
		echo "images: debootstrap $suite failed (log above, full log $dir.log)" >&2
		exit 1
	}
	mount -t proc proc "$dir/proc"
	if ! chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $DEBIAN_JRE_PACKAGES" >>"$dir.log" 2>&1; then
		tail -20 "$dir.log" >&2
		echo "images: installing $DEBIAN_JRE_PACKAGES into the root filesystem failed (log above)" >&2
		exit 1
	fi
	umount "$dir/proc"
	chroot "$dir" apt-get clean
	rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/usr/share/doc/* "$dir"/usr/share/man/* \
		"$dir"/usr/share/info/* "$dir"/var/log/*.log "$dir"/var/log/apt/* "$dir"/tmp/* "$dir"/root/.cache
	rm -f "$dir.log"
}

# Apache Kafka on the JRE base: the jars and log4j2 configuration of
# scripts/kafka-dist.sh (the nodes backend's pinned version) and the
# entrypoint. The base image's ID is part of the context, so a rebuilt
# base rebuilds this image too.
build_apache-kafka() {
	local ctx="$work/apache-kafka" dist base
	build_debian-jre
	dist="$("$root/scripts/kafka-dist.sh")" || { echo "images: scripts/kafka-dist.sh failed" >&2; exit 1; }
	base="$(docker image inspect -f '{{.Id}}' "pipechaos/debian-jre:$TAG")"
	mkdir -p "$ctx"
	sed "s|^FROM .*|FROM pipechaos/debian-jre:$TAG|" "$here/apache-kafka/Dockerfile" >"$ctx/Dockerfile"
	cp "$here/apache-kafka/kafka-entrypoint.sh" "$ctx/"
	cp -r "$dist/libs" "$ctx/libs"
	cp "$dist/log4j2.properties" "$ctx/"
	echo "$base" >"$ctx/base-image-id"
	image apache-kafka "$ctx"
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	targets=(kafka minio debian-jre apache-kafka)
	if compgen -G "$root/fakes/registry/cmd/pipechaos-registry/*.go" >/dev/null; then targets+=(registry); fi
	if compgen -G "$root/connectors/s3sink/cmd/pipechaos-s3sink/*.go" >/dev/null && [ -f "$here/s3sink/Dockerfile" ]; then targets+=(s3sink); fi
fi
for t in "${targets[@]}"; do
	case "$t" in
	kafka | registry | minio | s3sink | debian-jre | apache-kafka) "build_$t" ;;
	*)
		echo "images: unknown image $t (kafka, registry, minio, s3sink, debian-jre, apache-kafka)" >&2
		exit 2
		;;
	esac
done
