"""KeystoneTokenValidator against a real Keystone 30 (tests/support/keystone.py)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from jeroboam.api.auth.keystone import KeystoneTokenValidator
from jeroboam.errors import ServiceUnavailableError, UnauthenticatedError
from tests.support.keystone import KeystoneServer

pytestmark = pytest.mark.keystone

GUARD_SECONDS = 60  # longest a validation against an unusable Keystone may block before the test fails


class CountingTransport(httpx.BaseTransport):
    """A real HTTP transport that counts the requests it sends."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def transport() -> CountingTransport:
    return CountingTransport()


@pytest.fixture
def validator(keystone_server: KeystoneServer, transport: CountingTransport) -> Iterator[KeystoneTokenValidator]:
    validator = KeystoneTokenValidator(keystone_server.authtoken_settings(), transport=transport)
    yield validator
    validator.close()


def test_member_token(keystone_server: KeystoneServer, validator: KeystoneTokenValidator) -> None:
    user = keystone_server.users["alpha-member"]

    info = validator.validate(keystone_server.token_for("alpha-member"))

    assert (info.user_id, info.user_name, info.user_domain_id) == (user.user_id, "alpha-member", "default")
    assert (info.project_id, info.project_name) == (keystone_server.projects["alpha"], "alpha")
    assert {"member", "reader"} <= info.roles  # reader is implied by member
    assert "admin" not in info.roles
    assert time.time() + 3000 < info.expires_at <= time.time() + 3600


def test_reader_token(keystone_server: KeystoneServer, validator: KeystoneTokenValidator) -> None:
    info = validator.validate(keystone_server.token_for("alpha-reader"))

    assert info.roles == frozenset({"reader"})
    assert info.project_name == "alpha"


def test_other_project_member(keystone_server: KeystoneServer, validator: KeystoneTokenValidator) -> None:
    info = validator.validate(keystone_server.token_for("beta-member"))

    assert (info.project_id, info.project_name) == (keystone_server.projects["beta"], "beta")


def test_cloud_admin_token_carries_implied_roles(
    keystone_server: KeystoneServer, validator: KeystoneTokenValidator
) -> None:
    info = validator.validate(keystone_server.token_for("cloud-admin"))

    assert {"admin", "member", "reader"} <= info.roles
    assert info.project_name == "admin"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        # Fernet-shaped, but not made with this Keystone's keys.
        "gAAAAABpH4aaN0tAValidLookingButForgedTokenFromSomewhereElse_xyz0123456789-abcdefghijklmnopqrstuvwxyzAB",
    ],
)
def test_garbage_token_is_unauthenticated(validator: KeystoneTokenValidator, token: str) -> None:
    with pytest.raises(UnauthenticatedError):
        validator.validate(token)


def test_deleted_users_token_still_validates_from_cache(
    keystone_server: KeystoneServer, validator: KeystoneTokenValidator, transport: CountingTransport
) -> None:
    user = keystone_server.create_user("doomed-member", "alpha", ["member"])
    token = keystone_server.token_for(user.name)
    first = validator.validate(token)
    keystone_server.delete_user(user.name)
    requests = transport.requests

    assert validator.validate(token) == first
    assert transport.requests == requests  # answered from the cache
    # Keystone itself revoked the token with the user: an empty cache says so.
    fresh = KeystoneTokenValidator(keystone_server.authtoken_settings())
    try:
        with pytest.raises(UnauthenticatedError):
            fresh.validate(token)
    finally:
        fresh.close()


def test_concurrent_validations(keystone_server: KeystoneServer, validator: KeystoneTokenValidator) -> None:
    names = ["alpha-member", "alpha-reader", "beta-member", "cloud-admin"]
    tokens = [keystone_server.token_for(name) for name in names]

    with ThreadPoolExecutor(max_workers=4) as pool:
        infos = list(pool.map(validator.validate, tokens * 2))

    assert [info.user_name for info in infos] == names * 2


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def unavailable_answer(validator: KeystoneTokenValidator, token: str) -> str:
    """The message of the ServiceUnavailableError that ``validate`` raises. The validation runs in
    a thread so that one which never ends fails the test after GUARD_SECONDS instead of hanging it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(validator.validate, token)
        try:
            with pytest.raises(ServiceUnavailableError) as raised:
                future.result(timeout=GUARD_SECONDS)
        finally:
            validator.close()
    return raised.value.message


def test_closed_port_is_service_unavailable_without_waiting_for_the_timeout(keystone_server: KeystoneServer) -> None:
    settings = keystone_server.authtoken_settings(auth_url=f"http://127.0.0.1:{_closed_port()}", http_connect_timeout=5)
    validator = KeystoneTokenValidator(settings)

    message = unavailable_answer(validator, keystone_server.token_for("alpha-member"))

    # The refusal itself is the answer: a validator that waited would say "no answer within 5 s".
    assert message == "The identity service (Keystone) is unavailable: it cannot be reached."


def test_silent_keystone_is_service_unavailable_after_the_timeout(keystone_server: KeystoneServer) -> None:
    token = keystone_server.token_for("alpha-member")
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings = keystone_server.authtoken_settings(
            auth_url=f"http://127.0.0.1:{silent.getsockname()[1]}", http_connect_timeout=0.5
        )

        message = unavailable_answer(KeystoneTokenValidator(settings), token)

    # The configured timeout is what ended the wait, and the answer says so.
    assert message == "The identity service (Keystone) is unavailable: no answer within 0.5 s."
