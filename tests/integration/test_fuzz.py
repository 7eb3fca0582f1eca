"""Schema-driven fuzzing of every operation of the live server (SQLite backend).

Schemathesis reads ``/v1/openapi.json`` and generates requests that fit the schema (positive) and
requests that do not (negative), plus a hand-written pass over the query arguments and the
microversion header, which the schema does not describe. Every answer must be:

* never a 5xx;
* for every 4xx, Magnum's body ``{"errors": [{"request_id", "code", "status", "title", "detail",
  "links"}]}`` with ``status`` equal to the HTTP status — except a 401, which is
  keystonemiddleware's ``{"error": {...}}``, and the unsupported-microversion 406, which has its
  own element.

The run is bounded (``MAX_EXAMPLES`` per operation and mode, ``TIME_BUDGET`` overall) and prints
how many cases were sent and how many 5xx came back. Failures are collected, not raised inside
Hypothesis, so one bad answer neither stops the run nor triggers shrinking; the test fails at the
end with a curl command for each distinct problem.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from sqlalchemy import update

from jeroboam.db.models import Cluster, NodeGroup
from tests.conftest import MICROVERSION, Api, RunningServer
from tests.support.identities import ADMIN

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900)]

MAX_EXAMPLES = int(os.environ.get("JEROBOAM_FUZZ_EXAMPLES", "25"))  # per operation and mode
TIME_BUDGET = float(os.environ.get("JEROBOAM_FUZZ_SECONDS", "420"))  # the whole run
HEADERS = {**ADMIN.headers, MICROVERSION: "container-infra latest"}
ERROR_KEYS = {"request_id", "code", "status", "title", "detail", "links"}
MICROVERSION_406_KEYS = {"code", "title", "min_version", "max_version", "links"}
SEED_PROJECT = "fuzz-project"
SEED_TEMPLATE = "fuzz-template"


# --------------------------------------------------------------------------- the oracle


def problem_with(status: int, body: bytes, content_type: str) -> str | None:
    """What is wrong with an answer, or None."""
    if status >= 500:
        return f"server error {status}"
    if status < 400:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return f"{status} with a non-JSON body ({content_type!r}): {body[:200]!r}"
    if not content_type.startswith("application/json"):
        return f"{status} with Content-Type {content_type!r}"
    if status == 401:
        error = document.get("error") if isinstance(document, dict) else None
        if not isinstance(error, dict) or not {"code", "title", "message"} <= error.keys():
            return f"401 body is not keystonemiddleware's shape: {document}"
        return None
    if not isinstance(document, dict) or set(document) != {"errors"}:
        return f"{status} body is not {{'errors': [...]}}: {document}"
    errors = document["errors"]
    if not isinstance(errors, list) or len(errors) != 1 or not isinstance(errors[0], dict):
        return f"{status} 'errors' is not a list of one object: {document}"
    item = errors[0]
    if status == 406 and item.get("code") == "magnum.microversion-unsupported":
        missing = MICROVERSION_406_KEYS - item.keys()
        return f"microversion 406 lacks {sorted(missing)}: {item}" if missing else None
    if set(item) != ERROR_KEYS:
        return f"{status} error keys {sorted(item)} != {sorted(ERROR_KEYS)}: {item}"
    if item["status"] != status:
        return f"error status {item['status']!r} != HTTP {status}"
    expected_code = "client" if status < 500 else "server"
    if item["code"] not in (expected_code, ""):
        return f"error code {item['code']!r} for HTTP {status}"
    if not all(isinstance(item[key], str) for key in ("request_id", "code", "title", "detail")):
        return f"{status} error has non-string text fields: {item}"
    if not isinstance(item["links"], list):
        return f"{status} error links is not a list: {item}"
    if item["code"] == "client" and not item["title"]:
        return f"{status} client error without a title: {item}"
    return None


# --------------------------------------------------------------------------- bookkeeping


@dataclass
class Tally:
    deadline: float
    cases: int = 0
    server_errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    per_operation: Counter[str] = field(default_factory=Counter)
    problems: dict[str, str] = field(default_factory=dict)  # "label: problem" -> a reproducer
    skipped: list[str] = field(default_factory=list)

    @property
    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def record(
        self, label: str, status: int, body: bytes, content_type: str, reproduce: Callable[[], str] | str
    ) -> None:
        """Count one answer; ``reproduce`` (or a function making it) says how to send it again."""
        self.cases += 1
        self.per_operation[label] += 1
        self.statuses[status] += 1
        if status >= 500:
            self.server_errors += 1
        problem = problem_with(status, body, content_type)
        if problem is not None:
            # Keyed by the operation and the first words of the problem: one reproducer per kind.
            key = f"{label}: {problem[:90]}"
            command = reproduce if isinstance(reproduce, str) else reproduce()
            self.problems.setdefault(key, f"{problem}\n    {command}")

    def problems_since(self, known: set[str]) -> dict[str, str]:
        return {key: detail for key, detail in self.problems.items() if key not in known}

    def report(self) -> str:
        lines = [
            f"fuzz: {self.cases} cases over {len(self.per_operation)} operations; "
            f"{self.server_errors} answered 5xx; {len(self.problems)} distinct problems",
            "fuzz: statuses " + ", ".join(f"{code}x{count}" for code, count in sorted(self.statuses.items())),
        ]
        if self.skipped:
            lines.append(f"fuzz: out of time budget, not fuzzed: {', '.join(self.skipped)}")
        lines += [f"PROBLEM {key}\n  {detail}" for key, detail in self.problems.items()]
        return "\n".join(lines)


RUN_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    record = Tally(deadline=time.monotonic() + TIME_BUDGET)
    yield record
    print("\n" + record.report(), flush=True)


@pytest.fixture
def sqlite_server(server_on: Callable[[str], RunningServer]) -> RunningServer:
    running = server_on("sqlite")
    running.wipe()
    return running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def seed(server: RunningServer) -> dict[str, str]:
    """Fresh known resources, so that generated requests also reach existing ones."""
    server.wipe()
    admin = Api(server.url)
    try:
        template = admin.post(
            "/v1/clustertemplates",
            json={
                "name": SEED_TEMPLATE,
                "coe": "kubernetes",
                "driver": "sim",
                "image_id": "fedora-coreos",
                "external_network_id": "public",
                "flavor_id": "m1.small",
                "master_flavor_id": "m1.small",
                "labels": {"a": "b"},
            },
        )
        assert template.status_code == 201, template.text
        admin.post("/v1/quotas", json={"project_id": SEED_PROJECT, "resource": "Cluster", "hard_limit": 3})
        hints = {"template": template.json()["uuid"], "project_id": SEED_PROJECT, "resource": "Cluster"}
        cluster = admin.post(
            "/v1/clusters",
            json={"name": "fuzz-cluster", "cluster_template_id": hints["template"], "node_count": 1},
        )
        if cluster.status_code == 202:
            hints["cluster"] = cluster.json()["uuid"]
            complete(server, hints["cluster"])  # so updates, resizes and nodegroups get past the state checks
        return hints
    finally:
        admin.client.close()


def complete(server: RunningServer, cluster_uuid: str) -> None:
    """Stand in for the conductor: the cluster and its nodegroups reach CREATE_COMPLETE."""
    with server.services.db.transaction() as session:
        session.execute(
            update(Cluster)
            .where(Cluster.uuid == cluster_uuid)
            .values(status="CREATE_COMPLETE", status_reason="seeded", api_address="https://127.0.0.1:6443")
        )
        session.execute(update(NodeGroup).where(NodeGroup.cluster_id == cluster_uuid).values(status="CREATE_COMPLETE"))


def path_hints(path: str, seeded: dict[str, str]) -> dict[str, str]:
    """Values of the path parameters of ``path`` that name seeded resources."""
    hints: dict[str, str] = {}
    cluster_paths = ("/v1/clusters/{ident}", "/v1/bays", "/v1/certificates", "/v1/credentials")
    if "{project_id}" in path:
        hints["project_id"] = seeded["project_id"]
    if "{resource}" in path:
        hints["resource"] = seeded["resource"]
    if "{cluster_ident}" in path and "cluster" in seeded:
        hints["cluster_ident"] = seeded["cluster"]
    if "{ident}" in path:
        if path.startswith(("/v1/clustertemplates", "/v1/baymodels")):
            hints["ident"] = seeded["template"]
        elif path.startswith(cluster_paths) and "cluster" in seeded:
            hints["ident"] = seeded["cluster"]
        elif "{cluster_ident}" in path:
            hints["ident"] = "default-worker"
    return hints


def operations(schema: Any) -> list[Any]:
    found = []
    for result in schema.get_all_operations():
        found.append(result.ok())
    return found


# --------------------------------------------------------------------------- the tests


def test_fuzz_every_operation(sqlite_server: RunningServer, http: requests.Session, tally: Tally) -> None:
    schema = schemathesis.openapi.from_url(f"{sqlite_server.url}/v1/openapi.json", timeout=30)
    ops = operations(schema)
    assert ops, "the OpenAPI document lists no operations"
    known = set(tally.problems)
    for operation in ops:
        label = f"{operation.method.upper()} {operation.path}"
        if tally.out_of_time:
            tally.skipped.append(label)
            continue
        seeded = seed(sqlite_server)
        hints = path_hints(operation.path, seeded)
        # Negative data needs something to break: a body (path parameters are free-form strings).
        modes = [schemathesis.GenerationMode.POSITIVE]
        if operation.body:
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:
            strategies = [operation.as_strategy(generation_mode=mode)]
            if hints:
                strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=hints))
            run_operation(st.one_of(strategies), label, sqlite_server.url, http, tally)
    assert tally.cases > 0
    assert not tally.problems_since(known), tally.report()


def run_operation(
    strategy: st.SearchStrategy[Any], label: str, base_url: str, http: requests.Session, tally: Tally
) -> None:
    @RUN_SETTINGS
    @given(case=strategy)
    def one(case: Any) -> None:
        if tally.out_of_time:
            return
        headers = {**HEADERS}
        try:
            response = case.call(base_url=base_url, session=http, headers=headers, timeout=30)
        except requests.RequestException as exc:
            tally.cases += 1
            tally.problems.setdefault(f"{label}: transport error", f"{exc!r}\n    {case.as_curl_command(headers)}")
            return
        tally.record(
            label,
            response.status_code,
            response.content,
            (response.headers.get("content-type") or [""])[0],
            lambda: case.as_curl_command(headers, base_url=base_url),
        )

    # Negative mode has nothing to break in an operation that takes no input.
    with contextlib.suppress(Unsatisfiable):
        one()


# Query arguments the schema does not describe: the ones the list endpoints know, and noise.
QUERY_NAMES = ("marker", "limit", "sort_key", "sort_dir", "all_tenants", "project_id", "type", "rollback", "bogus")
QUERY_VALUES = st.one_of(
    st.sampled_from(["", "0", "-1", "1", "2", "1000000000000000000000", "asc", "desc", "up", "id", "uuid", "name"]),
    st.sampled_from(["true", "false", "True", "yes", "cluster", "nodes", "created_at", "project_id", "labels"]),
    st.uuids().map(str),
    st.text(max_size=20),
)
QUERY_PATHS = (
    "/v1/clustertemplates",
    "/v1/clustertemplates/detail",
    "/v1/baymodels",
    "/v1/quotas",
    "/v1/stats",
    "/v1/mservices",
    "/v1/federations",
    "/v1/federations/detail",
    "/v1/clusters",
    "/v1/clusters/detail",
)
VERSION_HEADERS = st.one_of(
    st.sampled_from(
        [
            "container-infra latest",
            "container-infra 1.1",
            "container-infra 1.99",
            "container-infra 2.0",
            "container-infra 1.x",
            "container-infra",
            "compute 1.1",
            "container-infrastructure-management 1.14",
            "container-infra 1.1 extra",
            "",
        ]
    ),
    # requests refuses to send a header value with leading whitespace
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip),
)


def test_fuzz_query_arguments_and_versions(sqlite_server: RunningServer, http: requests.Session, tally: Tally) -> None:
    """Query strings and microversion headers on the collection endpoints (not in the schema)."""
    seed(sqlite_server)
    before = set(tally.problems)
    known = {path for path in QUERY_PATHS if http.get(sqlite_server.url + path, headers=HEADERS).status_code != 404}

    @settings(RUN_SETTINGS, max_examples=MAX_EXAMPLES * max(1, len(known)))
    @given(
        path=st.sampled_from(sorted(known)),
        query=st.dictionaries(st.sampled_from(QUERY_NAMES), QUERY_VALUES, max_size=4),
        version=st.one_of(st.none(), VERSION_HEADERS),
    )
    def one(path: str, query: dict[str, str], version: str | None) -> None:
        if tally.out_of_time:
            return
        headers = {**ADMIN.headers}
        if version is not None:
            headers[MICROVERSION] = version
        request = requests.Request("GET", sqlite_server.url + path, params=query, headers=headers).prepare()
        response = http.send(request, timeout=30)
        tally.record(
            f"GET {path}?<query>",
            response.status_code,
            response.content,
            response.headers.get("content-type", ""),
            lambda: "curl -g " + " ".join(f"-H '{k}: {v}'" for k, v in headers.items()) + f" '{request.url}'",
        )

    one()
    assert not tally.problems_since(before), tally.report()


def test_fuzz_bodies_with_wrong_media(sqlite_server: RunningServer, http: requests.Session, tally: Tally) -> None:
    """Raw bodies (not JSON, wrong types, wrong content types) to every operation that takes one."""
    seeded = seed(sqlite_server)
    before = set(tally.problems)
    schema = schemathesis.openapi.from_url(f"{sqlite_server.url}/v1/openapi.json", timeout=30)
    targets = []
    for operation in operations(schema):
        if operation.body:
            path = operation.path
            for name, value in path_hints(path, seeded).items():
                path = path.replace("{" + name + "}", value)
            path = path.replace("{ident}", "nope").replace("{cluster_ident}", "nope")
            targets.append((operation.method.upper(), path))
    assert targets

    raw = st.one_of(
        st.sampled_from([b"", b"{", b"[", b"null", b"1", b'"x"', b"[]", b"{}", b"\xff\xfe", b"[1,2]", b'[{"op":1}]']),
        st.binary(max_size=64),
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
            lambda children: st.one_of(
                st.lists(children, max_size=3), st.dictionaries(st.text(max_size=12), children, max_size=3)
            ),
            max_leaves=8,
        ).map(lambda value: json.dumps(value).encode()),
    )
    content_types = st.sampled_from(
        ["application/json", "text/plain", "application/octet-stream", "application/x-www-form-urlencoded", ""]
    )

    @settings(RUN_SETTINGS, max_examples=MAX_EXAMPLES * len(targets))
    @given(target=st.sampled_from(targets), body=raw, content_type=content_types)
    def one(target: tuple[str, str], body: bytes, content_type: str) -> None:
        if tally.out_of_time:
            return
        method, path = target
        headers = {**HEADERS}
        if content_type:
            headers["Content-Type"] = content_type
        response = http.request(method, sqlite_server.url + path, data=body, headers=headers, timeout=30)
        tally.record(
            f"{method} {path} <raw body>",
            response.status_code,
            response.content,
            response.headers.get("content-type", ""),
            lambda: (
                f"curl -X {method} -H 'Content-Type: {content_type}' --data-binary {body!r} '{sqlite_server.url}{path}'"
            ),
        )

    one()
    assert not tally.problems_since(before), tally.report()


NASTY_IDENTIFIERS = (
    "0",
    "1",
    "-1",
    "99999999999999999999999999",  # an integer id no database column can hold
    "2147483648",
    "\u00b2",  # a digit to str.isdigit(), not to int()
    "\u0663",  # ARABIC-INDIC DIGIT THREE: int() accepts it
    "1e3",
    "x" * 300,
    "00000000-0000-0000-0000-000000000000",
    "{00000000-0000-0000-0000-000000000000}",
    "urn:uuid:00000000-0000-0000-0000-000000000000",
    "%",
    "a b",
    "é",
    "null",
    "detail",
)


def test_nasty_identifiers(sqlite_server: RunningServer, http: requests.Session, tally: Tally) -> None:
    """Every operation with path parameters, with identifiers that trip naive parsing."""
    seeded = seed(sqlite_server)
    before = set(tally.problems)
    schema = schemathesis.openapi.from_url(f"{sqlite_server.url}/v1/openapi.json", timeout=30)
    for operation in operations(schema):
        names = [param.name for param in operation.path_parameters]
        if not names or tally.out_of_time:
            continue
        hints = path_hints(operation.path, seeded)
        method = operation.method.upper()
        for name in names:
            for nasty in NASTY_IDENTIFIERS:
                path = operation.path
                for other in names:
                    value = nasty if other == name else hints.get(other, "nope")
                    path = path.replace("{" + other + "}", quote(value, safe=""))
                body: Any = None
                if operation.body:
                    body = [] if method == "PATCH" and "quotas" not in path else {}
                response = http.request(method, sqlite_server.url + path, json=body, headers=HEADERS, timeout=30)
                tally.record(
                    f"{method} {operation.path} <{name}>",
                    response.status_code,
                    response.content,
                    response.headers.get("content-type", ""),
                    f"curl -X {method} -d '{json.dumps(body)}' '{sqlite_server.url}{path}'",
                )
    lists = [*QUERY_PATHS]
    if "cluster" in seeded:
        lists.append(f"/v1/clusters/{seeded['cluster']}/nodegroups")
    for path in lists:
        for argument in ("marker", "limit", "sort_key", "sort_dir"):
            for nasty in NASTY_IDENTIFIERS:
                response = http.get(sqlite_server.url + path, params={argument: nasty}, headers=HEADERS, timeout=30)
                tally.record(
                    f"GET {path} <{argument}>",
                    response.status_code,
                    response.content,
                    response.headers.get("content-type", ""),
                    f"curl '{response.url}'",
                )
    assert not tally.problems_since(before), tally.report()
