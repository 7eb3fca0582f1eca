"""OpenStack notifications as a consumer sees them on the real RabbitMQ."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

from kombu import Connection, Exchange, Queue

BROKER = ("127.0.0.1", 5672)


class Notifications:
    """Every notification on the ``magnum`` exchange, read from an exclusive queue of our own on
    the real broker (other tests share the exchange: callers filter by cluster)."""

    def __init__(self, broker: tuple[str, int] = BROKER) -> None:
        self.broker = broker
        self.events: list[tuple[str, str]] = []  # (event_type, cluster uuid)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        exchange = Exchange("magnum", type="topic", durable=False)
        with Connection(f"amqp://guest:guest@{self.broker[0]}:{self.broker[1]}//") as connection:
            queue = Queue("", exchange, routing_key="notifications.*", exclusive=True, auto_delete=True)
            with connection.Consumer(queue, callbacks=[self._on_message], accept=["json"]):
                self._ready.set()
                while not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        connection.drain_events(timeout=0.5)

    def _on_message(self, body: Any, message: Any) -> None:
        inner = json.loads(body["oslo.message"])
        payload = inner["payload"]
        with self._lock:
            self.events.append((inner["event_type"], payload.get("uuid") or payload.get("cluster_uuid")))
        message.ack()

    def of(self, uuid: str) -> list[str]:
        with self._lock:
            return [event for event, cluster in self.events if cluster == uuid]

    @contextlib.contextmanager
    def running(self) -> Iterator[Notifications]:
        self._thread.start()
        try:
            assert self._ready.wait(15), "could not consume from RabbitMQ"
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=10)
