"""Cluster templates over HTTP as clients see them (reference §2, §3.1, §5, §6, §11), compared with
upstream's wire samples where one exists."""

from __future__ import annotations

import json
import re
import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jeroboam.db.models import Cluster
from tests.conftest import Api, RunningServer
from tests.support.errors import first_sentence
from tests.support.identities import ALPHA_MEMBER, ALPHA_MEMBER2, ALPHA_READER, BETA_MEMBER, Identity
from tests.support.wire_samples import sample

K8S = {"coe": "kubernetes", "image_id": "fedora-coreos"}
SWARM = {"coe": "swarm-mode", "image_id": "jeroboam-node"}
GREEK = (
    "alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa|lambda|mu|nu|xi|omicron|pi|rho|sigma|tau|upsilon"
    "|phi|chi|psi|omega"
)
GENERATED_NAME = re.compile(rf"({GREEK})-([1-9]|1[0-9]|2[0-4])-template")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00")
MISSING = "6a4c8b9e-0000-4000-8000-000000000001"


def error(status: int, detail: str) -> dict[str, Any]:
    """Magnum's body of a client error."""
    return {
        "errors": [
            {
                "request_id": "",
                "code": "client",
                "status": status,
                "title": first_sentence(detail),
                "detail": detail,
                "links": [],
            }
        ]
    }


def assert_error(response: httpx.Response, status: int, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == error(status, detail)


def assert_error_starts(response: httpx.Response, status: int, prefix: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errors"}
    item = body["errors"][0]
    assert item["code"] == "client"
    assert item["status"] == status
    assert item["detail"].startswith(prefix), item["detail"]
    assert item["title"] == first_sentence(item["detail"])
    detail: str = item["detail"]
    return detail


@pytest.fixture
def alpha(api: Api) -> Iterator[Api]:
    client = api.as_(ALPHA_MEMBER)
    yield client
    client.client.close()


@pytest.fixture
def beta(api: Api) -> Iterator[Api]:
    client = api.as_(BETA_MEMBER)
    yield client
    client.client.close()


@pytest.fixture
def reader(api: Api) -> Iterator[Api]:
    client = api.as_(ALPHA_READER)
    yield client
    client.client.close()


def create(client: Api, **fields: Any) -> dict[str, Any]:
    body = {**K8S, **fields}
    response = client.post("/v1/clustertemplates", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def patch(client: Api, ident: str, *operations: dict[str, Any]) -> httpx.Response:
    return client.patch(f"/v1/clustertemplates/{ident}", json=list(operations))


def replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value}


def names(response: httpx.Response, key: str = "clustertemplates") -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()[key]]


def uuids(response: httpx.Response, key: str = "clustertemplates") -> list[str]:
    assert response.status_code == 200, response.text
    return [item["uuid"] for item in response.json()[key]]


def use(server: RunningServer, template_uuid: str, project_id: str = "alpha") -> str:
    """Insert a cluster that references the template, as the cluster API would."""
    cluster_uuid = str(uuidlib.uuid4())
    with server.services.db.transaction() as session:
        session.add(
            Cluster(
                uuid=cluster_uuid,
                name="user",
                project_id=project_id,
                user_id="someone",
                cluster_template_id=template_uuid,
            )
        )
    return cluster_uuid


def unuse(server: RunningServer, cluster_uuid: str) -> None:
    with server.services.db.transaction() as session:
        session.delete(session.query(Cluster).filter_by(uuid=cluster_uuid).one())


def follow(client: Api, path: str, key: str = "clustertemplates") -> list[dict[str, Any]]:
    """Every item of a list, following ``next`` links as magnumclient does."""
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        response = client.get(path)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body[key]
        pages += 1
        assert pages < 50
        if "next" not in body:
            return items
        assert body["next"].startswith(f"{client.url}/v1/")
        path = body["next"][len(client.url) :]


# -- create ------------------------------------------------------------------------------------


def test_create_matches_the_sample(api: Api, alpha: Api) -> None:
    expected = sample("POST clustertemplate", api.url)
    response = alpha.post("/v1/clustertemplates", json={**K8S, "name": "ct2", "labels": {"k": "v"}, "tags": "a,b"})
    assert response.status_code == 201, response.text
    body = response.json()
    uuid = body["uuid"]
    assert list(body) == list(expected["body"])  # the 36 keys, in upstream's order
    assert len(body) == 36
    assert TIMESTAMP.fullmatch(body["created_at"])
    want = {
        **expected["body"],
        "uuid": uuid,
        "image_id": "fedora-coreos",
        "project_id": "alpha",
        "user_id": "alice",
        "driver": "sim",
        "created_at": body["created_at"],
        "links": [
            {"href": f"{api.url}/v1/clustertemplates/{uuid}", "rel": "self"},
            {"href": f"{api.url}/clustertemplates/{uuid}", "rel": "bookmark"},
        ],
    }
    assert body == want
    assert response.headers["Location"] == f"{api.url}/v1/clustertemplates/{uuid}"
    assert response.headers["Content-Type"] == "application/json"


def test_created_template_reads_back_identically(alpha: Api) -> None:
    body = create(alpha, name="same")
    assert alpha.get(f"/v1/clustertemplates/{body['uuid']}").json() == body
    assert alpha.get("/v1/clustertemplates").json()["clustertemplates"] == [body]
    assert alpha.get("/v1/clustertemplates/detail").json()["clustertemplates"] == [body]


def test_every_field_is_stored(alpha: Api) -> None:
    fields = {
        "name": "full",
        "flavor_id": "m1.small",
        "master_flavor_id": "m1.medium",
        "dns_nameserver": "8.8.8.8,8.8.4.4",
        "keypair_id": "kp",
        "external_network_id": "public",
        "fixed_network": "private",
        "fixed_subnet": "private-subnet",
        "network_driver": "calico",
        "volume_driver": "cinder",
        "apiserver_port": 6443,
        "docker_volume_size": 20,
        "docker_storage_driver": "overlay2",
        "http_proxy": "http://proxy:3128",
        "https_proxy": "http://proxy:3128",
        "no_proxy": "localhost",
        "insecure_registry": "10.0.0.1:5000",
        "registry_enabled": True,
        "labels": {"a": "1"},
        "tls_disabled": True,
        "server_type": "bm",
        "master_lb_enabled": True,
        "floating_ip_enabled": False,
        "tags": "x,y",
    }
    body = create(alpha, **fields)
    assert {name: body[name] for name in fields} == fields
    assert body["driver"] == "sim"


def test_generated_name_when_absent_or_null(alpha: Api) -> None:
    assert GENERATED_NAME.fullmatch(create(alpha)["name"])
    assert GENERATED_NAME.fullmatch(create(alpha, name=None)["name"])


def test_a_given_uuid_is_used_in_canonical_form(alpha: Api) -> None:
    given = "6A4C8B9E-1111-4000-8000-00000000000A"
    body = create(alpha, uuid=given)
    assert body["uuid"] == given.lower()
    assert alpha.get(f"/v1/clustertemplates/{given}").status_code == 200
    assert alpha.get(f"/v1/clustertemplates/{given.lower()}").status_code == 200


def test_a_uuid_that_exists_is_a_conflict(alpha: Api, beta: Api) -> None:
    body = create(alpha)
    response = beta.post("/v1/clustertemplates", json={**K8S, "uuid": body["uuid"]})
    assert_error(response, 409, f"A ClusterTemplate with UUID {body['uuid']} already exists.")


@pytest.mark.parametrize(
    ("fields", "driver", "distro", "network_driver"),
    [
        (K8S, "sim", "fedora-coreos", "flannel"),
        ({"coe": "kubernetes", "image_id": "jeroboam-node"}, "sim", "debian", "flannel"),
        (SWARM, "docker", "debian", "docker"),
        ({"coe": "swarm", "image_id": "jeroboam-node"}, "docker", "debian", "docker"),
        ({**SWARM, "driver": "sim", "image_id": "fedora-coreos"}, "sim", "fedora-coreos", "docker"),
        ({**K8S, "network_driver": "calico"}, "sim", "fedora-coreos", "calico"),
        ({**K8S, "server_type": "bm"}, "sim", "fedora-coreos", "flannel"),
    ],
)
def test_driver_distro_and_network_driver_are_resolved(
    alpha: Api, fields: dict[str, Any], driver: str, distro: str, network_driver: str
) -> None:
    body = create(alpha, **fields)
    assert (body["driver"], body["cluster_distro"], body["network_driver"]) == (driver, distro, network_driver)
    assert body["coe"] == fields["coe"]


def test_cluster_distro_comes_from_the_image(alpha: Api) -> None:
    assert create(alpha, cluster_distro="ubuntu")["cluster_distro"] == "fedora-coreos"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("yes", True), ("1", True), ("On", True), ("false", False), ("n", False), ("0", False)],
)
def test_booleans_from_strings(alpha: Api, value: str, expected: bool) -> None:
    flags = ("tls_disabled", "registry_enabled", "master_lb_enabled", "floating_ip_enabled")
    body = create(alpha, **dict.fromkeys(flags, value))
    assert {flag: body[flag] for flag in flags} == dict.fromkeys(flags, expected)


