"""The images of the ``docker`` provider, assembled from this host's own Debian packages (no registry).

* The **node image** (``jeroboam/node:<hash12>``) is a Docker engine: the host's ``dockerd``, Debian's
  ``docker`` CLI, ``docker-proxy``, ``docker-init`` (tini), ``containerd`` and its runc shim, ``runc``,
  ``xtables-nft-multi`` with the ``iptables``/``ip6tables`` names and the ``xtables`` modules, ``ip``,
  the ``busybox-static`` applets, every shared library ``ldd`` lists for them, a few files of ``/etc``
  and ``node-entrypoint.sh``. Its entry point is ``docker-init -- node-entrypoint.sh``.
* The **workload image** (``jeroboam/busybox:latest``) is ``busybox-static`` with its applet links:
  small, for user workloads and tests.
* The **registry image** (``jeroboam/registry:<hash12>``) is Debian's ``docker-registry`` (the
  distribution registry, one Go program needing only libc) with a configuration that serves
  ``/var/lib/registry`` over TLS on port 5000 (certificates in ``/certs``, as a manager's): the
  private registry of a cluster whose template has ``registry_enabled``.
* The **front image** (``jeroboam/front:<hash12>``) is Debian's ``haproxy`` and its shared libraries:
  the API front of clusters with ``master_lb_enabled`` (``front.py``), configured when its container
  is created.

Both are written as a tar stream straight into the engine's ``import`` (``docker import`` with
``--change``), which takes 3-5 s for the node image and needs nothing but the host's files.

The node tag's hash covers every input: the copied files (path and package version), the generated
files and the image configuration, under a format version. A lookup does not re-read hundreds of MB:
the image is labelled with the hash of its direct inputs (``org.jeroboam.image.inputs``, two
``dpkg-query`` calls to recompute) and with the package version of each shared library it carries
(``org.jeroboam.image.libraries``), which are compared with the host's. Any difference means a build;
a file touched or a package reinstalled at the same version is not a difference.
Builds on one host are serialised with a lock file, and the image is imported under its final tag, so
concurrent callers are safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.resources
import io
import json
import os
import re
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import docker
import docker.errors

NODE_IMAGE_REPOSITORY = "jeroboam/node"
REGISTRY_IMAGE_REPOSITORY = "jeroboam/registry"
WORKLOAD_IMAGE = "jeroboam/busybox:latest"
FRONT_IMAGE_REPOSITORY = "jeroboam/front"
FRONT_CONFIG_PATH = "/etc/haproxy/haproxy.cfg"

#: Bumped whenever the layout or the configuration of the images changes, so every tag changes with it.
FORMAT_VERSION = 2  # 2: packaged files are identified by their package's version, not their stat

#: Where host programs are looked for, in order. /usr/local is left out on purpose: the image takes the
#: binaries of the Debian packages (a /usr/local/bin/docker from elsewhere may not match the daemon).
HOST_BIN_DIRS: tuple[str, ...] = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
#: Where the iptables extension modules may live (the first directory that exists is used).
XTABLES_DIR_PATTERNS: tuple[str, ...] = ("/usr/lib/*-linux-gnu*/xtables", "/usr/lib/xtables", "/usr/lib64/xtables")
#: Files of the host's /etc copied into the node image (those that exist).
HOST_ETC_FILES: tuple[str, ...] = ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/os-release")

REGISTRY_PORT = 5000  # where the registry listens inside its container
REGISTRY_DATA = "/var/lib/registry"
REGISTRY_CONFIG = "etc/docker/registry/config.yml"
# The registry's TLS material: written into its container before it starts (as a manager's /certs).
REGISTRY_CERT = "/certs/server-cert.pem"
REGISTRY_KEY = "/certs/server-key.pem"

ENTRYPOINT_RESOURCE = "node-entrypoint.sh"
ENTRYPOINT_PATH = "/usr/local/bin/node-entrypoint.sh"
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WORKLOAD_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

LABEL_KIND = "org.jeroboam.image.kind"
LABEL_FORMAT = "org.jeroboam.image.format"
LABEL_INPUTS = "org.jeroboam.image.inputs"
LABEL_LIBRARIES = "org.jeroboam.image.libraries"

ProgressFn = Callable[[str], None]

_INSTALL_ALL = "apt-get install -y docker.io busybox-static iptables iproute2 docker-registry"
_MERGED_USR = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_CHUNK = 1 << 20


class ImageBuildError(Exception):
    """The image cannot be assembled on this host; the message says what to install or do."""


@dataclass(frozen=True)
class _Program:
    name: str  # file name looked for in HOST_BIN_DIRS
    package: str  # Debian package that installs it
    dest: str  # path inside the image


_NODE_PROGRAMS = (
    _Program("dockerd", "docker.io", "usr/sbin/dockerd"),
    _Program("docker", "docker.io", "usr/bin/docker"),
    _Program("docker-proxy", "docker.io", "usr/sbin/docker-proxy"),
    _Program("docker-init", "docker.io", "usr/bin/docker-init"),
    _Program("containerd", "containerd", "usr/bin/containerd"),
    _Program("containerd-shim-runc-v2", "containerd", "usr/bin/containerd-shim-runc-v2"),
    _Program("runc", "runc", "usr/sbin/runc"),
    _Program("xtables-nft-multi", "iptables", "usr/sbin/xtables-nft-multi"),
    _Program("ip", "iproute2", "usr/sbin/ip"),
    _Program("busybox", "busybox-static", "usr/bin/busybox"),
)
_BUSYBOX = _Program("busybox", "busybox-static", "usr/bin/busybox")
_REGISTRY = _Program("docker-registry", "docker-registry", "usr/bin/docker-registry")
_FRONT_PROGRAMS = (_Program("haproxy", "haproxy", "usr/sbin/haproxy"),)
#: Every host program the images take (``scripts/ensure-docker`` installs their packages).
HOST_PROGRAMS = (*_NODE_PROGRAMS, _REGISTRY, *_FRONT_PROGRAMS)
_XTABLES_NAMES = tuple(
    f"{family}{suffix}" for family in ("iptables", "ip6tables") for suffix in ("", "-save", "-restore", "-nft")
)


@dataclass(frozen=True)
class _Entry:
    """One member of the image: a copied host file, generated bytes, a symbolic link or a directory."""

    dest: str  # relative path inside the image
    mode: int = 0o755
    source: Path | None = None
    data: bytes | None = None
    link: str | None = None

    def identity(self, packages: Mapping[str, str]) -> str:
        if self.source is not None and str(self.source) in packages:
            return f"{self.dest} {self.mode:o} package {packages[str(self.source)]}"
        if self.source is not None:
            st = self.source.stat()
            return f"{self.dest} {self.mode:o} file {os.path.realpath(self.source)} {st.st_size} {st.st_mtime_ns}"
        if self.data is not None:
            return f"{self.dest} {self.mode:o} data {hashlib.sha256(self.data).hexdigest()}"
        if self.link is not None:
            return f"{self.dest} link {self.link}"
        return f"{self.dest} {self.mode:o} dir"


@dataclass(frozen=True)
class _Library:
    """A shared library as the host has it; recorded on the image to notice upgrades: its package's
    version (``path|package=version``), or its stat when no package installed it."""

    path: str
    size: int
    mtime_ns: int
    package: str = ""

    @classmethod
    def of(cls, path: str, package: str = "") -> _Library:
        st = os.stat(path)
        return cls(path, st.st_size, st.st_mtime_ns, package)

    def record(self) -> str:
        return f"{self.path}|{self.package}" if self.package else f"{self.path}:{self.size}:{self.mtime_ns}"


@dataclass(frozen=True)
class _Recipe:
    kind: str  # "node" / "workload"
    title: str  # for progress lines
    origin: str  # "from the host's Docker packages"
    inputs: tuple[_Entry, ...]  # direct inputs; libraries and busybox applet links are added at build time
    changes: tuple[str, ...]  # docker import --change lines (labels excluded)
    repository: str
    fixed_tag: str | None  # the workload image keeps one tag; the node tag is the content hash

    def inputs_key(self) -> str:
        packages = _packages_of([str(e.source) for e in self.inputs if e.source is not None])
        digest = hashlib.sha256(f"jeroboam-image {FORMAT_VERSION} {self.kind}\n".encode())
        for line in (*self.changes, *(entry.identity(packages) for entry in self.inputs)):
            digest.update(line.encode())
            digest.update(b"\n")
        return digest.hexdigest()


# -- public API ---------------------------------------------------------------------------------------


def node_image(client: docker.DockerClient, *, progress: ProgressFn | None = None, rebuild: bool = False) -> str:
    """Tag (``jeroboam/node:<content-hash12>``) of the node image on the engine ``client`` talks to,
    assembling it from this host's installed Docker packages and importing it if missing."""
    return _ensure(client, _node_recipe(), progress, rebuild)


