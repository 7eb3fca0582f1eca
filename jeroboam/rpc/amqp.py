"""RabbitMQ (AMQP 0-9-1 through kombu): wake-ups for conductors and OpenStack notifications.

Wake-ups go to a fanout exchange that every conductor binds an exclusive,
auto-deleted queue to; they carry only a cluster id. Losing one costs at most
one ``conductor.poll_interval``, so publishing is best effort: a broker outage
is logged and never fails an API request.

Notifications use oslo.messaging's envelope (``oslo.version`` 2.0 with the
message JSON-encoded in ``oslo.message``) on the ``<control_exchange>`` topic
exchange with routing key ``notifications.<priority>``, so existing OpenStack
consumers (ceilometer, searchlight-style listeners) can read them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from kombu import Connection  # type: ignore[attr-defined]
from kombu.entity import Exchange, Queue
from kombu.exceptions import KombuError

from jeroboam.config import Settings
from jeroboam.rpc.notifications import Notifier, NullNotifier

log = logging.getLogger(__name__)

WAKEUP_EXCHANGE = "jeroboam.wakeup"
BROKER_ERRORS: tuple[type[BaseException], ...] = (KombuError, OSError, ConnectionError, socket.timeout)


def _connection(url: str) -> Connection:
    # oslo.messaging spells RabbitMQ URLs rabbit://; kombu knows the same transport as amqp://.
    if url.startswith("rabbit://"):
        url = "amqp://" + url[len("rabbit://") :]
    return Connection(url, connect_timeout=3, transport_options={"confirm_publish": True})


class _Publisher:
    """Publishes from one background thread, so a slow or absent broker never delays a caller;
    when the broker is away longer than the backlog lasts, the oldest news is dropped."""

    BACKLOG = 10000

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: Connection | None = None
        self._backlog: queue.Queue[tuple[dict[str, Any], Exchange, str] | None] = queue.Queue(self.BACKLOG)
        self._thread = threading.Thread(target=self._run, name="amqp-publisher", daemon=True)
        self._thread.start()

    def publish(self, body: dict[str, Any], exchange: Exchange, routing_key: str) -> None:
        try:
            self._backlog.put_nowait((body, exchange, routing_key))
        except queue.Full:
            log.warning("broker backlog full; dropping a message for %s", exchange.name)

    def _run(self) -> None:
        while True:
            item = self._backlog.get()
            if item is None:
                return
            self._send(*item)

    def _send(self, body: dict[str, Any], exchange: Exchange, routing_key: str) -> bool:
        for attempt in (1, 2):
            try:
                if self._connection is None:
                    self._connection = _connection(self.url)
                producer = self._connection.Producer(serializer="json")
                producer.publish(body, exchange=exchange, routing_key=routing_key, declare=[exchange], retry=False)
                return True
            except BROKER_ERRORS as exc:
                self._reset()
                if attempt == 2:
                    log.warning("broker publish to %s failed: %s", exchange.name, exc)
        return False

    def _reset(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                self._connection.release()
            self._connection = None

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for up to ``timeout``), then disconnect."""
        try:
            self._backlog.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)
        self._reset()


class AmqpWaker:
    """The API side: tell every conductor that a cluster has work."""

    def __init__(self, url: str) -> None:
        self._publisher = _Publisher(url)
        self._exchange = Exchange(WAKEUP_EXCHANGE, type="fanout", durable=False, auto_delete=False)

    def wake(self, cluster_id: str) -> None:
        self._publisher.publish({"cluster_id": cluster_id}, self._exchange, routing_key="")

    def close(self, timeout: float = 5.0) -> None:
        self._publisher.close(timeout)


class AmqpWakeSource:
    """The conductor side: a consumer thread sets an event on every wake-up."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self._event = threading.Event()
        self._stop = threading.Event()
        self._exchange = Exchange(WAKEUP_EXCHANGE, type="fanout", durable=False, auto_delete=False)
        self._queue_name = f"{WAKEUP_EXCHANGE}.{name}.{uuid.uuid4().hex[:8]}"
        self._thread = threading.Thread(target=self._consume, name="amqp-wakeups", daemon=True)
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> bool:
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken

    def _consume(self) -> None:
        while not self._stop.is_set():
            try:
                with _connection(self.url) as connection:
                    queue = Queue(self._queue_name, self._exchange, exclusive=True, auto_delete=True, durable=False)
                    with connection.Consumer(queue, callbacks=[self._on_message], accept=["json"]):
                        self.connected.set()
                        while not self._stop.is_set():
                            try:
                                connection.drain_events(timeout=1)
                            except TimeoutError:
                                continue
            except BROKER_ERRORS as exc:
                self.connected.clear()
                log.warning("wake-up consumer lost the broker (%s); polling until it is back", exc)
                self._stop.wait(2)

    def _on_message(self, body: Any, message: Any) -> None:
        self._event.set()
        message.ack()


class AmqpNotifier:
    """OpenStack-format notifications (``magnum.cluster.create.end`` ...)."""

    def __init__(self, url: str, *, publisher_id: str, exchange: str = "magnum", topic: str = "notifications") -> None:
        self._publisher = _Publisher(url)
        self._exchange = Exchange(exchange, type="topic", durable=False)
        self.publisher_id = publisher_id
        self.topic = topic

    def emit(self, event_type: str, payload: dict[str, Any]) -> None:
        priority = "ERROR" if event_type.endswith(".error") else "INFO"
        message = {
            "message_id": str(uuid.uuid4()),
            "publisher_id": self.publisher_id,
            "event_type": event_type,
            "priority": priority,
            "payload": payload,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        }
        envelope = {"oslo.version": "2.0", "oslo.message": json.dumps(message)}
        self._publisher.publish(envelope, self._exchange, routing_key=f"{self.topic}.{priority.lower()}")

    def close(self) -> None:
        self._publisher.close()


def broker_notifier(settings: Settings, publisher_id: str) -> Notifier:
    """Notifications go to the broker when one is configured, else nowhere."""
    if settings.transport_url:
        return AmqpNotifier(settings.transport_url, publisher_id=publisher_id)
    return NullNotifier()
