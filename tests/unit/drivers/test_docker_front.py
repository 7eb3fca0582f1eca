"""The API front's configuration: TCP passthrough to the managers' slot addresses, checked every
second, first that answers; its digest changes with the managers and the image only."""

from __future__ import annotations

from jeroboam.drivers.docker.front import digest, render

BACKENDS = [("c-default-master-0", "172.28.1.2"), ("c-default-master-1", "172.28.1.3")]


def test_every_manager_is_a_checked_backend_and_the_first_that_answers_takes_the_connections() -> None:
    config = render("u", BACKENDS)
    assert "    server c-default-master-0 172.28.1.2:2376\n    server c-default-master-1 172.28.1.3:2376\n" in config
    assert "mode tcp" in config  # TLS passes through: the front holds no key
    assert "balance first" in config
    assert "default-server check inter 1000 fall 1 rise 1" in config
    assert "option redispatch 1" in config
    assert "bind :2376" in config


def test_the_digest_follows_the_managers_and_the_image() -> None:
    assert digest(render("u", BACKENDS), "jeroboam/front:a") == digest(render("u", BACKENDS), "jeroboam/front:a")
    assert digest(render("u", BACKENDS[:1]), "jeroboam/front:a") != digest(render("u", BACKENDS), "jeroboam/front:a")
    assert digest(render("u", BACKENDS), "jeroboam/front:b") != digest(render("u", BACKENDS), "jeroboam/front:a")
