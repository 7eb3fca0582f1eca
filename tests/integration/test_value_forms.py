"""Request values in the forms real clients send them, over HTTP: numbers and booleans as strings,
empty strings, label values of any JSON scalar type (issue 11). What upstream's parser accepts is
accepted with the same meaning; what it refuses stays a 400."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, RunningServer
from tests.integration.test_clusters import arrange, detail, make_cluster, make_template
from tests.support.identities import ALPHA_MEMBER


@pytest.fixture
def alpha(api: Api) -> Api:
    return api.as_(ALPHA_MEMBER)


@pytest.fixture
def template(alpha: Api) -> str:
    return make_template(alpha)


# -- cluster templates -------------------------------------------------------------------------
def test_template_booleans_numbers_and_labels_as_strings(alpha: Api) -> None:
    uuid = make_template(
        alpha,
        floating_ip_enabled="True",
        master_lb_enabled="False",
        tls_disabled="false",
        registry_enabled="no",
        public="0",
        apiserver_port="6443",
        labels={"flag": True, "count": 3, "ratio": 1.5, "text": "x"},
    )
    shown = alpha.get(f"/v1/clustertemplates/{uuid}").json()
    assert shown["floating_ip_enabled"] is True
    assert shown["master_lb_enabled"] is False
    assert shown["tls_disabled"] is False
    assert shown["registry_enabled"] is False
    assert shown["public"] is False
    assert shown["apiserver_port"] == 6443
    assert shown["labels"] == {"flag": "True", "count": "3", "ratio": "1.5", "text": "x"}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("image_id", "", "Value should have a minimum character requirement of 1"),
        ("flavor_id", "", "Value should have a minimum character requirement of 1"),
        ("keypair_id", "", "Value should have a minimum character requirement of 1"),
        ("external_network_id", "", "Value should have a minimum character requirement of 1"),
        ("floating_ip_enabled", "", "Unrecognized value ''"),
        ("floating_ip_enabled", "maybe", "Unrecognized value 'maybe'"),
        ("apiserver_port", "80", "Value should be greater or equal to 1024"),
        ("apiserver_port", "port", "Wrong type"),
    ],
)
def test_template_values_upstream_refuses_stay_400(alpha: Api, field: str, value: str, reason: str) -> None:
    body = {"name": "t", "coe": "swarm-mode", "image_id": "jeroboam-node", field: value}
    response = alpha.post("/v1/clustertemplates", json=body)
    assert response.status_code == 400
    assert detail(response).startswith(f"Invalid input for field/attribute {field}. Value: '{value}'. {reason}")


# -- clusters ----------------------------------------------------------------------------------
def test_cluster_numbers_booleans_as_strings_and_an_empty_discovery_url(alpha: Api, template: str) -> None:
    uuid = make_cluster(
        alpha,
        template,
        name="c1",
        discovery_url="",
        create_timeout="60",
        master_count="1",
        node_count="2",
        master_lb_enabled="False",
        floating_ip_enabled="True",
        labels={"availability_zone": "nova", "auto_scaling_enabled": False, "max_node_count": 5},
    )
    shown = alpha.get(f"/v1/clusters/{uuid}").json()
    assert shown["discovery_url"] == ""
    assert (shown["create_timeout"], shown["master_count"], shown["node_count"]) == (60, 1, 2)
    assert shown["master_lb_enabled"] is False
    assert shown["floating_ip_enabled"] is True
    assert shown["labels"] == {"availability_zone": "nova", "auto_scaling_enabled": "False", "max_node_count": "5"}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("name", "", "Value should have a minimum character requirement of 1"),
        ("keypair", "", "Value should have a minimum character requirement of 1"),
        ("flavor_id", "", "Value should have a minimum character requirement of 1"),
        ("fixed_network", "", "Value should have a minimum character requirement of 1"),
        ("node_count", "", "Wrong type"),
        ("master_count", "two", "Wrong type"),
        ("create_timeout", "-1", "Value should be greater or equal to 0"),
        ("master_lb_enabled", "", "Unrecognized value ''"),
    ],
)
def test_cluster_values_upstream_refuses_stay_400(
    alpha: Api, template: str, field: str, value: str, reason: str
) -> None:
    response = alpha.post("/v1/clusters", json={"cluster_template_id": template, field: value})
    assert response.status_code == 400
    assert detail(response).startswith(f"Invalid input for field/attribute {field}. Value: '{value}'. {reason}")


def test_cluster_patch_with_a_string_count(alpha: Api, template: str, server: RunningServer) -> None:
    # Horizon's cluster update sends every patch value through str().
    uuid = make_cluster(alpha, template)
    arrange(server, uuid, "CREATE_COMPLETE")
    response = alpha.patch(f"/v1/clusters/{uuid}", json=[{"op": "replace", "path": "/node_count", "value": "2"}])
    assert response.status_code == 202, response.text
    assert alpha.get(f"/v1/clusters/{uuid}").json()["node_count"] == 2


def test_bay_with_string_values_and_an_empty_discovery_url(alpha: Api, template: str) -> None:
    old = Api(alpha.url, ALPHA_MEMBER, None)
    created = old.post(
        "/v1/bays",
        json={"baymodel_id": template, "discovery_url": "", "node_count": "1", "bay_create_timeout": "30"},
    )
    assert created.status_code == 201, created.text
    bay = created.json()
    assert (bay["discovery_url"], bay["node_count"], bay["bay_create_timeout"]) == ("", 1, 30)


def test_baymodel_with_string_booleans(alpha: Api) -> None:
    body: dict[str, Any] = {"coe": "swarm-mode", "image_id": "jeroboam-node", "floating_ip_enabled": "False"}
    created = alpha.post("/v1/baymodels", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["floating_ip_enabled"] is False


# -- nodegroups --------------------------------------------------------------------------------
def test_nodegroup_numbers_booleans_and_labels_as_strings(alpha: Api, template: str, server: RunningServer) -> None:
    cluster = make_cluster(alpha, template, labels={"a": "1"})
    arrange(server, cluster, "CREATE_COMPLETE", api_address="tcp://10.0.0.2:2376")
    response = alpha.post(
        f"/v1/clusters/{cluster}/nodegroups",
        json={
            "name": "ng1",
            "node_count": "2",
            "min_node_count": "1",
            "max_node_count": "3",
            "merge_labels": "true",
            "labels": {"gpu": False},
        },
    )
    assert response.status_code == 202, response.text
    shown = alpha.get(f"/v1/clusters/{cluster}/nodegroups/ng1").json()
    assert (shown["node_count"], shown["min_node_count"], shown["max_node_count"]) == (2, 1, 3)
    assert shown["labels"] == {"a": "1", "gpu": "False"}


def test_nodegroup_empty_image_stays_400(alpha: Api, template: str, server: RunningServer) -> None:
    cluster = make_cluster(alpha, template)
    arrange(server, cluster, "CREATE_COMPLETE", api_address="tcp://10.0.0.2:2376")
    response = alpha.post(f"/v1/clusters/{cluster}/nodegroups", json={"name": "ng1", "image_id": ""})
    assert response.status_code == 400
    assert "Value should have a minimum character requirement of 1" in detail(response)