def test_label_values_become_strings(alpha: Api) -> None:
    labels = create(alpha, labels={"s": "x", "i": 4, "t": True, "f": 1.5})["labels"]
    assert labels == {"s": "x", "i": "4", "t": "True", "f": "1.5"}


def test_explicit_nulls_are_not_provided(alpha: Api) -> None:
    """magnumclient sends every field, most of them null."""
    nulls = dict.fromkeys(
        ("uuid", "name", "flavor_id", "labels", "public", "hidden", "tags", "server_type", "floating_ip_enabled"),
    )
    body = create(alpha, **nulls)
    assert (body["labels"], body["public"], body["server_type"], body["floating_ip_enabled"]) == ({}, False, "vm", True)


# -- create: validation ------------------------------------------------------------------------


def test_unknown_attribute(alpha: Api) -> None:
    response = alpha.post("/v1/clustertemplates", json={**K8S, "foo": 1, "bar": 2})
    assert_error(response, 400, "Unknown attribute for argument cluster_template: bar, foo")


@pytest.mark.parametrize(
    ("name", "value"),
    [("project_id", "x"), ("user_id", "x"), ("created_at", "2020-01-01"), ("updated_at", "x"), ("links", "x")],
)
def test_read_only_attribute(alpha: Api, name: str, value: str) -> None:
    response = alpha.post("/v1/clustertemplates", json={**K8S, name: value})
    assert_error(
        response, 400, f"Invalid input for field/attribute {name}. Value: '{value}'. Cannot set read only field."
    )


def test_missing_image(api: Api, alpha: Api) -> None:
    response = alpha.post("/v1/clustertemplates", json={"coe": "kubernetes"})
    assert response.status_code == 400
    assert response.json() == sample("POST CT no image", api.url)["body"]


def test_missing_coe(alpha: Api) -> None:
    response = alpha.post("/v1/clustertemplates", json={"image_id": "fedora-coreos"})
    assert_error(response, 400, "Invalid input for field/attribute coe. Value: 'None'. Mandatory field missing.")


def test_bad_coe(alpha: Api) -> None:
    response = alpha.post("/v1/clustertemplates", json={**K8S, "coe": "nomad"})
    assert_error(
        response,
        400,
        "Invalid input for field/attribute coe. Value: 'nomad'. Value should be one of: kubernetes, swarm, swarm-mode",
    )


def test_mesos_is_known_but_not_installed(alpha: Api) -> None:
    response = alpha.post("/v1/clustertemplates", json={**K8S, "coe": "mesos"})
    assert_error_starts(response, 400, "No installed driver supports coe mesos")


@pytest.mark.parametrize(
    ("case", "field", "value"),
    [
        ("POST CT bad server_type", "server_type", "xx"),
        ("POST CT bad port", "apiserver_port", 80),
        ("POST CT bad dns", "dns_nameserver", "abc"),
        ("POST clustertemplate bad network driver", "network_driver", "weave"),
    ],
)
def test_validation_errors_match_samples(api: Api, alpha: Api, case: str, field: str, value: Any) -> None:
    response = alpha.post("/v1/clustertemplates", json={**K8S, field: value})
    assert response.status_code == 400
    assert response.json() == sample(case, api.url)["body"]


