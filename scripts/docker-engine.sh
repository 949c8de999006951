#!/usr/bin/env bash
# Makes a Docker engine answer on this machine, from Debian's packages.
#
# Machines of this project's kind ship only the docker client. This script
# installs docker.io and fuse-overlayfs when they are missing, writes
# /etc/docker/daemon.json (storage driver fuse-overlayfs: the root file
# system is itself an overlay, on which the kernel's overlay driver cannot
# stack), and starts dockerd the way Debian's /etc/init.d/docker does: the
# cgroup v1 hierarchies mounted first, then start-stop-daemon with the same
# pid and log files. The init script itself is not used because its
# `ulimit -n 1048576` fails where the hard limit is lower (it is 20000 here),
# and `set -e` then stops it before dockerd starts.
#
# It waits (up to PIPECHAOS_DOCKER_WAIT seconds, default 60) for `docker info`
# and exits non-zero with the daemon's last log lines when the engine does
# not come up. An engine that already answers is left alone.
#
# Needs root. Safe to run any number of times.
set -euo pipefail

wait_s="${PIPECHAOS_DOCKER_WAIT:-60}"
log=/var/log/docker.log

if docker info >/dev/null 2>&1; then
	echo "docker-engine: the engine already answers ($(docker info -f '{{.ServerVersion}} {{.Driver}}' 2>/dev/null))"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "docker-engine: the engine does not answer and starting one needs root; run as root or start Docker yourself" >&2
	exit 1
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v fuse-overlayfs >/dev/null 2>&1 || need+=(fuse-overlayfs)
if [ "${#need[@]}" -gt 0 ]; then
	echo "docker-engine: installing ${need[*]} from Debian's packages"
	start=$SECONDS
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# policy-rc.d forbids starting services during install; we start it below.
	apt-get install -y -qq "${need[@]}" >/tmp/pipechaos-docker-apt.log 2>&1 || {
		echo "docker-engine: apt-get install ${need[*]} failed:" >&2
		tail -20 /tmp/pipechaos-docker-apt.log >&2
		exit 1
	}
	echo "docker-engine: installed in $((SECONDS - start))s"
fi

mkdir -p /etc/docker
want='{"storage-driver":"fuse-overlayfs","mtu":1400}'
if [ ! -f /etc/docker/daemon.json ] || [ "$(cat /etc/docker/daemon.json)" != "$want" ]; then
	echo "$want" >/etc/docker/daemon.json
fi

# cgroupfs_mount, as in Debian's init script: a tmpfs on /sys/fs/cgroup and
# every enabled v1 controller mounted beneath it.
if ! mountpoint -q /sys/fs/cgroup; then
	mount -t tmpfs -o uid=0,gid=0,mode=0755 cgroup /sys/fs/cgroup
fi
(
	cd /sys/fs/cgroup
	for sys in $(awk '!/^#/ { if ($4 == 1) print $1 }' /proc/cgroups); do
		mkdir -p "$sys"
		if ! mountpoint -q "$sys"; then
			mount -n -t cgroup -o "$sys" cgroup "$sys" 2>/dev/null || rmdir "$sys" 2>/dev/null || true
		fi
	done
)

# A stale pid file from a daemon that died would make start-stop-daemon think
# it runs.
if [ -f /var/run/docker-ssd.pid ] && ! kill -0 "$(cat /var/run/docker-ssd.pid)" 2>/dev/null; then
	rm -f /var/run/docker-ssd.pid /var/run/docker.pid
fi

touch "$log"
(
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	start-stop-daemon --start --background --no-close \
		--exec /usr/sbin/dockerd \
		--pidfile /var/run/docker-ssd.pid --make-pidfile \
		-- -p /var/run/docker.pid >>"$log" 2>&1
) || true

deadline=$((SECONDS + wait_s))
while ! docker info >/dev/null 2>&1; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "docker-engine: dockerd did not answer within ${wait_s}s; its last log lines ($log):" >&2
		tail -20 "$log" >&2
		exit 1
	fi
	sleep 0.5
done
echo "docker-engine: started dockerd $(docker info -f '{{.ServerVersion}}, storage {{.Driver}}, cgroup v{{.CgroupVersion}}' 2>/dev/null)"