def workload_image(client: docker.DockerClient, *, progress: ProgressFn | None = None, rebuild: bool = False) -> str:
    """Tag (``jeroboam/busybox:latest``) of the busybox workload image on the engine, built from
    busybox-static (``/bin/busybox`` and its applet links, with ``PATH`` set) if missing or outdated."""
    return _ensure(client, _workload_recipe(), progress, rebuild)


def registry_image(client: docker.DockerClient, *, progress: ProgressFn | None = None, rebuild: bool = False) -> str:
    """Tag (``jeroboam/registry:<content-hash12>``) of the cluster registry image on the engine, built
    from this host's ``docker-registry`` package if missing or outdated."""
    return _ensure(client, _registry_recipe(), progress, rebuild)


def front_image(client: docker.DockerClient, *, progress: ProgressFn | None = None, rebuild: bool = False) -> str:
    """Tag (``jeroboam/front:<content-hash12>``) of the API front image on the engine: the host's
    ``haproxy`` and its libraries, imported if missing; like the node image, its identity follows the
    versions of the packages it is made of."""
    return _ensure(client, _front_recipe(), progress, rebuild)


def image_archive(client: docker.DockerClient, ref: str, cache_dir: Path) -> Path:
    """``docker save`` of ``ref`` (give a tag: loading the archive restores it) as a tar file in
    ``cache_dir``, reused while the tag names the same image id. Older archives of ``ref`` are removed."""
    image_id = str(_inspect(client, ref)["Id"])
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", ref) + "-" + hashlib.sha256(ref.encode()).hexdigest()[:8]
    path = cache_dir / f"{stem}-{image_id.removeprefix('sha256:')[:16]}.tar"
    if path.is_file():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=cache_dir, prefix=f".{stem}-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in client.api.get_image(ref, chunk_size=_CHUNK):
                out.write(chunk)
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise
    for old in cache_dir.glob(f"{stem}-*.tar"):
        if old != path:
            with contextlib.suppress(OSError):
                old.unlink()
    return path


