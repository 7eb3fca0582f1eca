"""Validate Keystone tokens, as keystonemiddleware's auth_token does for Magnum.

The validator authenticates as the service user (password, scoped to its project), asks
``GET {auth_url}/v3/auth/tokens`` about each user token, and keeps each answer in memory until
the token's own expiry, so a known token costs no HTTP call, and keeps working until it expires
even when its user is deleted or the token revoked meanwhile (keystonemiddleware behaves the same
with its token cache).

``auth_url`` may be given with or without a trailing ``/v3``. Tokens are never logged, and the
cache keys are SHA-256 digests, not the tokens themselves.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from jeroboam.config import KeystoneAuthtokenSettings
from jeroboam.context import CatalogEndpoint
from jeroboam.errors import ServiceUnavailableError, UnauthenticatedError

log = logging.getLogger(__name__)

UNAUTHENTICATED_MESSAGE = "The request you have made requires authentication."
# Get a new service token this long before Keystone says the current one expires.
SERVICE_TOKEN_MARGIN = 30.0
# Longest token accepted; Fernet tokens are ~200 bytes, JWS tokens under 1 KiB.
MAX_TOKEN_LENGTH = 8192
_NOCATALOG = {"nocatalog": ""}
# Catalog entries kept with a validated token: the services asked on the caller's behalf.
KEPT_SERVICE_TYPES = frozenset({"image", "compute", "network"})


@dataclass(frozen=True)
class TokenInfo:
    """What Keystone says about a valid token. ``roles`` include implied roles."""

    user_id: str
    user_name: str | None
    project_id: str | None
    project_name: str | None
    user_domain_id: str | None
    roles: frozenset[str]
    expires_at: float  # epoch seconds
    catalog: tuple[CatalogEndpoint, ...] = ()


@dataclass(frozen=True)
class _ServiceToken:
    token: str
    expires_at: float


class _KeystoneUnavailableError(Exception):
    """Keystone cannot be asked or answered unusably; ``reason`` is safe to show users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _base_url(auth_url: str) -> str:
    base = auth_url.rstrip("/")
    if base.endswith("/v3"):
        base = base[: -len("/v3")]
    return base


def _parse_expiry(value: object) -> float:
    if not isinstance(value, str):
        raise ValueError("expires_at is missing")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:  # Keystone writes UTC ("...Z"); be lenient with a bare time
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _optional_str(mapping: Mapping[str, Any] | None, key: str) -> str | None:
    if not mapping:
        return None
    value = mapping.get(key)
    return value if isinstance(value, str) else None


def _catalog(entries: object) -> tuple[CatalogEndpoint, ...]:
    """The endpoints of the kept service types in a token's catalog; anything malformed is skipped."""
    if not isinstance(entries, list):
        return ()
    endpoints: list[CatalogEndpoint] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("type") not in KEPT_SERVICE_TYPES:
            continue
        for endpoint in entry.get("endpoints") or []:
            if not isinstance(endpoint, dict):
                continue
            url, interface = endpoint.get("url"), endpoint.get("interface")
            if isinstance(url, str) and isinstance(interface, str):
                region = endpoint.get("region_id") or endpoint.get("region")
                endpoints.append(
                    CatalogEndpoint(entry["type"], interface, region if isinstance(region, str) else None, url)
                )
    return tuple(endpoints)