def test_devicemapper_volume_size(api: Api, alpha: Api) -> None:
    body = {**K8S, "docker_storage_driver": "devicemapper", "docker_volume_size": 2}
    response = alpha.post("/v1/clustertemplates", json=body)
    assert response.status_code == 400
    assert response.json() == sample("POST clustertemplate devicemapper size 2", api.url)["body"]
    assert create(alpha, docker_storage_driver="devicemapper", docker_volume_size=3)["docker_volume_size"] == 3
    assert create(alpha, docker_storage_driver="overlay2", docker_volume_size=1)["docker_volume_size"] == 1


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("apiserver_port", 65536, "Value should be lower or equal to 65535"),
        ("docker_volume_size", 0, "Value should be greater or equal to 1"),
        ("docker_volume_size", 2**31, "Value should be lower or equal to 2147483647"),
        ("image_id", "", "Value should have a minimum character requirement of 1"),
        ("flavor_id", "", "Value should have a minimum character requirement of 1"),
        ("name", "n" * 256, "Value should have a maximum character requirement of 255"),
        ("name", "", "Value should have a minimum character requirement of 1"),
        ("tls_disabled", "maybe", "Unrecognized value 'maybe', acceptable values are: '0', '1', 'f', 'false', "
         "'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"),
    ],
)  # fmt: skip
def test_field_constraints(alpha: Api, field: str, value: Any, reason: str) -> None:
    response = alpha.post("/v1/clustertemplates", json={**K8S, field: value})
    assert_error(response, 400, f"Invalid input for field/attribute {field}. Value: '{value}'. {reason}")


def test_dns_lists(alpha: Api) -> None:
    assert create(alpha, dns_nameserver="8.8.8.8")["dns_nameserver"] == "8.8.8.8"
    response = alpha.post("/v1/clustertemplates", json={**K8S, "dns_nameserver": "8.8.8.8,nope"})
    assert_error(response, 400, "Expected a single dns address or comma separated dns list, but received 8.8.8.8,nope.")


def test_network_driver_supported_but_not_allowed(alpha: Api) -> None:
    response = alpha.post("/v1/clustertemplates", json={**K8S, "network_driver": "cilium"})
    assert_error(
        response,
        400,
        "Network driver type cilium is not allowed, expecting a flannel/calico/unspecified network driver.",
    )


def test_network_driver_of_swarm(alpha: Api) -> None:
    response = alpha.post("/v1/clustertemplates", json={**SWARM, "network_driver": "calico"})
    detail = assert_error_starts(response, 400, "Network driver type calico is not supported")
    assert detail.endswith("/unspecified network driver.")
    response = alpha.post("/v1/clustertemplates", json={**SWARM, "network_driver": "flannel"})
    assert_error(
        response, 400, "Network driver type flannel is not allowed, expecting a docker/unspecified network driver."
    )


def test_bad_volume_driver(alpha: Api) -> None:
    response = alpha.post("/v1/clustertemplates", json={**K8S, "volume_driver": "rexray"})
    detail = assert_error_starts(response, 400, "Volume driver type rexray is not supported, expecting a cinder/")
    assert detail.endswith("/unspecified volume driver.")
    assert create(alpha, volume_driver="cinder")["volume_driver"] == "cinder"
    # The docker provider has no cinder.
    response = alpha.post("/v1/clustertemplates", json={**SWARM, "volume_driver": "cinder"})
    assert_error_starts(response, 400, "Volume driver type cinder is not supported")


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        (
            {"image_id": "ubuntu"},
            "Image ubuntu could not be found; images of the sim driver: fedora-coreos, jeroboam-node.",
        ),
        (
            {"flavor_id": "m1.huge"},
            "Unable to find flavor m1.huge; flavors of the sim driver: m1.medium, m1.small, m1.tiny.",
        ),
        (
            {"master_flavor_id": "m1.huge"},
            "Unable to find flavor m1.huge; flavors of the sim driver: m1.medium, m1.small, m1.tiny.",
        ),
        (
            {"external_network_id": "ext"},
            "External network ext could not be found; external networks of the sim driver: public.",
        ),
    ],
)
def test_unknown_infrastructure_names_the_valid_choices(alpha: Api, fields: dict[str, Any], detail: str) -> None:
    assert_error(alpha.post("/v1/clustertemplates", json={**K8S, **fields}), 400, detail)


def test_an_image_of_another_provider(alpha: Api) -> None:
    response = alpha.post("/v1/clustertemplates", json={**SWARM, "image_id": "fedora-coreos"})
    assert_error(response, 400, "Image fedora-coreos could not be found; images of the docker driver: jeroboam-node.")


def test_explicit_drivers(alpha: Api) -> None:
    assert_error(
        alpha.post("/v1/clustertemplates", json={**K8S, "driver": "nope"}), 400, "Cluster driver (nope) not supported."
    )
    response = alpha.post("/v1/clustertemplates", json={**K8S, "driver": "docker"})
    assert_error_starts(response, 400, "Cluster driver (docker) does not support coe kubernetes")


def test_no_driver_for_the_server_type(alpha: Api) -> None:
    response = alpha.post("/v1/clustertemplates", json={**SWARM, "server_type": "bm"})
    detail = assert_error_starts(response, 400, "Cluster type (bm, swarm-mode")
    assert detail.endswith("not supported.")


@pytest.mark.parametrize("body", [[K8S], "kubernetes", 3])
def test_body_must_be_an_object(alpha: Api, body: Any) -> None:
    assert_error_starts(alpha.post("/v1/clustertemplates", json=body), 400, "Invalid input for field/attribute")


def test_reader_cannot_create(reader: Api) -> None:
    response = reader.post("/v1/clustertemplates", json=K8S)
    assert_error(response, 403, "Policy doesn't allow clustertemplate:create to be performed.")


@pytest.mark.parametrize("flag", ["public", "hidden"])
def test_members_cannot_publish(api: Api, alpha: Api, flag: str) -> None:
    response = alpha.post("/v1/clustertemplates", json={**K8S, flag: True})
    assert response.status_code == 403
    assert response.json() == sample("POST clustertemplate public non-admin", api.url)["body"]
    assert create(alpha, **{flag: False})[flag] is False


def test_admins_publish(api: Api) -> None:
    body = create(api, public=True, hidden=True)
    assert (body["public"], body["hidden"], body["project_id"]) == (True, True, "admin-project")