def entrypoint_script() -> bytes:
    """The node entry point shipped with this package."""
    package = __package__ or "jeroboam.drivers.docker"
    return importlib.resources.files(package).joinpath(ENTRYPOINT_RESOURCE).read_bytes()


# -- recipes -------------------------------------------------------------------------------------------


def _node_recipe() -> _Recipe:
    found = _find_programs(_NODE_PROGRAMS, "The node image")
    inputs: list[_Entry] = [_Entry(p.dest, source=found[p.name]) for p in _NODE_PROGRAMS]
    inputs += [_Entry(f"usr/sbin/{name}", link="xtables-nft-multi") for name in _XTABLES_NAMES]
    inputs += [_Entry(_image_path(str(module)), mode=0o644, source=module) for module in _xtables_modules()]
    for etc in HOST_ETC_FILES:
        with contextlib.suppress(FileNotFoundError):
            inputs.append(_Entry(etc.lstrip("/"), mode=0o644, data=Path(etc).read_bytes()))
    inputs.append(_Entry(ENTRYPOINT_PATH.lstrip("/"), data=entrypoint_script()))
    inputs += _skeleton(("usr/local/bin", "usr/local/sbin", "var/lib/docker", "var/log", "etc/docker"))
    changes = (
        f'ENTRYPOINT ["/usr/bin/docker-init", "--", "{ENTRYPOINT_PATH}"]',
        "VOLUME /var/lib/docker",
        f"ENV PATH={NODE_PATH}",
        "HEALTHCHECK --interval=5s --timeout=5s --start-period=60s --retries=3 "
        'CMD ["/usr/bin/docker", "version", "--format", "{{.Server.Version}}"]',
    )
    return _Recipe(
        "node", "node image", "from the host's Docker packages", tuple(inputs), changes, NODE_IMAGE_REPOSITORY, None
    )


