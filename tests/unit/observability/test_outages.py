"""An outage is logged once when it starts and once when it ends, whatever the attempts."""

from __future__ import annotations

import logging
import threading

import pytest

from jeroboam.observability.outages import Outage


def test_many_failed_attempts_make_one_line_and_the_first_success_another(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage("the database", "requests are answered 503")
    with caplog.at_level(logging.INFO, logger="jeroboam.observability.outages"):
        assert outage.succeeded() is None  # nothing to end
        starts = [outage.failed(ConnectionRefusedError("refused\nsecond line")) for _ in range(50)]
        lasted = outage.succeeded()
        outage.succeeded()
    assert starts.count(True) == 1
    assert lasted is not None
    assert lasted >= 0
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "the database is unavailable (ConnectionRefusedError: refused); requests are answered 503"),
        ("INFO", f"the database is available again after {lasted:.1f} s"),
    ]
    assert outage.count == 1


def test_threads_failing_at_once_start_one_outage(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage("the message broker", "polling")
    barrier = threading.Barrier(8)

    def fail() -> None:
        barrier.wait()
        for _ in range(100):
            outage.failed("reset")

    with caplog.at_level(logging.WARNING, logger="jeroboam.observability.outages"):
        threads = [threading.Thread(target=fail) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(caplog.records) == 1
    assert outage.ongoing
    outage.succeeded()
    outage.failed("again")  # a second outage is a new line
    assert outage.count == 2
