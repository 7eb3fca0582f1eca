"""A TCP forwarder that a test controls, put between Jeroboam and a shared service (PostgreSQL,
MariaDB, RabbitMQ) to take the service away from Jeroboam without stopping it for anyone else.

It listens on 127.0.0.1 (a port of its own, for its whole life) and forwards each connection to
the service. ``refuse()`` is the service going down as a stopped server looks from outside: every
open connection is cut (both directions closed) and each new one is reset at once, and counted in
``refused`` (so a test can wait until a client has tried N times, instead of sleeping).
``accept()`` forwards new connections again; ``cut()`` closes the open connections only.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

CHUNK = 65536


class Forwarder:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.accepted = 0  # connections forwarded so far
        self.refused = 0  # connections reset while refusing
        self._forwarding = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Forwarder:
        self._listener.listen(64)
        self._spawn(self._accept_loop)
        self.accept()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.refuse()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    # -- control ----------------------------------------------------------------------------------
    def accept(self) -> None:
        """Forward new connections (the service is back)."""
        with self._lock:
            self._forwarding = True

    def refuse(self) -> None:
        """Reset every new connection and cut every open one (the service is down)."""
        with self._lock:
            self._forwarding = False
        self.cut()

    def cut(self) -> None:
        """Close every open connection in both directions (each side reads end-of-file)."""
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    # -- forwarding -------------------------------------------------------------------------------
    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed: the forwarder is done
                return
            with self._lock:
                forwarding = self._forwarding
                if not forwarding:
                    self.refused += 1
            if not forwarding:
                # An RST, not a FIN: the client fails at once, as against a port nobody listens on.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = (client, upstream)
            with self._lock:
                if not self._forwarding:  # refused while this one was connecting: cut it too
                    client.close()
                    upstream.close()
                    continue
                self._pairs.add(pair)
                self.accepted += 1
            self._spawn(self._pump, client, upstream, pair)
            self._spawn(self._pump, upstream, client, pair)

    def _pump(self, source: socket.socket, sink: socket.socket, pair: tuple[socket.socket, socket.socket]) -> None:
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        # One side ended: end the other too, as a real connection would.
        with self._lock:
            self._pairs.discard(pair)
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            source.close()
