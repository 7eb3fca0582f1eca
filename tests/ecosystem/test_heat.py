"""Heat's OS::Magnum::ClusterTemplate and OS::Magnum::Cluster, run by a real Heat, against Jeroboam.

A member of project alpha drives Heat with the ``openstack stack`` CLI: a HOT template with a
cluster template and a cluster (1 master, 1 worker, the sim driver as Jeroboam's default) reaches
CREATE_COMPLETE and its outputs match ``openstack coe cluster show``; ``stack update`` of
node_count 1 -> 2 -> 1 reaches UPDATE_COMPLETE each time with the cluster resized; ``stack
delete`` removes the cluster and the template. Heat checks image, flavor, keypair and networks
with the Glance/Nova/Neutron stand-ins and sends the networks' IDs; it sends no microversion.
Heat's logs are kept in ``.artifacts/ecosystem/heat``; run with ``-s`` for the transcript.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.conftest import OPENSTACK, JeroboamProcess
from tests.support.databases import fresh_database
from tests.support.heat import HeatServer, start_heat
from tests.support.keystone import REGION_ID, KeystoneServer
from tests.support.standins import Inventory
from tests.support.venvs import child_env

pytestmark = [pytest.mark.ecosystem, pytest.mark.keystone, pytest.mark.timeout(1200)]

USER = "alpha-member"
KEYPAIR = "heat-key"
CLI_TIMEOUT = 300.0
STACK_TIMEOUT_MINUTES = 10

TEMPLATE = """\
heat_template_version: 2021-04-16
description: a Jeroboam cluster made by Heat
parameters:
  node_count:
    type: number
    default: 1
  template_name:
    type: string
resources:
  template:
    type: OS::Magnum::ClusterTemplate
    properties:
      name: {get_param: template_name}
      coe: kubernetes
      image: fedora-coreos
      flavor: m1.small
      master_flavor: m1.small
      keypair: %(keypair)s
      external_network: public
      fixed_network: private
      fixed_subnet: private-subnet
      docker_storage_driver: overlay
      network_driver: flannel
      dns_nameserver: 8.8.8.8
  cluster:
    type: OS::Magnum::Cluster
    properties:
      cluster_template: {get_resource: template}
      master_count: 1
      node_count: {get_param: node_count}
      create_timeout: 30
outputs:
  cluster_id:
    value: {get_resource: cluster}
  template_id:
    value: {get_resource: template}
  api_address:
    value: {get_attr: [cluster, api_address]}
  node_count:
    value: {get_attr: [cluster, node_count]}
  master_count:
    value: {get_attr: [cluster, master_count]}
  status:
    value: {get_attr: [cluster, status]}
  node_addresses:
    value: {get_attr: [cluster, node_addresses]}
  master_addresses:
    value: {get_attr: [cluster, master_addresses]}
  coe_version:
    value: {get_attr: [cluster, coe_version]}
""".replace("%(keypair)s", KEYPAIR)


class Openstack:
    """``openstack`` as a Keystone user: the Heat venv's for ``stack``, the project's for ``coe``."""

    def __init__(self, keystone: KeystoneServer, heat: HeatServer, username: str) -> None:
        user = keystone.users[username]
        self.heat_cli = heat.bin / "openstack"
        self.env = child_env(
            {
                "OS_AUTH_URL": keystone.identity_url,
                "OS_IDENTITY_API_VERSION": "3",
                "OS_USERNAME": user.name,
                "OS_PASSWORD": user.password,
                "OS_PROJECT_NAME": user.project_name,
                "OS_USER_DOMAIN_NAME": "Default",
                "OS_PROJECT_DOMAIN_NAME": "Default",
                "OS_REGION_NAME": REGION_ID,
            }
        )

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cli = self.heat_cli if args[0] == "stack" else OPENSTACK
        print(f"$ openstack {shlex.join(args)}", flush=True)
        started = time.monotonic()
        result = subprocess.run(
            [str(cli), *args], capture_output=True, text=True, timeout=CLI_TIMEOUT, env=self.env, check=False
        )
        print(f"  exit {result.returncode} in {time.monotonic() - started:.1f} s", flush=True)
        for stream in (result.stdout, result.stderr):
            if stream.strip():
                print("\n".join(f"    {line}" for line in stream.rstrip().splitlines()[-40:]), flush=True)
        if check:
            assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-f", "json").stdout)


@pytest.fixture(scope="module")
def heat(eco_keystone: KeystoneServer, eco_jeroboam: JeroboamProcess, artifacts: Path) -> Iterator[HeatServer]:
    workdir = artifacts / "heat"
    shutil.rmtree(workdir, ignore_errors=True)
    with fresh_database("mariadb", workdir) as database:
        server = start_heat(eco_keystone, workdir, database + "?charset=utf8")
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def member(eco_keystone: KeystoneServer, heat: HeatServer, standins: Inventory) -> Openstack:
    standins.add_keypair(KEYPAIR)
    return Openstack(eco_keystone, heat, USER)


def stack_state(cli: Openstack, stack: str) -> tuple[str, str, dict[str, Any]]:
    """Status, reason and outputs of ``stack``, from one ``openstack stack show``."""
    shown = cli.json("stack", "show", stack)
    outputs = {output["output_key"]: output["output_value"] for output in shown.get("outputs") or []}
    return shown["stack_status"], shown.get("stack_status_reason") or "", outputs


def magnum_get(jeroboam: JeroboamProcess, token: str, path: str) -> httpx.Response:
    """A GET on Jeroboam's API (a quicker look than the CLI where the CLI is not what is tested)."""
    return httpx.get(f"{jeroboam.endpoint}{path}", headers={"X-Auth-Token": token}, timeout=30)


