"""RabbitMQ on 127.0.0.1:5672 is shared by every test run on the machine: a run that starts
processes of its own gives them a virtual host of their own (made and removed with
``rabbitmqctl``), so two runs never see each other's wake-ups or notifications."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

RABBIT_URL = "rabbit://guest:guest@127.0.0.1:5672"


class BrokerError(RuntimeError):
    """The broker (or its rabbitmqctl) cannot do what the test needs."""


def broker_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


def rabbitmqctl(*args: str, check: bool = True) -> None:
    command = shutil.which("rabbitmqctl")
    if command is None:
        raise BrokerError("rabbitmqctl is not installed; a test's RabbitMQ vhost is made with it")
    result = subprocess.run([command, "-q", *args], capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise BrokerError(f"rabbitmqctl {' '.join(args)} failed: {result.stdout}{result.stderr}")


@contextmanager
def scratch_vhost(prefix: str) -> Iterator[str]:
    """A new vhost that guest may use, removed afterwards; yields its transport URL."""
    vhost = f"{prefix}-{secrets.token_hex(4)}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{RABBIT_URL}/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost, check=False)
