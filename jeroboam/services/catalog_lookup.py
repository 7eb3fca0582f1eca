"""Ask the Glance, Nova and Neutron of the caller's Keystone catalog, with the caller's token.

The questions are the ones Magnum's validators ask: an image by ID
(``GET /v2/images/<id>``) or by name (``GET /v2/images?name=``), a flavor by ID
(``GET /flavors/<id>``) or by name (``GET /flavors/detail``), a key pair by name
(``GET /os-keypairs/<name>``), a network or subnet by ID (``GET /v2.0/networks/<id>``) or name
(``GET /v2.0/networks?name=``). Answers that found something are kept for ``cache_ttl`` seconds
per project (not found is never cached: a resource made a moment ago is found at once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from jeroboam.config import OpenStackServicesSettings
from jeroboam.context import CatalogEndpoint, RequestContext
from jeroboam.domain.identifiers import is_uuid_like
from jeroboam.errors import AmbiguousNameError, PermissionDeniedError, ServiceUnavailableError
from jeroboam.services.resource_lookup import SERVICE_LABEL, SERVICE_TYPE, FoundResource, LookupKind

log = logging.getLogger(__name__)

# Path prefix each service's API lives under when the catalog URL names no version.
API_VERSION = {"image": "/v2", "network": "/v2.0", "compute": ""}
PLURAL = {"image": "images", "flavor": "flavors", "network": "networks", "external_network": "networks"}


class _MissingError(Exception):
    """The service answered 404."""


class CatalogLookup:
    """A ``ResourceLookup`` over the caller's service catalog; thread-safe; one per process."""

    def __init__(
        self,
        settings: OpenStackServicesSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str, str, str], tuple[float, FoundResource]] = OrderedDict()
        self._lock = threading.Lock()
        self._client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(settings.timeout),
            headers={"Accept": "application/json", "User-Agent": "jeroboam-resource-lookup"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    # -- ResourceLookup ---------------------------------------------------------------------------
    def offers(self, context: RequestContext, kind: LookupKind) -> bool:
        return (
            context.auth_token is not None and self._endpoint(context.service_catalog, SERVICE_TYPE[kind]) is not None
        )

    def find(self, context: RequestContext, kind: LookupKind, value: str) -> FoundResource | None:
        service = SERVICE_TYPE[kind]
        endpoint = self._endpoint(context.service_catalog, service)
        if endpoint is None or context.auth_token is None:
            return None
        key = (endpoint, context.project_id or "", kind, value)
        cached = self._cached(key)
        if cached is not None:
            return cached
        found = _Questions(self, endpoint, service, context.auth_token).find(kind, value)
        if found is not None:
            self._remember(key, found)
        return found

    # -- catalog ----------------------------------------------------------------------------------
    def _endpoint(self, catalog: Sequence[CatalogEndpoint], service_type: str) -> str | None:
        region = self._settings.region_name
        for endpoint in catalog:
            if (
                endpoint.service_type == service_type
                and endpoint.interface == self._settings.interface
                and (region is None or endpoint.region == region)
            ):
                url = endpoint.url.rstrip("/")
                suffix = API_VERSION[service_type]
                return url if not suffix or url.endswith(suffix) else url + suffix
        return None

    # -- cache ------------------------------------------------------------------------------------
    def _cached(self, key: tuple[str, str, str, str]) -> FoundResource | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._cache[key]
                return None
            return entry[1]

    def _remember(self, key: tuple[str, str, str, str], found: FoundResource) -> None:
        if self._settings.cache_size <= 0 or self._settings.cache_ttl <= 0:
            return
        with self._lock:
            self._cache[key] = (self._clock() + self._settings.cache_ttl, found)
            self._cache.move_to_end(key)
            while len(self._cache) > self._settings.cache_size:
                self._cache.popitem(last=False)

    # -- HTTP -------------------------------------------------------------------------------------
    def get(self, service: str, url: str, token: str, params: Mapping[str, str] | None = None) -> Any:
        """The JSON body of a 200; ``_MissingError`` for a 404; a clear error for anything else."""
        label = SERVICE_LABEL[service]
        try:
            response = self._client.get(url, params=params, headers={"X-Auth-Token": token})
        except httpx.TimeoutException:
            log.error("%s at %s did not answer within %s s", label, url, self._settings.timeout)
            raise ServiceUnavailableError(f"The {label} did not answer within {self._settings.timeout:g} s.") from None
        except (httpx.HTTPError, httpx.InvalidURL, RuntimeError) as exc:
            log.error("%s at %s cannot be reached: %s: %s", label, url, type(exc).__name__, exc)
            raise ServiceUnavailableError(f"The {label} cannot be reached.") from None
        status = response.status_code
        if status == 404:
            raise _MissingError
        if status in (401, 403):
            raise PermissionDeniedError(f"The {label} refused the request's token (HTTP {status}).")
        if status != 200:
            log.error("%s at %s answered HTTP %s", label, url, status)
            raise ServiceUnavailableError(f"The {label} is unavailable (HTTP {status}).")
        try:
            return response.json()
        except ValueError:
            log.error("%s at %s answered with a body that is not JSON", label, url)
            raise ServiceUnavailableError(f"The {label} answered unreadably.") from None


class _Questions:
    """One lookup: the questions to ask one service endpoint with one token."""

    def __init__(self, lookup: CatalogLookup, endpoint: str, service: str, token: str) -> None:
        self.lookup = lookup
        self.endpoint = endpoint
        self.service = service
        self.token = token

    def find(self, kind: LookupKind, value: str) -> FoundResource | None:
        if kind == "keypair":
            body = self._get_one(f"/os-keypairs/{quote(value, safe='')}")
            keypair = _member(body, "keypair")
            return None if keypair is None else FoundResource(id=value, name=_text(keypair, "name") or value)
        if kind == "flavor":  # Nova flavor IDs are any string ("1", "m1.small"), so try the ID first
            flavor = _member(self._get_one(f"/flavors/{quote(value, safe='')}"), "flavor")
            if flavor is not None:
                return _resource(flavor)
            return self._by_name(kind, value, self._items("/flavors/detail", "flavors", {"is_public": "None"}))
        singular = {"image": "", "network": "network", "external_network": "network", "subnet": "subnet"}[kind]
        collection = "subnets" if kind == "subnet" else PLURAL[kind]
        if is_uuid_like(value):
            body = self._get_one(f"/{collection}/{quote(value, safe='')}")
            item = body if kind == "image" else _member(body, singular)
            if isinstance(item, dict) and _usable(kind, item):
                return _resource(item)
        params = {"name": value}
        if kind == "external_network":
            params["router:external"] = "True"
        items = [item for item in self._items(f"/{collection}", collection, params) if _usable(kind, item)]
        return self._by_name(kind, value, items)

    def _get_one(self, path: str) -> Any:
        try:
            return self.lookup.get(self.service, self.endpoint + path, self.token)
        except _MissingError:
            return None

    def _items(self, path: str, key: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        try:
            body = self.lookup.get(self.service, self.endpoint + path, self.token, params)
        except _MissingError:
            return []
        items = body.get(key) if isinstance(body, dict) else None
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    def _by_name(self, kind: LookupKind, value: str, items: list[dict[str, Any]]) -> FoundResource | None:
        matches = [item for item in items if item.get("name") == value]
        if len(matches) > 1:
            noun = {"external_network": "network"}.get(kind, kind)
            raise AmbiguousNameError(
                f"Multiple {noun}s exist with same name {value}. Please use the {noun} id instead."
            )
        return _resource(matches[0]) if matches else None


def _member(body: Any, key: str) -> dict[str, Any] | None:
    item = body.get(key) if isinstance(body, dict) else None
    return item if isinstance(item, dict) else None


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) else None


def _resource(item: Mapping[str, Any]) -> FoundResource | None:
    identifier = item.get("id")
    if not isinstance(identifier, str | int):
        return None
    return FoundResource(id=str(identifier), name=_text(item, "name"))


def _usable(kind: LookupKind, item: Mapping[str, Any]) -> bool:
    """An external network must be one (``router:external``), as Magnum requires."""
    return kind != "external_network" or item.get("router:external") is True
