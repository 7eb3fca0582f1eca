"""magnum-tempest-plugin's API tests, run by the real tempest, against Jeroboam with Keystone.

The suite upstream's gate runs (``tempest run --regex '^magnum_tempest_plugin\\.tests\\.api'``)
less the two tests the gate excludes too: ``test_create_list_sign_delete_clusters`` (needs a live
Kubernetes API) and ``test_create_cluster_with_zero_nodes`` (upstream answers it 400 without a
microversion header). RBAC tests run (``[enforce_scope] magnum = true``). Upstream Magnum passes
all 56; so must Jeroboam. tempest's log (debug, with every request and response) is kept in
``.artifacts/ecosystem/tempest``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.compat.conftest import JeroboamProcess
from tests.support.keystone import REGION_ID, KeystoneServer
from tests.support.standins import FLAVORS, Inventory
from tests.support.venvs import TEMPEST, child_env, ensure_venv

pytestmark = [pytest.mark.ecosystem, pytest.mark.keystone, pytest.mark.timeout(1200)]

REGEX = r"^magnum_tempest_plugin\.tests\.api"
EXCLUDED = ("test_create_list_sign_delete_clusters", "test_create_cluster_with_zero_nodes")
EXPECTED_PASSED = 56
RUN_TIMEOUT = 900.0
KEYPAIR = "magnum-test"


def tempest_conf(keystone: KeystoneServer, log_dir: Path) -> str:
    """tempest.conf: the suite's Keystone (admin creates dynamic credentials), only magnum available."""
    flavor = next(iter(sorted(FLAVORS)))
    return f"""\
[DEFAULT]
debug = true
log_dir = {log_dir}
log_file = tempest.log

[auth]
admin_username = {keystone.admin.name}
admin_password = {keystone.admin.password}
admin_project_name = {keystone.admin.project_name}
admin_domain_name = Default
use_dynamic_credentials = true
create_isolated_networks = false

[identity]
uri_v3 = {keystone.identity_url}
auth_version = v3
region = {REGION_ID}

[identity-feature-enabled]
api_v2 = false

[service_available]
magnum = true
nova = false
neutron = false
glance = false
cinder = false
swift = false

[enforce_scope]
magnum = true

[magnum]
image_id = fedora-coreos
flavor_id = {flavor}
master_flavor_id = {flavor}
nic_id = public
keypair_name = {KEYPAIR}
coe = kubernetes
"""


def test_magnum_tempest_plugin_api_tests_pass(
    eco_keystone: KeystoneServer, eco_jeroboam: JeroboamProcess, standins: Inventory, artifacts: Path
) -> None:
    venv = ensure_venv(TEMPEST)
    workdir = artifacts / "tempest"
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "etc").mkdir(parents=True)
    (workdir / "logs").mkdir()
    conf = workdir / "etc" / "tempest.conf"
    conf.write_text(tempest_conf(eco_keystone, workdir / "logs"))
    command = [
        str(venv / "bin" / "tempest"),
        "run",
        "--config-file",
        str(conf),
        "--regex",
        REGEX,
        "--exclude-regex",
        "|".join(EXCLUDED),
        "--concurrency",
        "2",
    ]
    print("$ " + " ".join(command[1:]), flush=True)
    result = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=child_env(), check=False
    )
    (workdir / "tempest-run.out").write_text(result.stdout + result.stderr)
    totals = parse_totals(result.stdout)
    failed = re.findall(r"^\{\d+\} (\S+) \[[^\]]*\] \.\.\. FAILED", result.stdout, re.MULTILINE)
    print(f"tempest: {totals}; stand-in requests: {len(standins.requests)}", flush=True)
    assert totals == {"Passed": EXPECTED_PASSED, "Failed": 0, "Skipped": 0}, (
        f"tempest exit {result.returncode}, totals {totals}; failed: {failed}\n"
        f"output tail:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}\n"
        f"full output and debug log in {workdir}; Jeroboam log tail:\n{eco_jeroboam.log_tail()}"
    )
    assert result.returncode == 0, result.stdout[-3000:]


def parse_totals(output: str) -> dict[str, int]:
    """Passed/Failed/Skipped from stestr's "Totals" block (-1 when a line is missing)."""
    found: dict[str, int] = {}
    for key in ("Passed", "Failed", "Skipped"):
        match = re.search(rf"^ - {key}: (\d+)$", output, re.MULTILINE)
        found[key] = int(match.group(1)) if match else -1
    return found
