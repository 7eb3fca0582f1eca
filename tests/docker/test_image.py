"""The docker provider's images, built from this host's packages on the real local engine: the tag
cache, a node from the image as a working nested engine, the archive cache, the errors that say what
to install, and ``jeroboam-manage images build``."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from jeroboam.cmd import manage
from jeroboam.drivers.docker import image
from jeroboam.drivers.docker.image import (
    NODE_IMAGE_REPOSITORY,
    WORKLOAD_IMAGE,
    ImageBuildError,
    image_archive,
    node_image,
    workload_image,
)
from jeroboam.pki import x509 as pki

pytestmark = pytest.mark.docker

TEST_LABELS = {"org.jeroboam.test": "image"}
READY_WITHIN = 60.0  # seconds for a node's engine to answer (measured ~0.7 s on an idle machine)
NODE_PROGRAMS = (
    "dockerd", "docker", "docker-proxy", "docker-init", "containerd", "containerd-shim-runc-v2", "runc",
    "xtables-nft-multi", "ip", "busybox",
)  # fmt: skip


@dataclass(frozen=True)
class Images:
    node: str
    workload: str


@pytest.fixture(scope="session")
def images(docker_client: docker.DockerClient) -> Images:
    """Built once per session (or found, when the engine already has the current ones)."""
    return Images(node_image(docker_client, progress=print), workload_image(docker_client, progress=print))


def image_id(client: docker.DockerClient, ref: str) -> str:
    api: Any = client.api
    return str(api.inspect_image(ref)["Id"])


def config_of(client: docker.DockerClient, ref: str) -> dict[str, Any]:
    api: Any = client.api
    config: dict[str, Any] = api.inspect_image(ref)["Config"]
    return config


# -- the tag cache ----------------------------------------------------------------------------------


def test_the_node_tag_is_stable_and_a_second_call_does_not_build(
    docker_client: docker.DockerClient, images: Images
) -> None:
    assert re.fullmatch(rf"{NODE_IMAGE_REPOSITORY}:[0-9a-f]{{12}}", images.node)
    before = image_id(docker_client, images.node)
    lines: list[str] = []
    assert node_image(docker_client, progress=lines.append) == images.node
    assert node_image(docker_client, progress=lines.append) == images.node
    assert lines == []  # no "assembling" / "importing": nothing was built
    assert image_id(docker_client, images.node) == before


def test_the_workload_tag_is_fixed_and_a_second_call_does_not_build(
    docker_client: docker.DockerClient, images: Images
) -> None:
    assert images.workload == WORKLOAD_IMAGE
    before = image_id(docker_client, WORKLOAD_IMAGE)
    lines: list[str] = []
    assert workload_image(docker_client, progress=lines.append) == WORKLOAD_IMAGE
    assert lines == []
    assert image_id(docker_client, WORKLOAD_IMAGE) == before


def test_the_images_carry_their_configuration(docker_client: docker.DockerClient, images: Images) -> None:
    node = config_of(docker_client, images.node)
    assert node["Entrypoint"] == ["/usr/bin/docker-init", "--", "/usr/local/bin/node-entrypoint.sh"]
    assert "/var/lib/docker" in node["Volumes"]
    assert any(env.startswith("PATH=") for env in node["Env"])
    assert node["Healthcheck"]["Test"][:2] == ["CMD", "/usr/bin/docker"]
    assert node["Labels"][image.LABEL_KIND] == "node"
    workload = config_of(docker_client, images.workload)
    assert any(env.startswith("PATH=") for env in workload["Env"])
    assert workload["Labels"][image.LABEL_KIND] == "workload"


# -- a node made from the image -------------------------------------------------------------------


@dataclass
class Node:
    client: docker.DockerClient
    id: str

    def run(self, *command: str) -> tuple[int, str]:
        result = self.client.containers.get(self.id).exec_run(list(command))
        return result.exit_code, result.output.decode(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_WITHIN
        while True:
            code, output = self.run("docker", "version", "--format", "{{.Server.Version}}")
            if code == 0:
                return
            if time.monotonic() > deadline:
                api: Any = self.client.api
                logs = api.logs(self.id, tail=40).decode(errors="replace")
                pytest.fail(f"the node's engine did not answer within {READY_WITHIN} s: {output}\n{logs}")
            time.sleep(0.2)


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def certificates() -> dict[str, bytes]:
    """/certs as the driver lays it out: the server's files, and (for this test) a client's in client/."""
    policy = pki.X509Policy(key_algorithm="ec")
    ca = pki.create_authority("image-test", policy)
    authority = pki.Authority(ca.certificate_pem, ca.private_key_pem)
    server = pki.issue_server(authority, "image-test", ["127.0.0.1", "localhost"], policy)
    client = pki.issue_client(authority, policy)
    files = {
        "certs/ca.pem": ca.certificate_pem,
        "certs/server-cert.pem": server.certificate_pem,
        "certs/server-key.pem": server.private_key_pem,
        "certs/client/ca.pem": ca.certificate_pem,
        "certs/client/cert.pem": client.certificate_pem,
        "certs/client/key.pem": client.private_key_pem,
    }
    return {name: pem.encode() for name, pem in files.items()}


@pytest.fixture
def node(docker_client: docker.DockerClient, images: Images) -> Iterator[Node]:
    """A node container with the near-privileged flags (real --privileged fails on hosts whose
    bounding set lacks CAP_SYS_RESOURCE), its engine on a named volume, and TLS material in /certs."""
    api: Any = docker_client.api
    name = f"jeroboam-image-test-{uuid.uuid4().hex[:8]}"
    volume = docker_client.volumes.create(name=f"{name}-docker", labels=TEST_LABELS)
    container_id: str | None = None
    try:
        host_config = api.create_host_config(
            cap_add=["ALL"],
            cap_drop=["SYS_RESOURCE"],
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            device_cgroup_rules=["a *:* rwm"],
            binds={volume.name: {"bind": "/var/lib/docker", "mode": "rw"}},
        ) | {"MaskedPaths": [], "ReadonlyPaths": []}
        container_id = str(
            api.create_container(
                images.node,
                name=name,
                hostname=name,
                labels=TEST_LABELS,
                environment={"DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1"},
                host_config=host_config,
            )["Id"]
        )
        api.put_archive(container_id, "/", tar_of(certificates()))
        api.start(container_id)
        yield Node(docker_client, container_id)
    finally:
        if container_id is not None:
            api.remove_container(container_id, v=True, force=True)
        volume.remove(force=True)


def test_a_node_is_a_working_nested_engine(
    node: Node, docker_client: docker.DockerClient, images: Images, tmp_path: Path
) -> None:
    node.wait_ready()
    code, info = node.run("docker", "info", "--format", "{{.Driver}}")
    assert (code, info.strip()) == (0, "overlay2")

    archive = image_archive(docker_client, images.workload, tmp_path)
    api: Any = docker_client.api
    api.put_archive(node.id, "/", tar_of({"preload/workload.tar": archive.read_bytes()}))
    code, output = node.run("docker", "load", "-i", "/preload/workload.tar")
    assert code == 0, output
    assert WORKLOAD_IMAGE in output
    code, output = node.run("docker", "run", "--rm", WORKLOAD_IMAGE, "echo", "ok")
    assert (code, output.strip()) == (0, "ok")

    # /certs/server-cert.pem present: the engine also serves mutual TLS on 2376.
    tls = ["docker", "--tlsverify", "--tlscacert=/certs/client/ca.pem", "--tlscert=/certs/client/cert.pem"]
    tls += ["--tlskey=/certs/client/key.pem", "-H", "tcp://127.0.0.1:2376"]
    code, output = node.run(*tls, "version", "--format", "{{.Server.Version}}")
    assert code == 0, output
    code, output = node.run("docker", "-H", "tcp://127.0.0.1:2376", "version", "--format", "{{.Server.Version}}")
    assert code != 0  # plain HTTP to the TLS port is refused


def test_a_killed_node_starts_again_with_its_images(
    node: Node, docker_client: docker.DockerClient, images: Images, tmp_path: Path
) -> None:
    node.wait_ready()
    archive = image_archive(docker_client, images.workload, tmp_path)
    api: Any = docker_client.api
    api.put_archive(node.id, "/", tar_of({"preload/workload.tar": archive.read_bytes()}))
    assert node.run("docker", "load", "-i", "/preload/workload.tar")[0] == 0
    api.kill(node.id)
    api.wait(node.id, timeout=30)
    api.start(node.id)  # a fresh /run: no stale pid files from the killed run
    node.wait_ready()
    code, output = node.run("docker", "image", "inspect", "--format", "{{.Id}}", WORKLOAD_IMAGE)
    assert code == 0, output


# -- the archive cache ----------------------------------------------------------------------------


def test_image_archive_is_reused_while_the_image_id_is_unchanged(
    docker_client: docker.DockerClient, images: Images, tmp_path: Path
) -> None:
    first = image_archive(docker_client, images.workload, tmp_path)
    stat = first.stat()
    with tarfile.open(first) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [WORKLOAD_IMAGE]  # loading it restores the tag

    again = image_archive(docker_client, images.workload, tmp_path)
    assert again == first
    assert (again.stat().st_ino, again.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)  # not rewritten

    # An archive named for another image id of the same ref is outdated: replaced, then removed.
    stale = first.with_name(first.name.rsplit("-", 1)[0] + "-0123456789abcdef.tar")
    first.rename(stale)
    fresh = image_archive(docker_client, images.workload, tmp_path)
    assert fresh == first
    assert fresh.is_file()
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]


# -- what to install when the host lacks something (no engine needed) -----------------------------


def offline_client(tmp_path: Path) -> docker.DockerClient:
    """A client of no engine: the host check fails before any request."""
    return docker.DockerClient(base_url=f"unix://{tmp_path}/no-engine.sock", version="1.41")


def fake_programs(directory: Path, names: tuple[str, ...]) -> None:
    directory.mkdir(exist_ok=True)
    for name in names:
        path = directory / name
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)


def test_a_missing_host_program_names_the_package_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    fake_programs(bin_dir, tuple(name for name in NODE_PROGRAMS if name != "runc"))
    monkeypatch.setattr(image, "HOST_BIN_DIRS", (str(bin_dir),))
    with pytest.raises(ImageBuildError) as caught:
        node_image(offline_client(tmp_path))
    message = str(caught.value)
    assert "needs runc" in message
    assert message.endswith("Install them with: apt-get install -y runc")


def test_without_docker_packages_the_error_lists_every_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image, "HOST_BIN_DIRS", (str(tmp_path),))
    with pytest.raises(ImageBuildError) as caught:
        node_image(offline_client(tmp_path))
    assert "apt-get install -y docker.io containerd runc iptables iproute2 busybox-static" in str(caught.value)
    with pytest.raises(ImageBuildError, match=r"apt-get install -y busybox-static$"):
        workload_image(offline_client(tmp_path))


# -- jeroboam-manage images build -----------------------------------------------------------------


def test_manage_images_build_prints_the_tags(images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    assert manage.main(["images", "build"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == [images.node, images.workload]


def test_manage_images_build_without_an_engine_says_how_to_get_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = f"unix://{tmp_path}/no-engine.sock"
    assert manage.main(["images", "build", "--engine", engine]) == 1
    err = capsys.readouterr().err
    assert f"No Docker engine answers at {engine}." in err
    assert "scripts/ensure-docker" in err
    assert "Traceback" not in err


def _tiny_image(client: docker.DockerClient, repository: str, tag: str) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = tag.encode()
        info = tarfile.TarInfo("tag")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    client.api.import_image_from_data(buffer.getvalue(), repository=repository, tag=tag)
    return f"{repository}:{tag}"


def test_prune_removes_node_images_no_node_uses(docker_client: docker.DockerClient) -> None:
    # A repository of this test's own stands in for jeroboam/node: other users' images are not touched.
    repository = f"jeroboam-prune-test-{uuid.uuid4().hex[:8]}/node"
    used, unused = _tiny_image(docker_client, repository, "used"), _tiny_image(docker_client, repository, "unused")
    container = docker_client.containers.create(used, command=["/tag"])
    try:
        assert image.prune_node_images(docker_client, repository) == [unused]
        assert [t for i in docker_client.images.list(name=repository) for t in i.tags] == [used]
        assert image.prune_node_images(docker_client, repository) == []
    finally:
        container.remove(force=True)
        for leftover in docker_client.images.list(name=repository):
            docker_client.images.remove(leftover.id, force=True)


def test_the_node_image_identity_follows_package_versions_not_file_times(tmp_path: Path) -> None:
    dockerd = image._which("dockerd")
    assert dockerd is not None
    version = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "docker.io"], capture_output=True, text=True, check=True
    ).stdout
    assert image._packages_of([str(dockerd)]) == {str(dockerd): f"docker.io={version}"}
    # A file's new modification time (a package reinstalled, a backup restored) is not a new image...
    copy = tmp_path / "dockerd"
    copy.write_bytes(b"stand-in")
    entry = image._Entry("usr/sbin/dockerd", source=copy)
    packaged = {str(copy): "docker.io=1.0"}
    before = entry.identity(packaged)
    os.utime(copy, ns=(1, 1))
    assert entry.identity(packaged) == before
    # ...a new package version is.
    assert entry.identity({str(copy): "docker.io=1.1"}) != before