# -- list, detail, show ------------------------------------------------------------------------


def test_list_detail_and_show_are_the_same_objects(alpha: Api) -> None:
    made = [create(alpha, name=f"t{i}") for i in range(3)]
    assert alpha.get("/v1/clustertemplates").json() == {"clustertemplates": made}
    assert alpha.get("/v1/clustertemplates/detail").json() == {"clustertemplates": made}
    for body in made:
        assert alpha.get(f"/v1/clustertemplates/{body['uuid']}").json() == body
        assert alpha.get(f"/v1/clustertemplates/{body['name']}").json() == body


def test_empty_list(alpha: Api) -> None:
    assert alpha.get("/v1/clustertemplates").json() == {"clustertemplates": []}


def test_reader_reads(alpha: Api, reader: Api) -> None:
    body = create(alpha)
    assert uuids(reader.get("/v1/clustertemplates")) == [body["uuid"]]
    assert reader.get(f"/v1/clustertemplates/{body['uuid']}").status_code == 200


def test_member_role_alone_cannot_read(api: Api, alpha: Api) -> None:
    private = create(alpha)["uuid"]
    public = create(api, public=True)["uuid"]
    member_only = api.as_(Identity("m", "alpha", "alice", ("member",)))
    # Public templates skip the clustertemplate:get check; private ones need the reader role.
    assert member_only.get(f"/v1/clustertemplates/{public}").status_code == 200
    assert_error(
        member_only.get(f"/v1/clustertemplates/{private}"),
        403,
        "Policy doesn't allow clustertemplate:get to be performed.",
    )
    assert_error(
        member_only.get("/v1/clustertemplates"), 403, "Policy doesn't allow clustertemplate:get_all to be performed."
    )
    assert_error(
        member_only.get("/v1/clustertemplates/detail"),
        403,
        "Policy doesn't allow clustertemplate:detail to be performed.",
    )


# -- pagination --------------------------------------------------------------------------------


def test_next_link_exact_form(api: Api, alpha: Api) -> None:
    made = [create(alpha, name=f"t{i}") for i in range(3)]
    first = alpha.get("/v1/clustertemplates?limit=2")
    assert uuids(first) == [made[0]["uuid"], made[1]["uuid"]]
    assert first.json()["next"] == (
        f"{api.url}/v1/clustertemplates?sort_key=id&sort_dir=asc&limit=2&marker={made[1]['uuid']}"
    )
    second = alpha.get(first.json()["next"][len(api.url) :])
    assert uuids(second) == [made[2]["uuid"]]
    assert "next" not in second.json()


def test_detail_next_link_matches_the_sample(api: Api, alpha: Api) -> None:
    made = [create(alpha) for _ in range(2)]
    body = alpha.get("/v1/clustertemplates/detail?limit=1").json()
    expected = sample("GET /v1/clustertemplates/detail?limit=1", api.url)["body"]
    assert set(body) == set(expected)
    assert body["next"] == expected["next"].replace("e74c40e0-d825-11e2-a28f-0800200c9a66", made[0]["uuid"])


def test_a_full_last_page_still_has_next(api: Api, alpha: Api) -> None:
    made = [create(alpha) for _ in range(2)]
    body = alpha.get("/v1/clustertemplates?limit=2").json()
    assert body["next"].endswith(f"&limit=2&marker={made[1]['uuid']}")
    assert alpha.get(body["next"][len(api.url) :]).json() == {"clustertemplates": []}


def test_next_keeps_the_sort(api: Api, alpha: Api) -> None:
    made = [create(alpha, name=n) for n in ("b", "a")]
    body = alpha.get("/v1/clustertemplates?sort_key=name&sort_dir=desc&limit=1").json()
    assert body["next"] == f"{api.url}/v1/clustertemplates?sort_key=name&sort_dir=desc&limit=1&marker={made[0]['uuid']}"


def test_limit_larger_than_the_maximum_is_clamped(alpha: Api) -> None:
    create(alpha)
    assert "next" not in alpha.get("/v1/clustertemplates?limit=5000").json()


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_limit_must_be_positive(alpha: Api, limit: str) -> None:
    assert_error(alpha.get(f"/v1/clustertemplates?limit={limit}"), 400, "Limit must be positive")


def test_limit_must_be_an_integer(alpha: Api) -> None:
    assert_error_starts(alpha.get("/v1/clustertemplates?limit=ten"), 400, "Invalid input for field/attribute limit.")


def test_sort_dir(alpha: Api) -> None:
    made = [create(alpha) for _ in range(3)]
    assert uuids(alpha.get("/v1/clustertemplates?sort_dir=desc")) == [t["uuid"] for t in reversed(made)]
    response = alpha.get("/v1/clustertemplates?sort_dir=up")
    assert_error(response, 400, "Invalid sort direction: up. Acceptable values are 'asc' or 'desc'")


@pytest.mark.parametrize("key", ["bogus", "labels", "links"])
def test_sort_key_must_be_a_sortable_column(alpha: Api, key: str) -> None:
    create(alpha)
    assert_error(
        alpha.get(f"/v1/clustertemplates?sort_key={key}"),
        400,
        f'The sort_key value "{key}" is an invalid field for sorting',
    )


@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_sort_by_name_across_pages(alpha: Api, sort_dir: str) -> None:
    for name in ("delta", "alpha", "echo", "charlie", "bravo", "alpha2", "alpha"):
        create(alpha, name=name)
    everything = names(alpha.get(f"/v1/clustertemplates?sort_key=name&sort_dir={sort_dir}"))
    expected = sorted(["delta", "alpha", "echo", "charlie", "bravo", "alpha2", "alpha"], reverse=sort_dir == "desc")
    assert everything == expected
    for limit in (1, 2, 3):
        paged = follow(alpha, f"/v1/clustertemplates?sort_key=name&sort_dir={sort_dir}&limit={limit}")
        assert [t["name"] for t in paged] == expected