def _workload_recipe() -> _Recipe:
    found = _find_programs((_BUSYBOX,), "The workload image")
    passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    group = b"root:x:0:\nnogroup:x:65534:\n"
    inputs = (
        _Entry(_BUSYBOX.dest, source=found[_BUSYBOX.name]),
        _Entry("etc/passwd", mode=0o644, data=passwd),
        _Entry("etc/group", mode=0o644, data=group),
        *_skeleton(()),
    )
    changes = (f"ENV PATH={WORKLOAD_PATH}", 'CMD ["sh"]')
    repository, tag = WORKLOAD_IMAGE.rsplit(":", 1)
    return _Recipe("workload", "workload image", "from busybox-static", inputs, changes, repository, tag)


def _registry_config() -> bytes:
    """Storage on the data volume, TLS with the certificate the driver installs, deletes allowed."""
    return (
        "version: 0.1\n"
        "log:\n  level: info\n  fields:\n    service: registry\n"
        f"storage:\n  filesystem:\n    rootdirectory: {REGISTRY_DATA}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: :{REGISTRY_PORT}\n  tls:\n    certificate: {REGISTRY_CERT}\n    key: {REGISTRY_KEY}\n"
        "  headers:\n    X-Content-Type-Options: [nosniff]\n"
    ).encode()


def _registry_recipe() -> _Recipe:
    found = _find_programs((_REGISTRY,), "The registry image")
    inputs = (
        _Entry(_REGISTRY.dest, source=found[_REGISTRY.name]),
        _Entry(REGISTRY_CONFIG, mode=0o644, data=_registry_config()),
        *_skeleton(("certs", REGISTRY_DATA.lstrip("/"))),
    )
    changes = (
        f'ENTRYPOINT ["/{_REGISTRY.dest}", "serve", "/{REGISTRY_CONFIG}"]',
        f"EXPOSE {REGISTRY_PORT}",
        f"ENV PATH={WORKLOAD_PATH}",
    )
    return _Recipe(
        "registry", "registry image", "from the host's docker-registry package", inputs, changes,
        REGISTRY_IMAGE_REPOSITORY, None,
    )  # fmt: skip


def _front_recipe() -> _Recipe:
    found = _find_programs(_FRONT_PROGRAMS, "The API front image")
    inputs = (
        *(_Entry(p.dest, source=found[p.name]) for p in _FRONT_PROGRAMS),
        *_skeleton(("etc/haproxy",)),
    )
    # -db: foreground, no daemon; the configuration is copied in before the container starts.
    changes = (f'ENTRYPOINT ["/usr/sbin/haproxy", "-db", "-f", "{FRONT_CONFIG_PATH}"]',)
    return _Recipe(
        "front", "API front image", "from the host's haproxy package", inputs, changes, FRONT_IMAGE_REPOSITORY, None
    )


