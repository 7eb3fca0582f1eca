"""RabbitMQ (AMQP 0-9-1 through kombu): wake-ups for conductors and OpenStack notifications.

Wake-ups go to a fanout exchange that every conductor binds an exclusive,
auto-deleted queue to; they carry only a cluster id. Losing one costs at most
one ``conductor.poll_interval``, so publishing never fails nor delays an API
request: messages go through a bounded backlog that one background thread
sends. While the broker is away the backlog holds them (the oldest dropped past
``BACKLOG``) and they are delivered once it is back; the process logs one line
when the broker goes and one when it returns (``observability/outages.py``).

Notifications use oslo.messaging's envelope (``oslo.version`` 2.0 with the
message JSON-encoded in ``oslo.message``) on the ``<control_exchange>`` topic
exchange with routing key ``notifications.<priority>``, so existing OpenStack
consumers (ceilometer, searchlight-style listeners) can read them.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from amqp.exceptions import AMQPError  # type: ignore[import-untyped]
from kombu import Connection  # type: ignore[attr-defined]
from kombu.entity import Exchange, Queue
from kombu.exceptions import KombuError
from kombu.utils.url import maybe_sanitize_url

from jeroboam.config import Settings
from jeroboam.observability.outages import Outage
from jeroboam.rpc.notifications import Notifier, NullNotifier

log = logging.getLogger(__name__)

WAKEUP_EXCHANGE = "jeroboam.wakeup"
BROKER_ERRORS: tuple[type[BaseException], ...] = (KombuError, AMQPError, OSError, ConnectionError, socket.timeout)
RETRY_FIRST = 0.5  # seconds before the first retry of an unsent message; doubled up to RETRY_MAX
RETRY_MAX = 5.0

_outages: dict[str, Outage] = {}
_outages_lock = threading.Lock()


def broker_outage(url: str) -> Outage:
    """This process's view of the broker at ``url``: publishers and consumers share it, so an
    outage is logged once however many of them meet it."""
    with _outages_lock:
        if url not in _outages:
            _outages[url] = Outage(
                f"the message broker {maybe_sanitize_url(url)}",
                f"wake-ups and notifications are held (up to {_Publisher.BACKLOG}) until it is back; "
                "conductors find work by polling",
                log,
            )
        return _outages[url]


def _connection(url: str) -> Connection:
    # oslo.messaging spells RabbitMQ URLs rabbit://; kombu knows the same transport as amqp://.
    if url.startswith("rabbit://"):
        url = "amqp://" + url[len("rabbit://") :]
    # max_retries 0: kombu would otherwise retry a refused connect inside the call for seconds,
    # unseen; the callers retry themselves and report the outage (once).
    return Connection(url, connect_timeout=3, transport_options={"confirm_publish": True, "max_retries": 0})


Message = tuple[dict[str, Any], Exchange, str]


class _Publisher:
    """Publishes from one background thread, so a slow or absent broker never delays a caller.
    A message that cannot be sent stays first in the backlog and is retried (backing off up to
    ``RETRY_MAX``) until the broker takes it; past ``BACKLOG`` held messages the oldest is dropped."""

    BACKLOG = 10000

    def __init__(self, url: str) -> None:
        self.url = url
        self.outage = broker_outage(url)
        self.dropped = 0  # messages lost to a full backlog or to a close while the broker was away
        self._dropped_in_outage = 0
        self._connection: Connection | None = None
        self._backlog: collections.deque[Message] = collections.deque()
        self._ready = threading.Condition()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="amqp-publisher", daemon=True)
        self._thread.start()

    def publish(self, body: dict[str, Any], exchange: Exchange, routing_key: str) -> None:
        with self._ready:
            if len(self._backlog) >= self.BACKLOG:
                self._backlog.popleft()
                self.dropped += 1
                self._dropped_in_outage += 1
                if self._dropped_in_outage == 1:  # once per outage; the count comes when it ends
                    log.warning("broker backlog full (%d held): dropping the oldest until it is back", self.BACKLOG)
            self._backlog.append((body, exchange, routing_key))
            self._ready.notify()

    @property
    def pending(self) -> int:
        return len(self._backlog)

    def _run(self) -> None:
        delay = RETRY_FIRST
        while True:
            with self._ready:
                while not self._backlog and not self._closing.is_set():
                    self._ready.wait()
                if not self._backlog:
                    return  # closing, and everything was sent
                item = self._backlog[0]
            if self._send(*item):
                with self._ready:
                    if self._backlog and self._backlog[0] is item:  # not dropped meanwhile
                        self._backlog.popleft()
                    dropped, self._dropped_in_outage = self._dropped_in_outage, 0
                if dropped:
                    log.warning("%d broker messages were dropped while the broker was away", dropped)
                delay = RETRY_FIRST
                continue
            if self._closing.wait(delay):
                self._give_up()
                return
            delay = min(delay * 2, RETRY_MAX)

    def _send(self, body: dict[str, Any], exchange: Exchange, routing_key: str) -> bool:
        # Twice: a connection that died while idle (a broker restart) is replaced at once,
        # without counting as an outage.
        for attempt in (1, 2):
            try:
                if self._connection is None:
                    self._connection = _connection(self.url)
                producer = self._connection.Producer(serializer="json")
                producer.publish(body, exchange=exchange, routing_key=routing_key, declare=[exchange], retry=False)
                self.outage.succeeded()
                return True
            except BROKER_ERRORS as exc:
                self._reset()
                if attempt == 2:
                    self.outage.failed(exc)
        return False

    def _give_up(self) -> None:
        with self._ready:
            lost = len(self._backlog)
            self._backlog.clear()
        if lost:
            self.dropped += lost
            log.warning("%d broker messages not delivered: the broker was unavailable at shutdown", lost)

    def _reset(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                self._connection.release()
            self._connection = None

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for up to ``timeout``), then disconnect; what the broker did not
        take by then is dropped, with one log line."""
        with self._ready:
            self._closing.set()
            self._ready.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():  # still sending to a slow broker: whatever is left is lost
            self._give_up()
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
        outage = broker_outage(self.url)
        while not self._stop.is_set():
            try:
                with _connection(self.url) as connection:
                    queue = Queue(self._queue_name, self._exchange, exclusive=True, auto_delete=True, durable=False)
                    with connection.Consumer(queue, callbacks=[self._on_message], accept=["json"]):
                        self.connected.set()
                        outage.succeeded()
                        # Work may have been requested while no wake-up could come: look now.
                        self._event.set()
                        while not self._stop.is_set():
                            try:
                                connection.drain_events(timeout=1)
                            except TimeoutError:
                                continue
            except BROKER_ERRORS as exc:
                self.connected.clear()
                outage.failed(exc)  # logged once per outage; the conductor polls meanwhile
                self._stop.wait(1)

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