@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_sort_by_a_column_with_nulls_across_pages(alpha: Api, sort_dir: str) -> None:
    flavors = ["m1.small", None, "m1.tiny", None, "m1.medium", "m1.small"]
    made = [create(alpha, flavor_id=flavor) for flavor in flavors]
    everything = uuids(alpha.get(f"/v1/clustertemplates?sort_key=flavor_id&sort_dir={sort_dir}"))
    assert sorted(everything) == sorted(t["uuid"] for t in made)
    for limit in (1, 2, 4):
        paged = follow(alpha, f"/v1/clustertemplates/detail?sort_key=flavor_id&sort_dir={sort_dir}&limit={limit}")
        assert [t["uuid"] for t in paged] == everything
    ordered = [t["flavor_id"] for t in follow(alpha, f"/v1/clustertemplates?sort_key=flavor_id&sort_dir={sort_dir}")]
    present = [f for f in ordered if f is not None]
    assert present == sorted(present, reverse=sort_dir == "desc")


def test_marker_must_be_a_uuid(alpha: Api) -> None:
    assert_error(
        alpha.get("/v1/clustertemplates?marker=notauuid"),
        400,
        "Invalid input for field/attribute marker. Value: 'notauuid'. unable to convert to uuid. "
        "Error: Expected a uuid but received notauuid.",
    )


def test_marker_must_be_visible(alpha: Api, beta: Api) -> None:
    assert_error(
        alpha.get(f"/v1/clustertemplates?marker={MISSING}"), 404, f"ClusterTemplate {MISSING} could not be found."
    )
    private = create(beta)["uuid"]
    assert_error(
        alpha.get(f"/v1/clustertemplates?marker={private}"), 404, f"ClusterTemplate {private} could not be found."
    )


def test_marker_in_another_spelling(alpha: Api) -> None:
    made = [create(alpha) for _ in range(2)]
    marker = made[0]["uuid"].upper().replace("-", "")
    assert uuids(alpha.get(f"/v1/clustertemplates?marker={marker}")) == [made[1]["uuid"]]


# -- name or uuid ------------------------------------------------------------------------------


def test_lookup_by_name(alpha: Api) -> None:
    body = create(alpha, name="web")
    assert alpha.get("/v1/clustertemplates/web").json()["uuid"] == body["uuid"]
    assert_error(alpha.get("/v1/clustertemplates/nope"), 404, "ClusterTemplate nope could not be found.")


def test_ambiguous_names(alpha: Api, beta: Api) -> None:
    create(alpha, name="dup")
    create(alpha, name="dup")
    detail = "Multiple ClusterTemplates exist with same name. Please use the ClusterTemplate uuid instead."
    assert_error(alpha.get("/v1/clustertemplates/dup"), 409, detail)
    assert_error(patch(alpha, "dup", replace("/name", "x")), 409, detail)
    assert_error(alpha.delete("/v1/clustertemplates/dup"), 409, detail)
    # Only templates the caller can see count.
    create(beta, name="mine")
    only = create(alpha, name="mine")
    assert alpha.get("/v1/clustertemplates/mine").json()["uuid"] == only["uuid"]


def test_names_are_case_sensitive_lookups_of_exact_names(alpha: Api) -> None:
    create(alpha, name="web-1")
    assert alpha.get("/v1/clustertemplates/web").status_code == 404


@pytest.mark.parametrize("spelling", ["upper", "bare", "braces", "urn"])
def test_uuid_spellings(alpha: Api, spelling: str) -> None:
    uuid = create(alpha)["uuid"]
    ident = {
        "upper": uuid.upper(),
        "bare": uuid.replace("-", ""),
        "braces": "{" + uuid + "}",
        "urn": "urn:uuid:" + uuid,
    }[spelling]
    assert alpha.get(f"/v1/clustertemplates/{ident}").json()["uuid"] == uuid
    assert patch(alpha, ident, replace("/name", spelling)).json()["name"] == spelling
    assert alpha.delete(f"/v1/clustertemplates/{ident}").status_code == 204


def test_uuid_looking_identifiers_are_only_uuids(alpha: Api) -> None:
    create(alpha, name=MISSING)
    assert_error(alpha.get(f"/v1/clustertemplates/{MISSING}"), 404, f"ClusterTemplate {MISSING} could not be found.")


# -- visibility --------------------------------------------------------------------------------


def test_other_projects_private_templates_are_not_found(api: Api, alpha: Api, beta: Api) -> None:
    private = create(beta, name="secret")["uuid"]
    detail = f"ClusterTemplate {private} could not be found."
    assert_error(alpha.get(f"/v1/clustertemplates/{private}"), 404, detail)
    assert_error(patch(alpha, private, replace("/name", "x")), 404, detail)
    assert_error(alpha.delete(f"/v1/clustertemplates/{private}"), 404, detail)
    assert_error(alpha.get("/v1/clustertemplates/secret"), 404, "ClusterTemplate secret could not be found.")
    assert alpha.get("/v1/clustertemplates").json() == {"clustertemplates": []}
    # Same body shape as upstream's capture.
    expected = sample("GET other private CT", api.url)["body"]
    assert expected == error(404, expected["errors"][0]["detail"])


def test_public_templates_of_other_projects_are_visible(api: Api, alpha: Api) -> None:
    own = create(alpha, name="own")
    public = create(api, name="pub", public=True)
    assert names(alpha.get("/v1/clustertemplates")) == ["own", "pub"]
    assert alpha.get(f"/v1/clustertemplates/{public['uuid']}").json() == public
    assert alpha.get("/v1/clustertemplates/pub").json() == public
    assert alpha.get(f"/v1/clustertemplates/{own['uuid']}").json() == own


def test_hidden_templates_of_other_projects(api: Api, alpha: Api) -> None:
    hidden = create(api, name="hid", public=True, hidden=True)["uuid"]
    assert_error(alpha.get(f"/v1/clustertemplates/{hidden}"), 404, f"ClusterTemplate {hidden} could not be found.")
    assert alpha.get("/v1/clustertemplates").json() == {"clustertemplates": []}
    assert api.get(f"/v1/clustertemplates/{hidden}").status_code == 200
    other_admin = api.as_(Identity("admin2", "gamma", "ada", ("admin",)))
    assert other_admin.get(f"/v1/clustertemplates/{hidden}").status_code == 200