def _skeleton(extra_dirs: Iterable[str]) -> list[_Entry]:
    """Merged-/usr root (like Debian 12) with the directories a Linux container expects."""
    entries = [_Entry(name, link=f"usr/{name}") for name in ("bin", "sbin", "lib", "lib64")]
    dirs = ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "dev", "proc", "sys", "run", "var/tmp", *extra_dirs]
    entries += [_Entry(d) for d in dirs]
    entries += [_Entry("root", mode=0o700), _Entry("tmp", mode=0o1777), _Entry("var/run", link="../run")]
    return entries


def _find_programs(programs: Sequence[_Program], what: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    missing: list[_Program] = []
    for program in programs:
        path = _which(program.name)
        if path is None:
            missing.append(program)
        else:
            found[program.name] = path
    if missing:
        names = ", ".join(p.name for p in missing)
        packages = " ".join(dict.fromkeys(p.package for p in missing))
        message = f"{what} needs {names} from the host's Debian packages (looked in {', '.join(HOST_BIN_DIRS)}). "
        if any(p.name == "docker" for p in missing) and Path("/usr/local/bin/docker").exists():
            message += "/usr/local/bin/docker is not used: the image takes the CLI of the docker.io package. "
        raise ImageBuildError(f"{message}Install them with: apt-get install -y {packages}")
    return found


def _which(name: str) -> Path | None:
    for directory in HOST_BIN_DIRS:
        path = Path(directory) / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def _xtables_modules() -> list[Path]:
    for pattern in XTABLES_DIR_PATTERNS:
        for directory in sorted(Path("/").glob(pattern.lstrip("/"))):
            modules = sorted(directory.glob("*.so"))
            if modules:
                return modules
    raise ImageBuildError(
        "The node image needs the iptables extension modules (xtables/*.so), and none were found in "
        f"{', '.join(XTABLES_DIR_PATTERNS)}. Install them with: apt-get install -y iptables"
    )


def _image_path(host_path: str) -> str:
    """Where a host file goes in the image: Debian 12's merged /usr (/lib/x → usr/lib/x)."""
    relative = os.path.normpath(host_path).lstrip("/")
    return f"usr/{relative}" if relative.split("/", 1)[0] in _MERGED_USR else relative


# -- lookup and build ----------------------------------------------------------------------------------


def _ensure(client: docker.DockerClient, recipe: _Recipe, progress: ProgressFn | None, rebuild: bool) -> str:
    say = progress or (lambda _line: None)
    inputs_key = recipe.inputs_key()
    if not rebuild:
        existing = _existing_tag(client, recipe, inputs_key)
        if existing is not None:
            return existing
    with _build_lock():
        if not rebuild:  # another process may have built it while this one waited
            existing = _existing_tag(client, recipe, inputs_key)
            if existing is not None:
                return existing
        return _build(client, recipe, inputs_key, say)


def _content_tag(recipe: _Recipe, inputs_key: str, libraries_record: str) -> str:
    if recipe.fixed_tag is not None:
        return f"{recipe.repository}:{recipe.fixed_tag}"
    digest = hashlib.sha256(f"{inputs_key}\n{libraries_record}".encode()).hexdigest()
    return f"{recipe.repository}:{digest[:12]}"


def _existing_tag(client: docker.DockerClient, recipe: _Recipe, inputs_key: str) -> str | None:
    """The tag of an image on the engine built from exactly these inputs and the host's current libraries."""
    if recipe.fixed_tag is not None:
        tag = f"{recipe.repository}:{recipe.fixed_tag}"
        try:
            config = _inspect(client, tag).get("Config") or {}
        except docker.errors.ImageNotFound:
            return None
        candidates = [(dict(config.get("Labels") or {}), [tag])]
    else:
        listed = cast(
            list[dict[str, Any]],
            client.api.images(name=recipe.repository, filters={"label": f"{LABEL_INPUTS}={inputs_key}"}),
        )
        candidates = [(dict(image.get("Labels") or {}), list(image.get("RepoTags") or [])) for image in listed]
    for labels, tags in candidates:
        if labels.get(LABEL_INPUTS) != inputs_key:
            continue
        record = str(labels.get(LABEL_LIBRARIES, ""))
        if not _libraries_unchanged(record):
            continue
        expected = _content_tag(recipe, inputs_key, record)
        if expected in tags:
            return expected
    return None


def _libraries_unchanged(record: str) -> bool:
    items = list(filter(None, record.split(";")))
    packaged = dict(item.split("|", 1) for item in items if "|" in item)
    if packaged and _packages_of(list(packaged)) != packaged:
        return False
    for item in items:
        if "|" in item:
            continue
        path, size, mtime_ns = item.rsplit(":", 2)
        try:
            if _Library.of(path) != _Library(path, int(size), int(mtime_ns)):
                return False
        except (OSError, ValueError):
            return False
    return True


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Serialises image builds of all processes on this host (a build imports ~200 MB)."""
    path = Path(tempfile.gettempdir()) / "jeroboam-image-build.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _build(client: docker.DockerClient, recipe: _Recipe, inputs_key: str, say: ProgressFn) -> str:
    started = time.monotonic()
    entries = list(recipe.inputs)
    busybox = next((e for e in entries if e.dest == _BUSYBOX.dest and e.source is not None), None)
    binaries = [e.source for e in entries if e.source is not None and _is_elf(e.source)]
    libraries = _shared_libraries(binaries)
    entries += [_Entry(_image_path(lib.path), source=Path(lib.path)) for lib in libraries]
    if busybox is not None and busybox.source is not None:
        entries += _applet_links(busybox.source, {e.dest for e in entries})
    record = ";".join(lib.record() for lib in libraries)
    tag = _content_tag(recipe, inputs_key, record)
    members = _with_parents(entries)
    files = sum(1 for e in members if e.source is not None or e.data is not None or e.link is not None)
    say(f"{recipe.title}: assembling {files} files {recipe.origin}")
    size = sum(e.source.stat().st_size if e.source is not None else len(e.data or b"") for e in members)
    say(f"{recipe.title}: importing ({size / 1e6:.0f} MB)")

    previous = _image_id(client, tag)
    labels = {LABEL_KIND: recipe.kind, LABEL_FORMAT: str(FORMAT_VERSION), LABEL_INPUTS: inputs_key}
    labels[LABEL_LIBRARIES] = record
    changes = [*recipe.changes, "LABEL " + " ".join(f'{key}="{value}"' for key, value in labels.items())]
    repository, tag_name = tag.rsplit(":", 1)
    writer = _TarWriter(members)
    answer = client.api.import_image_from_data(writer.chunks(), repository=repository, tag=tag_name, changes=changes)
    writer.raise_error()
    _raise_import_error(recipe, str(answer or ""))
    current = _image_id(client, tag)
    if current is None:
        raise ImageBuildError(f"{recipe.title}: the engine accepted the import but has no image {tag}: {answer}")
    if previous is not None and previous != current:  # a forced rebuild left the old image untagged
        with contextlib.suppress(docker.errors.APIError):
            client.api.remove_image(previous)
    say(f"{recipe.title}: {tag} ready in {time.monotonic() - started:.1f} s")
    return tag


def _inspect(client: docker.DockerClient, ref: str) -> dict[str, Any]:
    api: Any = client.api  # the stubs leave inspect_image untyped
    return cast(dict[str, Any], api.inspect_image(ref))


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    try:
        return str(_inspect(client, ref)["Id"])
    except docker.errors.ImageNotFound:
        return None


def _raise_import_error(recipe: _Recipe, answer: str) -> None:
    for line in answer.splitlines():
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict) and message.get("error"):
                raise ImageBuildError(f"the engine refused the {recipe.title}: {message['error']}")


def _is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def _shared_libraries(binaries: Sequence[Path]) -> list[_Library]:
    """Every shared library (and the dynamic loader) that ``ldd`` lists for ``binaries``."""
    if not binaries:
        return []
    try:
        result = subprocess.run(
            ["ldd", *map(str, binaries)], capture_output=True, text=True, check=False, env={"LC_ALL": "C"}
        )
    except FileNotFoundError:
        raise ImageBuildError(
            "ldd is needed to find the libraries of the images. Install it with: apt-get install -y libc-bin"
        ) from None
    # ldd exits non-zero when any file is static ("not a dynamic executable"): read its output instead.
    current = str(binaries[0])
    found: dict[str, _Library] = {}
    for raw in result.stdout.splitlines():
        line = raw.strip()
        if not raw.startswith(("\t", " ")) and line.endswith(":"):
            current = line[:-1]
            continue
        if "=> not found" in line:
            raise ImageBuildError(
                f"{current} needs the shared library {line.split()[0]}, which is not installed. "
                f"Reinstall the package of {current} (dpkg -S {current}), or: {_INSTALL_ALL}"
            )
        path = line.split("=>", 1)[1].strip() if "=>" in line else line
        path = path.split(" (", 1)[0].strip()
        if path.startswith("/"):
            found.setdefault(os.path.normpath(path), _Library.of(path))
    problems = [line for line in result.stderr.splitlines() if line.startswith("ldd:")]
    if problems:
        raise ImageBuildError(f"ldd failed on the image's programs: {'; '.join(problems)}")
    packages = _packages_of(list(found))
    return sorted(
        (replace(lib, package=packages.get(lib.path, "")) for lib in found.values()), key=lambda lib: lib.path
    )


def _applet_links(busybox: Path, taken: set[str]) -> list[_Entry]:
    """A link to busybox for each applet, except for names the image has a real program of (in any of
    its bin directories: busybox puts ``ip`` in /sbin, the image's iproute2 ``ip`` is in /usr/sbin)."""
    programs = {os.path.basename(dest) for dest in taken if dest.startswith(("usr/bin/", "usr/sbin/"))}
    listing = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise ImageBuildError(
            f"{busybox} --list-full failed; the images need busybox-static: apt-get install -y busybox-static"
        )
    links: list[_Entry] = []
    for applet in listing.stdout.split():
        dest = _image_path(applet)
        if dest not in taken and os.path.basename(dest) not in programs:
            taken.add(dest)
            links.append(_Entry(dest, link="/usr/bin/busybox"))
    return links


def _with_parents(entries: Sequence[_Entry]) -> list[_Entry]:
    """The entries, deduplicated by path, with a directory entry for every parent, parents first."""
    by_dest: dict[str, _Entry] = {}
    for entry in entries:
        by_dest.setdefault(entry.dest, entry)
    for dest in list(by_dest):
        parent = os.path.dirname(dest)
        while parent and parent not in by_dest:
            by_dest[parent] = _Entry(parent)
            parent = os.path.dirname(parent)
    return sorted(by_dest.values(), key=lambda e: e.dest.split("/"))


class _TarWriter:
    """Writes the image's tar into a pipe from a thread, so the import streams it without a temp file."""

    def __init__(self, entries: Sequence[_Entry]) -> None:
        self._entries = entries
        self._error: BaseException | None = None

    def chunks(self) -> Iterator[bytes]:
        read_fd, write_fd = os.pipe()
        thread = threading.Thread(target=self._write, args=(write_fd,), name="image-tar", daemon=True)
        thread.start()
        try:
            with os.fdopen(read_fd, "rb") as pipe:
                while chunk := pipe.read(_CHUNK):
                    yield chunk
        finally:
            thread.join()

    def raise_error(self) -> None:
        if self._error is not None:
            raise ImageBuildError(f"assembling the image failed: {self._error}") from self._error

    def _write(self, write_fd: int) -> None:
        try:
            with (
                os.fdopen(write_fd, "wb") as pipe,
                tarfile.open(fileobj=pipe, mode="w|", format=tarfile.GNU_FORMAT) as tar,
            ):
                for entry in self._entries:
                    self._add(tar, entry)
        except BrokenPipeError:
            pass  # the reader stopped (the engine refused the upload); its error is reported instead
        except BaseException as exc:  # reported by raise_error after the import returns
            self._error = exc

    @staticmethod
    def _add(tar: tarfile.TarFile, entry: _Entry) -> None:
        info = tarfile.TarInfo(entry.dest)
        info.mode = entry.mode
        info.mtime = 0
        if entry.source is not None:
            with entry.source.open("rb") as f:
                st = os.fstat(f.fileno())
                info.size, info.mtime = st.st_size, int(st.st_mtime)
                tar.addfile(info, f)
        elif entry.data is not None:
            info.size = len(entry.data)
            tar.addfile(info, io.BytesIO(entry.data))
        elif entry.link is not None:
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.link, 0o777
            tar.addfile(info)
        else:
            info.type = tarfile.DIRTYPE
            tar.addfile(info)


# -- pruning -------------------------------------------------------------------------------------------


def prune_node_images(client: docker.DockerClient, repository: str = NODE_IMAGE_REPOSITORY) -> list[str]:
    """Remove the tags of ``repository`` no container (running or not) was made from, but the
    current node image's: a cluster keeps its image until it is upgraded, so older images stay as
    long as a node uses them. Returns the removed tags."""
    used = {str(c.get("ImageID") or "") for c in client.api.containers(all=True)}
    current = None
    if repository == NODE_IMAGE_REPOSITORY:
        with contextlib.suppress(ImageBuildError):
            recipe = _node_recipe()
            current = _existing_tag(client, recipe, recipe.inputs_key())
    removed = []
    for image in cast(list[dict[str, Any]], client.api.images(name=repository)):
        if str(image.get("Id")) in used:
            continue
        for tag in image.get("RepoTags") or []:
            if tag == current or not str(tag).startswith(f"{repository}:"):
                continue
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.api.remove_image(tag)  # the tag; the image goes with its last tag
                removed.append(str(tag))
    return removed


# -- package versions ----------------------------------------------------------------------------------


def _packages_of(paths: Sequence[str]) -> dict[str, str]:
    """``package=version`` of the Debian package that installed each path (two dpkg-query calls;
    paths no package owns, or a host without dpkg, are left out). The image's identity follows
    what is in it: a package reinstalled or a file touched does not change it, an upgrade does."""
    if not paths:
        return {}
    # dpkg knows a file under the path its package installed it at: /lib/... on merged-/usr hosts.
    aliases = {alias: path for path in paths for alias in (path, *_usr_aliases(path))}
    try:
        owners = subprocess.run(["dpkg-query", "-S", *aliases], capture_output=True, text=True, check=False)
    except OSError:
        return {}
    owner: dict[str, str] = {}
    for line in owners.stdout.splitlines():
        package, _, path = line.partition(": ")
        if path in aliases and "," not in package and "diversion" not in package:
            owner.setdefault(aliases[path], package)
    if not owner:
        return {}
    wanted = sorted(set(owner.values()))
    listed = subprocess.run(
        ["dpkg-query", "-W", "-f", "${binary:Package} ${Version}\\n", *wanted],
        capture_output=True,
        text=True,
        check=False,
    )
    versions = dict(line.split(" ", 1) for line in listed.stdout.splitlines() if " " in line)
    return {path: f"{package}={versions[package]}" for path, package in owner.items() if package in versions}


def _usr_aliases(path: str) -> tuple[str, ...]:
    for top in _MERGED_USR:
        if path.startswith(f"/usr/{top}/"):
            return (path.removeprefix("/usr"),)
        if path.startswith(f"/{top}/"):
            return (f"/usr{path}",)
    return ()
