"""Extra Docker engines for tests, each in a network namespace of its own: "other Docker hosts" on
this machine that a test may stop, freeze, restart or crash without touching the host's ``dockerd``.

Each engine gets a namespace ``jbe<N>``, a veth pair (host side ``10.213.N.1/30``, namespace side
``10.213.N.2/30``: addresses that exist only on this machine), and a ``dockerd`` started with
``ip netns exec`` (so its mounts live in a mount namespace of their own and vanish with it) with its
own ``--data-root``, ``--exec-root``, ``--pidfile``, config file and unix socket. Its iptables rules
and bridges are the namespace's. Managers publish their TLS API on the namespace address, which the
host reaches through the veth pair: what ``[docker] engines`` calls ``publish_address``.

``netns_engines(count, scratch)`` yields the started engines and tears everything down on exit, even
when the test failed: containers, daemons and every process left in their cgroups, the namespaces
(and so the veth pairs and iptables rules), the directories. ``leftovers(engines)`` says what is left.
Needs root and ``ip`` (``scripts/ensure-docker`` installs ``iproute2``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from tests.support.file_lock import held

API_VERSION = "1.41"
START_DEADLINE = 60.0  # seconds for a new dockerd to answer
STOP_DEADLINE = 60.0  # seconds for dockerd to stop its containers and exit after SIGTERM
PREFIX = "jbe"  # names of namespaces and veth ends: jbe<N>, jbe<N>h (host), jbe<N>n (namespace)
SUBNET = "10.213.{n}.{host}"
CGROUP_ROOT = Path("/sys/fs/cgroup")
ALLOCATION_LOCK = Path(tempfile.gettempdir()) / "jeroboam-netns-engines.lock"


class EngineSetupError(RuntimeError):
    """The namespace or the daemon could not be set up; the message says what failed."""


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    if check and result.returncode != 0:
        raise EngineSetupError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def _namespaces() -> set[str]:
    return {line.split()[0] for line in _run("ip", "netns", "list").stdout.splitlines() if line.strip()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not reaped) counts as gone.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


@dataclass
class NetnsEngine:
    """One Docker engine in its own network namespace."""

    index: int
    root: Path  # data root, config file, log
    run: Path  # exec root, pid file, socket (short: unix socket paths are limited to 107 bytes)
    name: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    frozen: bool = False
    container_ids: set[str] = field(default_factory=set)

    @property
    def netns(self) -> str:
        return f"{PREFIX}{self.index}"

    @property
    def host_veth(self) -> str:
        return f"{self.netns}h"

    @property
    def address(self) -> str:
        """The engine host's address: where managers publish their API."""
        return SUBNET.format(n=self.index, host=2)

    @property
    def host_address(self) -> str:
        return SUBNET.format(n=self.index, host=1)

    @property
    def socket(self) -> Path:
        return self.run / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def settings(self, projects: Sequence[str] = ()) -> dict[str, Any]:
        """This engine as an entry of ``[docker] engines``."""
        return {"name": self.name, "url": self.url, "publish_address": self.address, "projects": list(projects)}

    def client(self, timeout: int = 30) -> docker.DockerClient:
        client = docker.DockerClient(base_url=self.url, version=API_VERSION, timeout=timeout)
        client.api.trust_env = False
        return client

    # -- the network namespace ----------------------------------------------------------------------
    def _make_namespace(self) -> None:
        ns, host, inner = self.netns, self.host_veth, f"{self.netns}n"
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", host, "type", "veth", "peer", "name", inner)
        _run("ip", "link", "set", inner, "netns", ns)
        _run("ip", "addr", "add", f"{self.host_address}/30", "dev", host)
        _run("ip", "link", "set", host, "up")
        _run("ip", "-n", ns, "addr", "add", f"{self.address}/30", "dev", inner)
        _run("ip", "-n", ns, "link", "set", inner, "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", ns, "route", "add", "default", "via", self.host_address)

    # -- the daemon ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start dockerd (again) on the same data root, and wait until it answers."""
        assert self.process is None or self.process.poll() is not None, "dockerd already runs"
        config = self.root / "daemon.json"
        config.write_text("{}\n")  # not the host's /etc/docker/daemon.json
        # A mount namespace of its own (its mounts vanish with its processes) with a sysfs of the
        # network namespace, and the host's cgroup hierarchies moved into it (``ip netns exec`` would
        # hide them, and dockerd needs them).
        cgroups = self.run / "cgroup"
        cgroups.mkdir(exist_ok=True)
        prepare = (
            f"mount --rbind {CGROUP_ROOT} {cgroups} && umount -l /sys && mount -t sysfs sysfs /sys "
            f'&& mount --move {cgroups} {CGROUP_ROOT} && exec "$@"'
        )
        command = [
            "unshare", "--mount", "--propagation", "slave",
            "nsenter", f"--net=/run/netns/{self.netns}",
            "sh", "-c", prepare, "dockerd", "dockerd",
            "--config-file", str(config),
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.run / "exec"),
            "--pidfile", str(self.run / "dockerd.pid"),
            "--host", self.url,
            "--storage-driver", "overlay2",
            "--log-level", "warn",
        ]  # fmt: skip
        with (self.root / "dockerd.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.frozen = False
        deadline = time.monotonic() + START_DEADLINE
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineSetupError(f"dockerd of {self.name} exited {self.process.returncode}: {self.log_tail()}")
            try:
                with contextlib.closing(self.client(timeout=2)) as client:
                    client.ping()
                    return
            except (docker.errors.DockerException, requests.RequestException) as exc:
                last = repr(exc)
            time.sleep(0.2)  # polling a daemon that is starting: no event to wait on
        raise EngineSetupError(f"dockerd of {self.name} did not answer within {START_DEADLINE} s ({last})")

    def stop(self) -> int:
        """SIGTERM, as ``systemctl stop docker`` does: dockerd stops its containers and exits."""
        self.thaw()
        process = self.process
        if process is None or process.poll() is not None:
            return process.returncode if process is not None else 0
        self._remember_containers()
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def crash(self) -> None:
        """Power loss: SIGKILL to every process of the engine at once (daemon, containerd, shims,
        every container and what runs inside), and the exec root emptied as a reboot empties /run."""
        self.thaw()
        self._remember_containers()
        self._kill_everything()
        if self.process is not None:
            self.process.wait(10)
        shutil.rmtree(self.run / "exec", ignore_errors=True)
        (self.run / "dockerd.pid").unlink(missing_ok=True)

    def freeze(self) -> None:
        """SIGSTOP the daemon: it keeps its socket and its containers run, but it answers nothing."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self.frozen and self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
        self.frozen = False

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.root / "dockerd.log").read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    # -- teardown -----------------------------------------------------------------------------------
    def _remember_containers(self) -> None:
        """The engine's container IDs, so their cgroups can be emptied even once dockerd is gone."""
        containers = self.root / "data" / "containers"
        with contextlib.suppress(OSError):
            self.container_ids.update(p.name for p in containers.iterdir())

    def processes(self) -> set[int]:
        """Every process of the engine: those in its namespace (dockerd, containerd, shims, proxies)
        and those in its containers' cgroups (nested ones included)."""
        pids: set[int] = set()
        if self.netns in _namespaces():
            found = _run("ip", "netns", "pids", self.netns, check=False).stdout.split()
            pids.update(int(p) for p in found if p.isdigit())
        if self.process is not None and self.process.poll() is None:
            pids.add(self.process.pid)
        self._remember_containers()
        for container in self.container_ids:
            for hierarchy in ("pids", "memory", "devices", "unified"):
                top = CGROUP_ROOT / hierarchy / "docker" / container
                for procs in top.rglob("cgroup.procs") if top.is_dir() else []:
                    with contextlib.suppress(OSError):
                        pids.update(int(p) for p in procs.read_text().split())
                if top.is_dir():
                    break
        return {p for p in pids if _alive(p)}

    def _kill_everything(self) -> None:
        for _ in range(20):
            pids = self.processes()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)  # the kernel reaps asynchronously; look again
        raise EngineSetupError(f"processes of {self.name} survive SIGKILL: {sorted(self.processes())}")

    def _remove_containers(self) -> None:
        errors = (docker.errors.DockerException, requests.RequestException)
        with contextlib.suppress(*errors), contextlib.closing(self.client(timeout=20)) as client:
            for container in client.containers.list(all=True):
                with contextlib.suppress(*errors):
                    container.remove(force=True, v=True)

    def teardown(self) -> list[str]:
        """Remove everything of the engine; what could not be removed, one line each."""
        problems: list[str] = []
        self.thaw()
        if self.process is not None and self.process.poll() is None:
            self._remember_containers()
            self._remove_containers()
            self.stop()
        try:
            self._kill_everything()
        except EngineSetupError as exc:
            problems.append(str(exc))
        if self.netns in _namespaces():
            result = _run("ip", "netns", "delete", self.netns, check=False)
            if result.returncode != 0:
                problems.append(f"ip netns delete {self.netns}: {result.stderr.strip()}")
        if _run("ip", "link", "show", self.host_veth, check=False).returncode == 0:
            _run("ip", "link", "delete", self.host_veth, check=False)
        for container in self.container_ids:  # a killed dockerd leaves its containers' cgroups
            for hierarchy in CGROUP_ROOT.iterdir():
                top = hierarchy / "docker" / container
                if top.is_dir():
                    for directory in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                        if directory.is_dir():
                            with contextlib.suppress(OSError):
                                directory.rmdir()
                    with contextlib.suppress(OSError):
                        top.rmdir()
        shutil.rmtree(self.run, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)
        return problems