def test_own_hidden_templates_stay_visible(api: Api, alpha: Api) -> None:
    body = create(alpha, name="mine")
    assert patch(api, body["uuid"], replace("/hidden", True)).status_code == 200
    assert names(alpha.get("/v1/clustertemplates")) == ["mine"]
    assert alpha.get("/v1/clustertemplates/mine").json()["hidden"] is True


def test_admins_list_every_project(api: Api, alpha: Api, beta: Api) -> None:
    create(alpha, name="a")
    create(beta, name="b")
    create(api, name="h", public=True, hidden=True)
    assert names(api.get("/v1/clustertemplates")) == ["a", "b", "h"]
    assert names(api.get("/v1/clustertemplates/detail")) == ["a", "b", "h"]
    assert names(beta.get("/v1/clustertemplates")) == ["b"]


def test_admins_change_other_projects_templates(api: Api, alpha: Api) -> None:
    body = create(alpha)
    renamed = patch(api, body["uuid"], replace("/name", "by-admin"))
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["project_id"]) == ("by-admin", "alpha")
    assert api.delete(f"/v1/clustertemplates/{body['uuid']}").status_code == 204


def test_members_cannot_change_other_projects_public_templates(api: Api, beta: Api) -> None:
    public = create(api, public=True)["uuid"]
    response = patch(beta, public, replace("/name", "mine"))
    assert response.status_code == 403
    assert response.json() == sample("PATCH other public CT", api.url)["body"]
    response = beta.delete(f"/v1/clustertemplates/{public}")
    assert response.status_code == 403
    assert response.json() == sample("DELETE other public CT", api.url)["body"]


def test_readers_cannot_change_templates(alpha: Api, reader: Api) -> None:
    uuid = create(alpha)["uuid"]
    assert_error(
        patch(reader, uuid, replace("/name", "x")), 403, "Policy doesn't allow clustertemplate:update to be performed."
    )
    assert_error(
        reader.delete(f"/v1/clustertemplates/{uuid}"),
        403,
        "Policy doesn't allow clustertemplate:delete to be performed.",
    )


def test_members_of_the_project_share_templates(alpha: Api, api: Api) -> None:
    uuid = create(alpha)["uuid"]
    colleague = api.as_(ALPHA_MEMBER2)
    assert patch(colleague, uuid, replace("/name", "shared")).status_code == 200
    assert colleague.delete(f"/v1/clustertemplates/{uuid}").status_code == 204


# -- PATCH -------------------------------------------------------------------------------------


def test_replace_returns_the_full_object(alpha: Api) -> None:
    body = create(alpha, name="before")
    response = patch(alpha, body["uuid"], replace("/name", "after"))
    assert response.status_code == 200
    patched = response.json()
    assert patched["name"] == "after"
    assert TIMESTAMP.fullmatch(patched["updated_at"])
    assert {k: v for k, v in patched.items() if k not in ("name", "updated_at")} == {
        k: v for k, v in body.items() if k not in ("name", "updated_at")
    }
    assert alpha.get(f"/v1/clustertemplates/{body['uuid']}").json() == patched