def _token_info(body: Any) -> TokenInfo:
    """Build a TokenInfo from Keystone's token body; ValueError when it is not one."""
    try:
        token = body["token"]
        user = token["user"]
        user_id = user["id"]
        if not isinstance(user_id, str):
            raise ValueError("user.id is not a string")
        project = token.get("project")
        roles = frozenset(role["name"] for role in token.get("roles") or [] if isinstance(role.get("name"), str))
        return TokenInfo(
            user_id=user_id,
            user_name=_optional_str(user, "name"),
            project_id=_optional_str(project, "id"),
            project_name=_optional_str(project, "name"),
            user_domain_id=_optional_str(user.get("domain"), "id"),
            roles=roles,
            expires_at=_parse_expiry(token.get("expires_at")),
            catalog=_catalog(token.get("catalog")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a token body ({type(exc).__name__}: {exc})") from exc


def _looks_like_token(token: str) -> bool:
    """Printable ASCII without spaces, of a sane length: anything else is not worth asking about."""
    return 0 < len(token) <= MAX_TOKEN_LENGTH and all("!" <= ch <= "~" for ch in token)


class KeystoneTokenValidator:
    """Validates user tokens against Keystone; thread-safe; one instance per process."""

    def __init__(
        self,
        settings: KeystoneAuthtokenSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not settings.auth_url or not settings.username or settings.password is None:
            raise ValueError("keystone_authtoken.auth_url, username and password are required to validate tokens")
        self._settings = settings
        self._password = settings.password
        self._base_url = _base_url(settings.auth_url)
        self._clock = clock
        self._cache_size = settings.token_cache_size
        self._cache: OrderedDict[bytes, TokenInfo] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._service_token: _ServiceToken | None = None
        self._service_lock = threading.Lock()
        self._auth_failures = 0  # failed service authentications so far (under _service_lock)
        self._last_auth_failure = ""
        self._closed = False
        self._client = httpx.Client(
            base_url=self._base_url,
            transport=transport,
            timeout=httpx.Timeout(settings.http_connect_timeout),
            headers={"Accept": "application/json", "User-Agent": "jeroboam-keystone-validator"},
            follow_redirects=False,
        )

    def validate(self, token: str) -> TokenInfo:
        """Return what Keystone says about ``token``.

        Raises ``UnauthenticatedError`` for a token Keystone does not accept (invalid, expired,
        revoked) and ``ServiceUnavailableError`` when Keystone cannot be asked.
        """
        if not _looks_like_token(token):
            raise UnauthenticatedError(UNAUTHENTICATED_MESSAGE)
        key = hashlib.sha256(token.encode("ascii")).digest()
        cached = self._cached(key)
        if cached is not None:
            return cached
        if self._closed:
            raise ServiceUnavailableError("Keystone token validation is shut down.")
        try:
            info = self._fetch(token)
        except _KeystoneUnavailableError as exc:
            raise ServiceUnavailableError(f"The identity service (Keystone) is unavailable: {exc.reason}.") from None
        if info.expires_at <= self._clock():
            raise UnauthenticatedError(UNAUTHENTICATED_MESSAGE)
        self._remember(key, info)
        return info

    def validate_cached(self, token: str) -> TokenInfo | None:
        """What the cache knows of ``token`` (no I/O, cheap enough for the event loop), or None when
        only Keystone can tell (``validate`` then asks it)."""
        if not _looks_like_token(token):
            return None
        return self._cached(hashlib.sha256(token.encode("ascii")).digest())

    def close(self) -> None:
        """Close the connections; ``validate`` answers from the cache only afterwards."""
        self._closed = True
        self._client.close()

    # ---- cache

    def _cached(self, key: bytes) -> TokenInfo | None:
        with self._cache_lock:
            info = self._cache.get(key)
            if info is None:
                return None
            if info.expires_at <= self._clock():
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return info

    def _remember(self, key: bytes, info: TokenInfo) -> None:
        if self._cache_size <= 0:
            return
        with self._cache_lock:
            self._cache[key] = info
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    # ---- Keystone

    def _fetch(self, token: str) -> TokenInfo:
        service = self._get_service_token()
        response = self._ask_about(token, service)
        if response.status_code == 401:
            # Keystone rejects our service token (expired early, revoked, keys rotated): get a
            # new one and ask again. A 401 with a token just issued is about the user's token.
            log.info("Keystone rejected the service token; authenticating again")
            self._forget_service_token(service)
            service = self._get_service_token()
            response = self._ask_about(token, service)
            if response.status_code == 401:
                raise UnauthenticatedError(UNAUTHENTICATED_MESSAGE)
        status = response.status_code
        if status == 200:
            try:
                return _token_info(response.json())
            except ValueError as exc:
                log.error("Keystone at %s answered token validation unreadably: %s", self._base_url, exc)
                raise _KeystoneUnavailableError("unreadable answer to token validation") from None
        if status in (400, 404):
            raise UnauthenticatedError(UNAUTHENTICATED_MESSAGE)
        if status == 403:
            log.error(
                "Keystone at %s forbids service user %r to validate tokens (HTTP 403); "
                "give it the 'service' or 'admin' role on its project",
                self._base_url,
                self._settings.username,
            )
            raise _KeystoneUnavailableError("the service user may not validate tokens")
        log.error("Keystone at %s answered token validation with HTTP %s", self._base_url, status)
        raise _KeystoneUnavailableError(f"HTTP {status} from token validation")

    def _ask_about(self, token: str, service: _ServiceToken) -> httpx.Response:
        headers = {"X-Auth-Token": service.token, "X-Subject-Token": token}
        # With the catalog: Glance, Nova and Neutron are asked through it on the caller's behalf.
        return self._send("GET", "/v3/auth/tokens", headers=headers, catalog=True)

    def _get_service_token(self) -> _ServiceToken:
        failures_before = self._auth_failures
        with self._service_lock:
            current = self._service_token
            if current is not None and current.expires_at - SERVICE_TOKEN_MARGIN > self._clock():
                return current
            if self._auth_failures != failures_before:
                # Another thread tried while this one waited for the lock, and failed: share its
                # answer rather than queueing one more attempt (and one more timeout) per thread.
                raise _KeystoneUnavailableError(self._last_auth_failure)
            try:
                current = self._authenticate()
            except _KeystoneUnavailableError as exc:
                self._auth_failures += 1
                self._last_auth_failure = exc.reason
                raise
            self._service_token = current
            return current

    def _forget_service_token(self, stale: _ServiceToken) -> None:
        with self._service_lock:
            if self._service_token is stale:  # another thread may have replaced it already
                self._service_token = None

    def _authenticate(self) -> _ServiceToken:
        settings = self._settings
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": settings.username,
                            "domain": {"name": settings.user_domain_name},
                            "password": self._password.get_secret_value(),
                        }
                    },
                },
                "scope": {
                    "project": {
                        "name": settings.project_name,
                        "domain": {"name": settings.project_domain_name},
                    }
                },
            }
        }
        response = self._send("POST", "/v3/auth/tokens", json=body)
        if response.status_code == 201:
            token = response.headers.get("X-Subject-Token")
            try:
                expires_at = _parse_expiry(response.json()["token"]["expires_at"])
            except (ValueError, KeyError, TypeError) as exc:
                log.error("Keystone at %s answered authentication unreadably: %s", self._base_url, exc)
                raise _KeystoneUnavailableError("unreadable answer to service authentication") from None
            if token:
                return _ServiceToken(token, expires_at)
            log.error("Keystone at %s issued a service token without X-Subject-Token", self._base_url)
            raise _KeystoneUnavailableError("unreadable answer to service authentication")
        if response.status_code in (400, 401, 403, 404):
            log.error(
                "Keystone at %s refuses to authenticate service user %r in project %r (HTTP %s)",
                self._base_url,
                settings.username,
                settings.project_name,
                response.status_code,
            )
            raise _KeystoneUnavailableError("the service user cannot authenticate")
        log.error(
            "Keystone at %s answered authentication with HTTP %s",
            self._base_url,
            response.status_code,
        )
        raise _KeystoneUnavailableError(f"HTTP {response.status_code} from authentication")

    def _send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        catalog: bool = False,
    ) -> httpx.Response:
        try:
            params = None if catalog else _NOCATALOG
            return self._client.request(method, path, params=params, headers=headers, json=json)
        except httpx.TimeoutException:
            log.error(
                "Keystone at %s did not answer %s %s within %s s",
                self._base_url,
                method,
                path,
                self._settings.http_connect_timeout,
            )
            raise _KeystoneUnavailableError(f"no answer within {self._settings.http_connect_timeout:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL, RuntimeError) as exc:
            # RuntimeError: the client was closed by close() in another thread.
            log.error("Keystone at %s cannot be reached: %s: %s", self._base_url, type(exc).__name__, exc)
            raise _KeystoneUnavailableError("it cannot be reached") from None
