#!/bin/sh
# Main process of a Jeroboam node container (under tini: docker-init -- this script).
# Prepares the mounts a nested Docker engine needs, then replaces itself with dockerd.
#
# Environment:
#   NODE_MEMORY_MIB, NODE_CPUS
#                 the node's flavor: dockerd (so swarm's scheduler) sees this much memory and this many
#                 CPUs, not the host's, and places reserved tasks as the flavor allows
#   DOCKERD_ARGS  extra dockerd arguments, split on whitespace (the container's command is passed on
#                 too). Without --storage-driver/-s, dockerd uses overlay2 on /var/lib/docker, which
#                 must be a volume or a tmpfs: overlay on the container's own overlay does not mount.
# Files:
#   /certs/ca.pem, /certs/server-cert.pem, /certs/server-key.pem
#                 when server-cert.pem exists, dockerd also serves tcp://0.0.0.0:2376 with mutual TLS
#                 (clients need a certificate signed by ca.pem)
# Works on a "near-privileged" container (all capabilities but SYS_RESOURCE, no seccomp/apparmor,
# no masked paths, every device allowed) as well as on a --privileged one.
set -eu

say() { echo "node-entrypoint: $*" >&2; }

# Mount points below $1 (from mountinfo: field 5 is the mount point).
mounts_under() {
    awk -v top="$1" '$5 == top || index($5, top "/") == 1 { print $5 }' /proc/self/mountinfo
}

# Make a read-only mount point writable. /sys is the container's own read-only sysfs: remount it.
# A cgroup v1 hierarchy is shared with the host (a plain remount fails with EBUSY), so change only
# this mount's flag with "bind".
make_writable() {
    mount -o remount,rw "$1" 2>/dev/null || mount -o remount,bind,rw "$1" 2>/dev/null \
        || say "could not make $1 writable"
}

# 1. A container that is not --privileged gets /sys and the cgroup hierarchies read-only;
#    the nested engine writes to both.
make_writable /sys
for m in $(mounts_under /sys/fs/cgroup); do
    make_writable "$m"
done

# 2. Fresh /run and /tmp on every start: a restarted node must not find the previous run's pid files
#    (a stale containerd.pid whose pid exists again makes dockerd wait for containerd forever).
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
if [ -d /sys/kernel/security ] && [ -z "$(mounts_under /sys/kernel/security)" ]; then
    mount -t securityfs securityfs /sys/kernel/security 2>/dev/null || true
fi
# Nested containers may ask for shared or slave mount propagation.
mount --make-rshared / 2>/dev/null || true

# 3. cgroup v2 only: processes may not sit in a cgroup that delegates controllers to children,
#    so move everything running now into a leaf and enable every controller for dockerd's cgroups.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    mkdir -p /sys/fs/cgroup/node-init
    while read -r pid; do
        echo "$pid" >/sys/fs/cgroup/node-init/cgroup.procs 2>/dev/null || true
    done </sys/fs/cgroup/cgroup.procs
    for controller in $(cat /sys/fs/cgroup/cgroup.controllers); do
        echo "+$controller" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null \
            || say "cgroup v2 controller $controller not delegated"
    done
fi

# 4. Advertise the flavor: dockerd reports MemTotal of /proc/meminfo and the CPUs it may run on.
if [ -n "${NODE_MEMORY_MIB:-}" ]; then
    awk -v kb="$((NODE_MEMORY_MIB * 1024))" \
        '/^(MemTotal|MemFree|MemAvailable):/ { printf "%s %12d kB\n", $1, kb; next } { print }' \
        /proc/meminfo >/run/meminfo
    mount --bind /run/meminfo /proc/meminfo || say "could not advertise ${NODE_MEMORY_MIB} MiB of memory"
fi
# The CPUs are chosen by the hostname, so the nodes of an engine spread over its CPUs.
pin=""
total=$(nproc)
if [ -n "${NODE_CPUS:-}" ] && [ "$NODE_CPUS" -lt "$total" ]; then
    start=$(hostname | od -An -tu1 | awk -v total="$total" '{ for (i = 1; i <= NF; i++) s += $i } END { print s % total }')
    cpus="" i=0
    while [ "$i" -lt "$NODE_CPUS" ]; do
        cpus="${cpus:+$cpus,}$(((start + i) % total))"
        i=$((i + 1))
    done
    pin="taskset -c $cpus"
fi

# 5. The engine. Arguments given to the container (its command) go to dockerd as well.
given=" $* ${DOCKERD_ARGS:-} "
set -- -H unix:///var/run/docker.sock "$@"
case "$given" in
    *" --storage-driver"* | *" -s "*) ;;
    *) set -- "$@" --storage-driver=overlay2 ;;
esac
if [ -f /certs/server-cert.pem ]; then
    set -- "$@" -H tcp://0.0.0.0:2376 --tlsverify \
        --tlscacert=/certs/ca.pem --tlscert=/certs/server-cert.pem --tlskey=/certs/server-key.pem
    say "dockerd serves tcp://0.0.0.0:2376 with mutual TLS (certificates in /certs)"
fi
# DOCKERD_ARGS and pin are split on whitespace on purpose.
# shellcheck disable=SC2086
exec $pin dockerd "$@" ${DOCKERD_ARGS:-}