def test_labels_one_by_one(alpha: Api) -> None:
    uuid = create(alpha, labels={"a": "1", "b": "2"})["uuid"]
    response = patch(
        alpha,
        uuid,
        {"op": "add", "path": "/labels/c", "value": "3"},
        {"op": "add", "path": "/labels/n", "value": 4},
        {"op": "remove", "path": "/labels/a"},
        {"op": "replace", "path": "/labels/b", "value": "20"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["labels"] == {"b": "20", "c": "3", "n": "4"}


def test_labels_replaced_with_a_python_literal(alpha: Api) -> None:
    uuid = create(alpha, labels={"a": "1"})["uuid"]
    response = patch(alpha, uuid, replace("/labels", "{'x': 'y', 'n': 1, 't': True}"))
    assert response.status_code == 200, response.text
    assert response.json()["labels"] == {"x": "y", "n": "1", "t": "True"}
    assert patch(alpha, uuid, {"op": "remove", "path": "/labels"}).json()["labels"] == {}


def test_labels_literal_that_does_not_parse(alpha: Api) -> None:
    uuid = create(alpha)["uuid"]
    response = patch(alpha, uuid, replace("/labels", "{'x': "))
    assert_error_starts(response, 400, "Couldn't apply patch '")
    response = patch(alpha, uuid, replace("/labels", "['a']"))
    assert_error_starts(response, 400, "Invalid input for field/attribute labels")


def test_labels_as_an_object_are_rejected(alpha: Api) -> None:
    uuid = create(alpha)["uuid"]
    assert_error_starts(
        patch(alpha, uuid, replace("/labels", {"a": "b"})), 400, "Invalid input for field/attribute value"
    )


def test_missing_label(alpha: Api) -> None:
    uuid = create(alpha)["uuid"]
    assert_error_starts(patch(alpha, uuid, {"op": "remove", "path": "/labels/nope"}), 400, "Couldn't apply patch '")
    assert_error_starts(patch(alpha, uuid, replace("/labels/nope", "x")), 400, "Couldn't apply patch '")


@pytest.mark.parametrize("path", ["/uuid", "/id", "/project_id", "/user_id", "/created_at", "/updated_at", "/links"])
@pytest.mark.parametrize("op", ["replace", "remove", "add"])
def test_internal_attributes(alpha: Api, path: str, op: str) -> None:
    uuid = create(alpha)["uuid"]
    operation: dict[str, Any] = {"op": op, "path": path}
    if op != "remove":
        operation["value"] = "x"
    assert_error(patch(alpha, uuid, operation), 400, f"'{path}' is an internal attribute and can not be updated")


def test_remove_coe_matches_the_sample(api: Api, alpha: Api) -> None:
    uuid = create(alpha)["uuid"]
    response = patch(alpha, uuid, {"op": "remove", "path": "/coe"})
    assert response.status_code == 400
    assert response.json() == sample("PATCH CT remove coe", api.url)["body"]


@pytest.mark.parametrize(
    "path",
    [
        "/image_id",
        "/network_driver",
        "/external_network_id",
        "/tls_disabled",
        "/public",
        "/server_type",
        "/registry_enabled",
        "/cluster_distro",
        "/hidden",
    ],
)
def test_non_removable_attributes(alpha: Api, path: str) -> None:
    uuid = create(alpha, external_network_id="public")["uuid"]
    assert_error(
        patch(alpha, uuid, {"op": "remove", "path": path}),
        400,
        f"'{path}' is a mandatory attribute and can not be removed",
    )


def test_remove_an_optional_attribute(alpha: Api) -> None:
    uuid = create(alpha, flavor_id="m1.small", tags="a")["uuid"]
    response = patch(alpha, uuid, {"op": "remove", "path": "/flavor_id"}, {"op": "remove", "path": "/tags"})
    assert response.status_code == 200, response.text
    assert (response.json()["flavor_id"], response.json()["tags"]) == (None, None)


def test_add_a_new_root_attribute(alpha: Api) -> None:
    uuid = create(alpha)["uuid"]
    response = patch(alpha, uuid, {"op": "add", "path": "/foo", "value": "x"})
    assert_error(response, 400, "Adding a new attribute /foo to the root of the resource is not allowed.")


def test_add_an_attribute_that_exists(alpha: Api) -> None:
    uuid = create(alpha, name="n")["uuid"]
    response = patch(alpha, uuid, {"op": "add", "path": "/name", "value": "x"})
    assert_error(response, 400, "The attribute /name has existed, please use 'replace' operation instead.")


def test_add_an_attribute_that_is_null(alpha: Api) -> None:
    uuid = create(alpha)["uuid"]
    response = patch(alpha, uuid, {"op": "add", "path": "/flavor_id", "value": "m1.tiny"})
    assert response.status_code == 200, response.text
    assert response.json()["flavor_id"] == "m1.tiny"


def test_patch_dialect_errors_match_samples(api: Api, alpha: Api) -> None:
    uuid = create(alpha)["uuid"]
    url = f"/v1/clustertemplates/{uuid}"
    cases = [
        ("patch not a list", {"op": "replace"}),
        ("patch bad op", [{"op": "move", "path": "/name", "value": "x"}]),
        ("patch missing value", [{"op": "replace", "path": "/name"}]),
    ]
    for case, body in cases:
        response = alpha.patch(url, json=body)
        assert response.status_code == 400
        assert response.json() == sample(case, api.url)["body"], case


def test_path_pattern(alpha: Api) -> None:
    uuid = create(alpha)["uuid"]
    response = patch(alpha, uuid, {"op": "remove", "path": "/labels/a.b"})
    assert_error(
        response,
        400,
        "Invalid input for field/attribute path. Value: '/labels/a.b'. Value should match the pattern ^(/[\\w-]+)+$",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("true", True), ("yes", True), (1, True), (False, False), ("off", False), (0, False)],
)
def test_patch_booleans(alpha: Api, value: Any, expected: bool) -> None:
    uuid = create(alpha, tls_disabled=not expected, master_lb_enabled=not expected)["uuid"]
    response = patch(alpha, uuid, replace("/tls_disabled", value), replace("/master_lb_enabled", value))
    assert response.status_code == 200, response.text
    assert (response.json()["tls_disabled"], response.json()["master_lb_enabled"]) == (expected, expected)


def test_patch_bad_boolean(alpha: Api) -> None:
    uuid = create(alpha)["uuid"]
    assert_error_starts(
        patch(alpha, uuid, replace("/registry_enabled", "maybe")),
        400,
        "Invalid input for field/attribute registry_enabled. Value: 'maybe'. Unrecognized value 'maybe'",
    )


def test_patched_object_is_revalidated(alpha: Api) -> None:
    uuid = create(alpha)["uuid"]
    assert_error(
        patch(alpha, uuid, replace("/apiserver_port", 80)),
        400,
        "Invalid input for field/attribute apiserver_port. Value: '80'. Value should be greater or equal to 1024",
    )
    assert_error(
        patch(alpha, uuid, replace("/server_type", "xx")),
        400,
        "Invalid input for field/attribute server_type. Value: 'xx'. Value should be one of: vm, bm",
    )
    assert_error(
        patch(alpha, uuid, replace("/network_driver", "cilium")),
        400,
        "Network driver type cilium is not allowed, expecting a flannel/calico/unspecified network driver.",
    )
    assert_error_starts(
        patch(alpha, uuid, replace("/image_id", "ubuntu")), 400, "Image ubuntu could not be found; images of"
    )
    assert_error_starts(
        patch(alpha, uuid, replace("/flavor_id", "m1.huge")), 400, "Unable to find flavor m1.huge; flavors of"
    )
    assert_error_starts(
        patch(alpha, uuid, replace("/docker_storage_driver", "devicemapper"), replace("/docker_volume_size", 2)),
        400,
        "docker volume size 2 GB is not valid",
    )
    assert_error_starts(patch(alpha, uuid, replace("/coe", "mesos")), 400, "No installed driver supports coe mesos")
    assert_error_starts(patch(alpha, uuid, replace("/name", 5)), 400, "Invalid input for field/attribute name.")
    assert_error_starts(patch(alpha, uuid, replace("/name", "")), 400, "Invalid input for field/attribute name.")
    # Nothing changed.
    assert alpha.get(f"/v1/clustertemplates/{uuid}").json()["updated_at"] is None


def test_changing_the_image_re_resolves_the_distro_and_driver(alpha: Api) -> None:
    uuid = create(alpha, coe="swarm-mode", image_id="jeroboam-node")["uuid"]
    response = patch(alpha, uuid, replace("/driver", "sim"), replace("/image_id", "fedora-coreos"))
    assert response.status_code == 200, response.text
    assert (response.json()["driver"], response.json()["cluster_distro"]) == ("sim", "fedora-coreos")


def test_members_cannot_publish_by_patch(alpha: Api, api: Api) -> None:
    uuid = create(alpha)["uuid"]
    for path in ("/public", "/hidden"):
        assert_error(
            patch(alpha, uuid, replace(path, True)),
            403,
            "Not authorized to set public or hidden flag for cluster template.",
        )
    assert patch(api, uuid, replace("/public", True)).json()["public"] is True


def test_a_patch_that_changes_nothing(alpha: Api) -> None:
    body = create(alpha, name="same")
    response = patch(alpha, body["uuid"], replace("/name", "same"))
    assert response.status_code == 200
    assert response.json()["name"] == "same"


def test_empty_patch(alpha: Api) -> None:
    body = create(alpha)
    assert patch(alpha, body["uuid"]).status_code == 200


def test_patch_of_a_missing_template(alpha: Api) -> None:
    assert_error(patch(alpha, MISSING, replace("/name", "x")), 404, f"ClusterTemplate {MISSING} could not be found.")


# -- templates in use --------------------------------------------------------------------------


def referenced(uuid: str) -> str:
    return f"ClusterTemplate {uuid} is referenced by one or multiple clusters."


def test_in_use_allows_a_rename(api: Api, server: RunningServer) -> None:
    uuid = create(api, name="old")["uuid"]
    use(server, uuid)
    response = patch(api, uuid, replace("/name", "renamed"))
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "renamed"


def test_in_use_allows_publishing_hiding_and_tags(api: Api, server: RunningServer) -> None:
    uuid = create(api, tags="a")["uuid"]
    use(server, uuid)
    assert patch(api, uuid, replace("/public", True)).json()["public"] is True
    assert patch(api, uuid, replace("/hidden", True)).json()["hidden"] is True
    assert patch(api, uuid, replace("/hidden", False)).json()["hidden"] is False
    assert patch(api, uuid, replace("/tags", "b,c")).json()["tags"] == "b,c"


@pytest.mark.parametrize(
    "operations",
    [
        [replace("/image_id", "jeroboam-node")],
        [replace("/labels", "{'a': 'b'}")],
        [{"op": "add", "path": "/labels/a", "value": "b"}],
        [replace("/flavor_id", "m1.small")],
        [replace("/public", False)],
        [{"op": "remove", "path": "/tags"}],
        [replace("/name", "n"), replace("/tags", "t")],
        [replace("/name", "n"), replace("/hidden", True)],
    ],
)
def test_in_use_refuses_other_changes(api: Api, server: RunningServer, operations: list[dict[str, Any]]) -> None:
    uuid = create(api, public=True, tags="a")["uuid"]
    use(server, uuid, project_id="beta")
    assert_error(patch(api, uuid, *operations), 400, referenced(uuid))


def test_in_use_matches_the_samples(api: Api, server: RunningServer) -> None:
    template = "e74c40e0-d825-11e2-a28f-0800200c9a66"
    uuid = create(api)["uuid"]
    use(server, uuid)
    for case, response in (
        ("PATCH referenced clustertemplate image", patch(api, uuid, replace("/image_id", "jeroboam-node"))),
        ("PATCH CT labels (referenced? no clusters ref ct?)", patch(api, uuid, replace("/labels", "{'a': 'b'}"))),
        ("DELETE referenced clustertemplate", api.delete(f"/v1/clustertemplates/{uuid}")),
    ):
        assert response.status_code == 400
        assert response.json() == json.loads(json.dumps(sample(case, api.url)["body"]).replace(template, uuid)), case


def test_in_use_refuses_delete_until_the_cluster_is_gone(alpha: Api, server: RunningServer) -> None:
    uuid = create(alpha)["uuid"]
    cluster = use(server, uuid)
    assert_error(alpha.delete(f"/v1/clustertemplates/{uuid}"), 400, referenced(uuid))
    assert alpha.get(f"/v1/clustertemplates/{uuid}").status_code == 200
    unuse(server, cluster)
    assert alpha.delete(f"/v1/clustertemplates/{uuid}").status_code == 204


def test_a_template_used_elsewhere_is_not_in_use(alpha: Api, server: RunningServer) -> None:
    used = create(alpha)["uuid"]
    free = create(alpha)["uuid"]
    use(server, used)
    assert patch(alpha, free, replace("/image_id", "jeroboam-node")).status_code == 200
    assert alpha.delete(f"/v1/clustertemplates/{free}").status_code == 204


# -- delete ------------------------------------------------------------------------------------


def test_delete(alpha: Api) -> None:
    body = create(alpha, name="gone")
    response = alpha.delete("/v1/clustertemplates/gone")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(
        alpha.get(f"/v1/clustertemplates/{body['uuid']}"), 404, f"ClusterTemplate {body['uuid']} could not be found."
    )
    assert_error(
        alpha.delete(f"/v1/clustertemplates/{body['uuid']}"), 404, f"ClusterTemplate {body['uuid']} could not be found."
    )


# -- legacy baymodels ----------------------------------------------------------------------------


def test_baymodels_are_the_same_templates(api: Api, alpha: Api) -> None:
    made = [create(alpha, name=f"t{i}") for i in range(3)]
    listed = alpha.get("/v1/baymodels").json()
    assert set(listed) == {"baymodels"}
    assert [t["uuid"] for t in listed["baymodels"]] == [t["uuid"] for t in made]
    first = listed["baymodels"][0]
    assert first["links"] == [
        {"href": f"{api.url}/v1/baymodels/{first['uuid']}", "rel": "self"},
        {"href": f"{api.url}/baymodels/{first['uuid']}", "rel": "bookmark"},
    ]
    assert {k: v for k, v in first.items() if k != "links"} == {k: v for k, v in made[0].items() if k != "links"}
    page = alpha.get("/v1/baymodels/detail?limit=2").json()
    assert [t["uuid"] for t in page["baymodels"]] == [made[0]["uuid"], made[1]["uuid"]]
    assert page["next"] == f"{api.url}/v1/baymodels/detail?sort_key=id&sort_dir=asc&limit=2&marker={made[1]['uuid']}"
    assert alpha.get("/v1/baymodels/t1").json()["uuid"] == made[1]["uuid"]


def test_baymodels_write_through(api: Api, alpha: Api) -> None:
    created = alpha.post("/v1/baymodels", json={**SWARM, "name": "bm"})
    assert created.status_code == 201, created.text
    uuid = created.json()["uuid"]
    assert created.headers["Location"] == f"{api.url}/v1/baymodels/{uuid}"
    assert alpha.get(f"/v1/clustertemplates/{uuid}").json()["name"] == "bm"
    patched = alpha.patch(f"/v1/baymodels/{uuid}", json=[replace("/name", "bm2")])
    assert patched.status_code == 200, patched.text
    assert alpha.get("/v1/clustertemplates/bm2").json()["uuid"] == uuid
    assert alpha.delete(f"/v1/baymodels/{uuid}").status_code == 204
    assert alpha.get(f"/v1/clustertemplates/{uuid}").status_code == 404