def leftovers(engines: Sequence[NetnsEngine]) -> list[str]:
    """What is left of torn-down engines: namespaces, veth ends, processes, mounts, directories."""
    found: list[str] = []
    namespaces = _namespaces()
    mounts = Path("/proc/self/mountinfo").read_text()
    for engine in engines:
        if engine.netns in namespaces:
            found.append(f"network namespace {engine.netns}")
        if _run("ip", "link", "show", engine.host_veth, check=False).returncode == 0:
            found.append(f"veth {engine.host_veth}")
        pids = engine.processes()
        if pids:
            found.append(f"processes of {engine.name}: {sorted(pids)}")
        for path in (engine.root, engine.run):
            if str(path) in mounts:
                found.append(f"mounts under {path}")
            if path.exists():
                found.append(f"directory {path}")
    return found


def _allocate(count: int) -> list[int]:
    """Free namespace numbers (1-250): no namespace, link or address of that number exists."""
    taken = _namespaces()
    links = _run("ip", "-o", "link", "show").stdout
    addresses = _run("ip", "-o", "-4", "addr", "show").stdout
    free = [
        n
        for n in range(1, 251)
        if f"{PREFIX}{n}" not in taken
        and f" {PREFIX}{n}h" not in links
        and f" {SUBNET.format(n=n, host=1)}/" not in addresses
    ]
    if len(free) < count:
        raise EngineSetupError(f"fewer than {count} free namespace numbers")
    return free[:count]