def test_heat_creates_resizes_and_deletes_a_cluster(
    member: Openstack,
    heat: HeatServer,
    standins: Inventory,
    artifacts: Path,
    eco_keystone: KeystoneServer,
    eco_jeroboam: JeroboamProcess,
) -> None:
    template_file = artifacts / "heat" / "cluster.yaml"
    template_file.write_text(TEMPLATE)
    stack = f"heat-{uuid.uuid4().hex[:6]}"
    template_name = f"{stack}-template"
    timeout = ["--timeout", str(STACK_TIMEOUT_MINUTES)]
    params = ["--parameter", f"template_name={template_name}"]

    # create: CREATE_COMPLETE, outputs as Jeroboam shows the cluster
    member.run(
        "stack",
        "create",
        "-t",
        str(template_file),
        *params,
        "--parameter",
        "node_count=1",
        *timeout,
        "--wait",
        stack,
        check=False,
    )
    status, reason, outputs = stack_state(member, stack)
    assert status == "CREATE_COMPLETE", f"{status}: {reason}\n{_diagnostics(member, heat, standins, stack)}"
    cluster = member.json("coe", "cluster", "show", outputs["cluster_id"])
    assert cluster["status"] == "CREATE_COMPLETE"
    assert (
        (outputs["node_count"], outputs["master_count"]) == (1, 1) == (cluster["node_count"], cluster["master_count"])
    )
    assert outputs["status"] == cluster["status"]
    assert outputs["api_address"] == cluster["api_address"]
    assert outputs["node_addresses"] == cluster["node_addresses"]
    assert outputs["master_addresses"] == cluster["master_addresses"]
    assert outputs["coe_version"] == cluster["coe_version"]
    assert cluster["cluster_template_id"] == outputs["template_id"]
    template = member.json("coe", "cluster", "template", "show", outputs["template_id"])
    assert template["name"] == template_name
    # Heat resolved the networks through Neutron and sent their IDs; Jeroboam took them.
    assert template["external_network_id"] in ("public", standins.network_id("public"))

    # update: node_count 1 -> 2 -> 1, UPDATE_COMPLETE each time, the cluster resized
    for count in (2, 1):
        member.run(
            "stack",
            "update",
            "--existing",
            "--parameter",
            f"node_count={count}",
            *timeout,
            "--wait",
            stack,
            check=False,
        )
        status, reason, updated = stack_state(member, stack)
        assert status == "UPDATE_COMPLETE", f"{status}: {reason}\n{_diagnostics(member, heat, standins, stack)}"
        assert updated["node_count"] == count
        cluster = magnum_get(eco_jeroboam, eco_keystone.token_for(USER), f"/clusters/{outputs['cluster_id']}").json()
        assert (cluster["status"], cluster["node_count"]) == ("UPDATE_COMPLETE", count)

    # delete: the stack, the cluster and the template are gone
    member.run("stack", "delete", "--yes", "--wait", stack, check=False)
    gone = member.run("stack", "show", stack, check=False)
    assert gone.returncode != 0, gone.stdout
    assert "not found" in (gone.stdout + gone.stderr).lower()
    token = eco_keystone.token_for(USER)
    for path in (f"/clusters/{outputs['cluster_id']}", f"/clustertemplates/{outputs['template_id']}"):
        assert magnum_get(eco_jeroboam, token, path).status_code == 404, path
    assert not standins.unknown, f"requests the stand-ins do not serve: {standins.unknown}"


def _diagnostics(cli: Openstack, heat: HeatServer, standins: Inventory, stack: str) -> str:
    events = cli.run("stack", "event", "list", stack, check=False).stdout
    return (
        f"events:\n{events}\nstand-ins unknown requests: {standins.unknown}\n"
        f"heat-engine log:\n{heat.log_tail('heat-engine', 60)}"
    )
