"""The all-in-one's cross-process wake-up: API workers send datagrams to the conductor's socket."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jeroboam.rpc.wakeup import DatagramWaker, DatagramWakeSource


def test_a_wake_up_from_another_socket_ends_the_wait_at_once(tmp_path: Path) -> None:
    source = DatagramWakeSource(tmp_path / "wakeup.sock")
    waker = DatagramWaker(tmp_path / "wakeup.sock")
    try:
        waker.wake("a")
        waker.wake("b")
        assert source.wait(30) is True  # woken (a timeout answers False)
        # Both datagrams counted as one wake-up: the next wait times out.
        assert source.wait(0.05) is False
    finally:
        waker.close()
        source.close()


def test_without_a_wake_up_the_wait_times_out(tmp_path: Path) -> None:
    source = DatagramWakeSource(tmp_path / "wakeup.sock")
    try:
        assert source.wait(0.05) is False
    finally:
        source.close()


def test_waking_with_no_conductor_listening_is_a_lost_hint_not_an_error(tmp_path: Path) -> None:
    waker = DatagramWaker(tmp_path / "nobody.sock")
    try:
        waker.wake("a")  # must not raise
    finally:
        waker.close()


def test_the_socket_is_private_and_a_stale_one_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "wakeup.sock"
    path.write_text("left by a killed process")
    source = DatagramWakeSource(path)
    try:
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) & 0o077 == 0
    finally:
        source.close()
    assert not path.exists()


def test_a_path_too_long_for_a_socket_is_refused_with_its_name(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    with pytest.raises(ValueError, match="longer than 107 bytes"):
        DatagramWakeSource(deep / "wakeup.sock")