@contextlib.contextmanager
def netns_engines(count: int, scratch: Path, names: Sequence[str] = ()) -> Iterator[list[NetnsEngine]]:
    """``count`` started engines (named ``names`` or ``ns1``, ``ns2`` ...), torn down on exit."""
    if os.geteuid() != 0:
        raise EngineSetupError("network namespaces need root (the suite runs as root in CI)")
    if shutil.which("ip") is None or shutil.which("dockerd") is None:
        raise EngineSetupError("ip and dockerd are needed: scripts/ensure-docker installs iproute2 and docker.io")
    engines: list[NetnsEngine] = []
    try:
        with held(ALLOCATION_LOCK, 60, EngineSetupError):
            for i, number in enumerate(_allocate(count)):
                root = scratch / f"engine-{number}"
                root.mkdir(parents=True, exist_ok=True)
                run = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{number}-"))
                name = names[i] if i < len(names) else f"ns{i + 1}"
                engine = NetnsEngine(number, root, run, name)
                engines.append(engine)
                engine._make_namespace()
        for engine in engines:
            engine.start()
        yield engines
    finally:
        problems = [p for engine in engines for p in engine.teardown()]
        left = leftovers(engines)
        if problems or left:
            raise EngineSetupError("teardown of the namespace engines left: " + "; ".join(problems + left))


def engines_setting(engines: Sequence[NetnsEngine], projects: dict[str, Sequence[str]] | None = None) -> str:
    """The ``JEROBOAM_DOCKER__ENGINES`` value for these engines (``projects`` by engine name)."""
    return json.dumps([e.settings((projects or {}).get(e.name, ())) for e in engines])
