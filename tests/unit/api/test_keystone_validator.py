"""KeystoneTokenValidator against a fake Keystone (httpx.MockTransport) and a fake clock."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from jeroboam.api.auth.keystone import UNAUTHENTICATED_MESSAGE, KeystoneTokenValidator, TokenInfo
from jeroboam.config import KeystoneAuthtokenSettings
from jeroboam.errors import ServiceUnavailableError, UnauthenticatedError

START = 1_800_000_000.0
SERVICE_PASSWORD = "service-secret"


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ArrivalCountingLock:
    """Stand-in for the validator's service-token lock: a real lock that also counts the threads
    that arrived at it (holding it or blocked on it), so a test can wait for all of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition()
        self.arrivals = 0

    def __enter__(self) -> None:
        with self._arrived:
            self.arrivals += 1
            self._arrived.notify_all()
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def wait_for_arrivals(self, count: int, timeout: float) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: self.arrivals >= count, timeout)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _FakeToken:
    body: dict[str, Any]
    expires_at: float


@dataclass
class FakeKeystone:
    """A FAKE of Keystone's token API (POST/GET /v3/auth/tokens), served through httpx.MockTransport.

    ``failure`` makes every request fail: an httpx exception to raise, or a status code to answer.
    """

    clock: FakeClock
    service_token_ttl: float = 3600.0
    failure: Exception | int | None = None
    validate_status: int | None = None  # answer every validation with this status instead
    auth_requests: int = 0
    validate_requests: int = 0
    _service_tokens: dict[str, float] = field(default_factory=dict)
    _user_tokens: dict[str, _FakeToken] = field(default_factory=dict)
    _counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def issue_user_token(
        self,
        *,
        user_id: str = "u-alpha",
        project_id: str | None = "p-alpha",
        roles: tuple[str, ...] = ("member", "reader"),
        ttl: float = 3600.0,
    ) -> str:
        with self._lock:
            self._counter += 1
            token = f"user-token-{self._counter}"
        expires_at = self.clock() + ttl
        body: dict[str, Any] = {
            "methods": ["password"],
            "user": {"id": user_id, "name": f"name-of-{user_id}", "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": f"r-{name}", "name": name} for name in roles],
            "expires_at": _iso(expires_at),
            "issued_at": _iso(self.clock()),
        }
        if project_id is not None:
            body["project"] = {"id": project_id, "name": f"name-of-{project_id}", "domain": {"id": "default"}}
        self._user_tokens[token] = _FakeToken({"token": body}, expires_at)
        return token

    def revoke(self, token: str) -> None:
        del self._user_tokens[token]

    def revoke_service_tokens(self) -> None:
        self._service_tokens.clear()

    def handle(self, request: httpx.Request) -> httpx.Response:
        if isinstance(self.failure, Exception):
            raise self.failure
        if isinstance(self.failure, int):
            return httpx.Response(self.failure, json={"error": {"code": self.failure}})
        if request.url.path != "/v3/auth/tokens":
            return httpx.Response(404)
        if request.method == "POST":
            return self._authenticate(request)
        if request.method == "GET":
            return self._validate(request)
        return httpx.Response(405)

    def _authenticate(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.auth_requests += 1
            self._counter += 1
            token = f"service-token-{self._counter}"
        auth = json.loads(request.content)["auth"]
        user = auth["identity"]["password"]["user"]
        project = auth["scope"]["project"]
        if (user["name"], user["password"], project["name"]) != ("jeroboam", SERVICE_PASSWORD, "service"):
            return httpx.Response(401, json={"error": {"code": 401}})
        expires_at = self.clock() + self.service_token_ttl
        self._service_tokens[token] = expires_at
        body = {"token": {"expires_at": _iso(expires_at), "user": {"id": "u-jeroboam"}}}
        return httpx.Response(201, json=body, headers={"X-Subject-Token": token})

    def _validate(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.validate_requests += 1
        if self.validate_status is not None:
            return httpx.Response(self.validate_status, json={"error": {"code": self.validate_status}})
        service_expiry = self._service_tokens.get(request.headers.get("X-Auth-Token", ""))
        if service_expiry is None or service_expiry <= self.clock():
            return httpx.Response(401, json={"error": {"code": 401, "title": "Unauthorized"}})
        subject = self._user_tokens.get(request.headers.get("X-Subject-Token", ""))
        if subject is None or subject.expires_at <= self.clock():
            return httpx.Response(404, json={"error": {"code": 404, "title": "Not Found"}})
        return httpx.Response(200, json=subject.body, headers={"X-Subject-Token": request.headers["X-Subject-Token"]})


def _settings(**overrides: Any) -> KeystoneAuthtokenSettings:
    values: dict[str, Any] = {
        "auth_url": "http://keystone.test:5000",
        "username": "jeroboam",
        "password": SecretStr(SERVICE_PASSWORD),
        "project_name": "service",
        "http_connect_timeout": 2.0,
        **overrides,
    }
    return KeystoneAuthtokenSettings(**values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keystone(clock: FakeClock) -> FakeKeystone:
    return FakeKeystone(clock)


@pytest.fixture
def make_validator(keystone: FakeKeystone, clock: FakeClock) -> Iterator[Callable[..., KeystoneTokenValidator]]:
    made: list[KeystoneTokenValidator] = []

    def make(**overrides: Any) -> KeystoneTokenValidator:
        validator = KeystoneTokenValidator(_settings(**overrides), transport=keystone.transport, clock=clock)
        made.append(validator)
        return validator

    yield make
    for validator in made:
        validator.close()


@pytest.fixture
def validator(make_validator: Callable[..., KeystoneTokenValidator]) -> KeystoneTokenValidator:
    return make_validator()


class TestValidate:
    def test_valid_token_gives_its_identity(self, keystone: FakeKeystone, validator: KeystoneTokenValidator) -> None:
        token = keystone.issue_user_token(roles=("admin", "member", "reader"), ttl=600)

        info = validator.validate(token)

        assert info == TokenInfo(
            user_id="u-alpha",
            user_name="name-of-u-alpha",
            project_id="p-alpha",
            project_name="name-of-p-alpha",
            user_domain_id="default",
            roles=frozenset({"admin", "member", "reader"}),
            expires_at=START + 600,
        )

    def test_unscoped_token_has_no_project(self, keystone: FakeKeystone, validator: KeystoneTokenValidator) -> None:
        info = validator.validate(keystone.issue_user_token(project_id=None, roles=()))

        assert (info.project_id, info.project_name, info.roles) == (None, None, frozenset())

    def test_service_token_is_obtained_lazily_and_once(
        self, keystone: FakeKeystone, validator: KeystoneTokenValidator
    ) -> None:
        assert keystone.auth_requests == 0

        validator.validate(keystone.issue_user_token())
        validator.validate(keystone.issue_user_token())

        assert (keystone.auth_requests, keystone.validate_requests) == (1, 2)

    @pytest.mark.parametrize(
        "auth_url", ["http://keystone.test:5000/", "http://keystone.test:5000/v3", "http://keystone.test:5000/v3/"]
    )
    def test_auth_url_with_or_without_v3(
        self, keystone: FakeKeystone, make_validator: Callable[..., KeystoneTokenValidator], auth_url: str
    ) -> None:
        assert make_validator(auth_url=auth_url).validate(keystone.issue_user_token()).user_id == "u-alpha"

    def test_unknown_token_is_unauthenticated(self, validator: KeystoneTokenValidator) -> None:
        with pytest.raises(UnauthenticatedError) as caught:
            validator.validate("no-such-token")

        assert caught.value.message == UNAUTHENTICATED_MESSAGE == "The request you have made requires authentication."

    @pytest.mark.parametrize("token", ["", "has space", "new\nline", "nul\x00", "é-token", "x" * 8193])
    def test_malformed_token_is_unauthenticated_without_asking(
        self, keystone: FakeKeystone, validator: KeystoneTokenValidator, token: str
    ) -> None:
        with pytest.raises(UnauthenticatedError):
            validator.validate(token)

        assert keystone.auth_requests + keystone.validate_requests == 0

    def test_401_with_a_fresh_service_token_means_the_user_token_is_bad(
        self, keystone: FakeKeystone, validator: KeystoneTokenValidator
    ) -> None:
        keystone.validate_status = 401

        with pytest.raises(UnauthenticatedError):
            validator.validate(keystone.issue_user_token())

        assert (keystone.auth_requests, keystone.validate_requests) == (2, 2)


class TestCache:
    def test_cached_token_costs_no_request(self, keystone: FakeKeystone, validator: KeystoneTokenValidator) -> None:
        token = keystone.issue_user_token()
        first = validator.validate(token)
        requests = keystone.auth_requests + keystone.validate_requests

        assert validator.validate(token) == first
        assert keystone.auth_requests + keystone.validate_requests == requests

    def test_token_is_asked_about_again_after_it_expires(
        self, keystone: FakeKeystone, validator: KeystoneTokenValidator, clock: FakeClock
    ) -> None:
        token = keystone.issue_user_token(ttl=600)
        validator.validate(token)
        clock.advance(599)
        validator.validate(token)
        assert keystone.validate_requests == 1

        clock.advance(1)
        with pytest.raises(UnauthenticatedError):
            validator.validate(token)
        assert keystone.validate_requests == 2

    def test_revoked_token_keeps_working_from_cache_until_it_expires(
        self, keystone: FakeKeystone, validator: KeystoneTokenValidator, clock: FakeClock
    ) -> None:
        token = keystone.issue_user_token(ttl=600)
        validator.validate(token)
        keystone.revoke(token)  # e.g. its user was deleted

        clock.advance(300)
        assert validator.validate(token).user_id == "u-alpha"
        clock.advance(300)
        with pytest.raises(UnauthenticatedError):
            validator.validate(token)

    def test_rejections_are_not_cached(self, keystone: FakeKeystone, validator: KeystoneTokenValidator) -> None:
        for _ in range(2):
            with pytest.raises(UnauthenticatedError):
                validator.validate("unknown-token")

        assert keystone.validate_requests == 2

    def test_cache_is_a_bounded_lru(
        self, keystone: FakeKeystone, make_validator: Callable[..., KeystoneTokenValidator]
    ) -> None:
        validator = make_validator(token_cache_size=2)
        a, b, c = (keystone.issue_user_token() for _ in range(3))
        validator.validate(a)
        validator.validate(b)
        validator.validate(a)  # a is now the most recently used: c evicts b
        validator.validate(c)
        assert keystone.validate_requests == 3

        validator.validate(a)
        assert keystone.validate_requests == 3
        validator.validate(b)
        assert keystone.validate_requests == 4

    def test_cache_size_zero_disables_caching(
        self, keystone: FakeKeystone, make_validator: Callable[..., KeystoneTokenValidator]
    ) -> None:
        validator = make_validator(token_cache_size=0)
        token = keystone.issue_user_token()

        validator.validate(token)
        validator.validate(token)

        assert keystone.validate_requests == 2

    def test_closed_validator_answers_from_cache_only(
        self, keystone: FakeKeystone, validator: KeystoneTokenValidator
    ) -> None:
        known = keystone.issue_user_token()
        validator.validate(known)
        validator.close()

        assert validator.validate(known).user_id == "u-alpha"
        with pytest.raises(ServiceUnavailableError):
            validator.validate(keystone.issue_user_token())

    def test_validate_cached_answers_only_from_the_cache(
        self, keystone: FakeKeystone, validator: KeystoneTokenValidator, clock: FakeClock
    ) -> None:
        token = keystone.issue_user_token(ttl=60)
        assert validator.validate_cached(token) is None  # never validated: only Keystone can tell
        assert keystone.validate_requests == 0

        info = validator.validate(token)
        assert validator.validate_cached(token) == info
        assert validator.validate_cached("has space") is None
        assert keystone.validate_requests == 1

        clock.advance(61)
        assert validator.validate_cached(token) is None  # expired: dropped, Keystone is asked again
        assert keystone.validate_requests == 1


class TestServiceToken:
    def test_rejected_service_token_is_replaced_and_the_question_asked_again(
        self, keystone: FakeKeystone, validator: KeystoneTokenValidator
    ) -> None:
        validator.validate(keystone.issue_user_token())
        keystone.revoke_service_tokens()

        assert validator.validate(keystone.issue_user_token()).user_id == "u-alpha"
        assert (keystone.auth_requests, keystone.validate_requests) == (2, 3)

    def test_service_token_is_renewed_before_it_expires(
        self, keystone: FakeKeystone, validator: KeystoneTokenValidator, clock: FakeClock
    ) -> None:
        keystone.service_token_ttl = 120
        validator.validate(keystone.issue_user_token())
        clock.advance(100)  # inside the renewal margin: renew without a 401 round trip

        validator.validate(keystone.issue_user_token())

        assert (keystone.auth_requests, keystone.validate_requests) == (2, 2)

    def test_wrong_service_password_is_unavailable(
        self, keystone: FakeKeystone, make_validator: Callable[..., KeystoneTokenValidator]
    ) -> None:
        validator = make_validator(password=SecretStr("wrong"))

        with pytest.raises(ServiceUnavailableError, match="Keystone"):
            validator.validate(keystone.issue_user_token())

    def test_threads_waiting_for_a_failing_authentication_share_its_failure(self, clock: FakeClock) -> None:
        release = threading.Event()
        attempts: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            attempts.append(request.method)
            release.wait(5)
            raise httpx.ConnectTimeout("timed out")

        validator = KeystoneTokenValidator(_settings(), transport=httpx.MockTransport(handler), clock=clock)
        service_lock = ArrivalCountingLock()
        validator._service_lock = service_lock  # type: ignore[assignment]

        def attempt(token: str) -> str:
            try:
                validator.validate(token)
            except ServiceUnavailableError as exc:
                return exc.message
            return "validated"

        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(attempt, f"token-{n}") for n in range(6)]
            # All six are in the first attempt or waiting behind it before that attempt fails.
            assert service_lock.wait_for_arrivals(6, timeout=10)
            release.set()
            answers = [future.result(10) for future in futures]
        validator.close()

        assert attempts == ["POST"]
        assert set(answers) == {"The identity service (Keystone) is unavailable: no answer within 2 s."}

    def test_settings_without_credentials_are_refused(self) -> None:
        with pytest.raises(ValueError, match="auth_url, username and password"):
            KeystoneTokenValidator(_settings(password=None))


class TestUnavailable:
    @pytest.mark.parametrize(
        "failure",
        [
            httpx.ConnectError("[Errno 111] Connection refused"),
            httpx.ConnectTimeout("timed out"),
            httpx.ReadTimeout("timed out"),
            httpx.RemoteProtocolError("peer closed connection"),
            500,
            502,
            503,
        ],
        ids=["refused", "connect-timeout", "read-timeout", "protocol", "500", "502", "503"],
    )
    def test_keystone_failure_is_service_unavailable(
        self, keystone: FakeKeystone, validator: KeystoneTokenValidator, failure: Exception | int
    ) -> None:
        keystone.failure = failure

        with pytest.raises(ServiceUnavailableError, match=r"\(Keystone\)") as caught:
            validator.validate(keystone.issue_user_token())

        assert caught.value.__cause__ is None  # no httpx exception escapes, not even chained

    @pytest.mark.parametrize("status", [500, 503, 403])
    def test_validation_failure_is_service_unavailable(
        self, keystone: FakeKeystone, validator: KeystoneTokenValidator, status: int
    ) -> None:
        keystone.validate_status = status

        with pytest.raises(ServiceUnavailableError, match="Keystone"):
            validator.validate(keystone.issue_user_token())

    def test_unreadable_answer_is_service_unavailable(self, clock: FakeClock) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            if request.method == "POST":
                body = {"token": {"expires_at": _iso(clock() + 3600)}}
                return httpx.Response(201, json=body, headers={"X-Subject-Token": "svc"})
            return httpx.Response(200, text="<html>not json</html>")

        validator = KeystoneTokenValidator(_settings(), transport=httpx.MockTransport(handler), clock=clock)

        with pytest.raises(ServiceUnavailableError, match="Keystone"):
            validator.validate("some-token")
        validator.close()

    def test_recovers_when_keystone_comes_back(self, keystone: FakeKeystone, validator: KeystoneTokenValidator) -> None:
        token = keystone.issue_user_token()
        keystone.failure = httpx.ConnectError("refused")
        with pytest.raises(ServiceUnavailableError):
            validator.validate(token)

        keystone.failure = None
        assert validator.validate(token).user_id == "u-alpha"


def test_tokens_and_password_are_never_logged(
    keystone: FakeKeystone, validator: KeystoneTokenValidator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = keystone.issue_user_token()
    validator.validate(good)
    keystone.revoke_service_tokens()
    validator.validate(keystone.issue_user_token())
    with pytest.raises(UnauthenticatedError):
        validator.validate("unknown-token-value")
    for failure in (httpx.ConnectError("refused"), 503):
        keystone.failure = failure
        with pytest.raises(ServiceUnavailableError):
            validator.validate("another-unknown-token")

    assert caplog.records, "the failures above are expected to be logged"
    for secret in (good, "unknown-token-value", "another-unknown-token", "service-token-", SERVICE_PASSWORD):
        assert secret not in caplog.text


def test_concurrent_validations(keystone: FakeKeystone, validator: KeystoneTokenValidator) -> None:
    tokens = {keystone.issue_user_token(user_id=f"u-{n}"): f"u-{n}" for n in range(40)}
    work = list(tokens) * 5

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(validator.validate, work))

    assert [info.user_id for info in results] == [tokens[token] for token in work]
    assert keystone.auth_requests == 1
    assert keystone.validate_requests >= len(tokens)
