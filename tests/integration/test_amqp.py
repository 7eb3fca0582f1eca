"""Wake-ups and notifications through a real RabbitMQ on 127.0.0.1:5672."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

from jeroboam.rpc.amqp import AmqpNotifier, AmqpWaker, AmqpWakeSource

URL = os.environ.get("JEROBOAM_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")


def _reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _reachable(), reason="RabbitMQ on 127.0.0.1:5672 is not reachable")


def wait_for(predicate: Any, deadline: float = 10.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_wakeup_reaches_every_conductor() -> None:
    sources = [AmqpWakeSource(URL, f"test-{n}") for n in range(2)]
    for source in sources:
        source.start()
    try:
        assert all(wait_for(source.connected.is_set) for source in sources)
        waker = AmqpWaker(URL)
        waker.wake("0c1b5c9e-0000-4000-8000-000000000001")
        assert all(source.wait(10) for source in sources)
        waker.close()
    finally:
        for source in sources:
            source.stop()


def test_waking_without_a_broker_does_not_fail() -> None:
    waker = AmqpWaker("amqp://guest:guest@127.0.0.1:1//")
    waker.wake("0c1b5c9e-0000-4000-8000-000000000002")  # queued; the failure is logged, not raised
    waker.close(timeout=0.5)


def test_notifications_use_the_openstack_envelope() -> None:
    exchange = Exchange("magnum", type="topic", durable=False)
    received: list[dict[str, Any]] = []
    with Connection(URL) as connection:
        queue = Queue("jeroboam-test-notifications", exchange, routing_key="notifications.*", exclusive=True)
        with connection.Consumer(queue, callbacks=[lambda body, msg: (received.append(body), msg.ack())]):
            notifier = AmqpNotifier(URL, publisher_id="jeroboam.test")
            notifier.emit("magnum.cluster.create.end", {"cluster_uuid": "u1", "name": "c1"})
            notifier.emit("magnum.cluster.create.error", {"cluster_uuid": "u1", "reason": "boom"})
            end = time.monotonic() + 10
            while len(received) < 2 and time.monotonic() < end:
                with contextlib.suppress(TimeoutError):
                    connection.drain_events(timeout=1)
            notifier.close()
    assert len(received) == 2
    first = json.loads(received[0]["oslo.message"])
    assert received[0]["oslo.version"] == "2.0"
    assert first["event_type"] == "magnum.cluster.create.end"
    assert first["priority"] == "INFO"
    assert first["payload"] == {"cluster_uuid": "u1", "name": "c1"}
    assert json.loads(received[1]["oslo.message"])["priority"] == "ERROR"


def test_a_full_backlog_drops_the_oldest_messages_with_one_line(caplog: pytest.LogCaptureFixture) -> None:
    waker = AmqpWaker("amqp://guest:guest@127.0.0.1:1//")  # nobody listens: everything is held
    publisher = waker._publisher
    publisher.BACKLOG = 5  # type: ignore[misc]
    with caplog.at_level(logging.WARNING, logger="jeroboam.rpc.amqp"):
        for n in range(12):
            waker.wake(f"0c1b5c9e-0000-4000-8000-{n:012d}")
        assert publisher.pending <= 5
        assert publisher.dropped >= 7 - 1  # the sender may hold one of them outside the backlog
        waker.close(timeout=0.5)
    full = [r for r in caplog.records if "backlog full" in r.getMessage()]
    assert len(full) == 1
    assert any("not delivered" in r.getMessage() for r in caplog.records)
