"""The error body's title is the message's first sentence: the CLI prints only the title."""

from __future__ import annotations

import json

import pytest

from jeroboam.api.errors import error_body


def title(message: str) -> str:
    item = json.loads(error_body(400, message))["errors"][0]
    assert item["detail"] == message
    text: str = item["title"]
    return text


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # Magnum cut these inside the name: "Unable to find flavor m1", "Image ubuntu-22".
        (
            "Unable to find flavor m1.huge; flavors of the docker driver: m1.small.",
            "Unable to find flavor m1.huge; flavors of the docker driver: m1.small",
        ),
        (
            "Image ubuntu-22.04 could not be found; images of the docker driver: jeroboam-node.",
            "Image ubuntu-22.04 could not be found; images of the docker driver: jeroboam-node",
        ),
        (
            "Node 10.0.0.7 not in nodegroup w (its nodes: a (10.0.0.2)); nothing was removed.",
            "Node 10.0.0.7 not in nodegroup w (its nodes: a (10.0.0.2)); nothing was removed",
        ),
        ("Name must match ^[a-z.]+$. Try again.", "Name must match ^[a-z.]+$"),
        ("Value 2.5 is not an integer", "Value 2.5 is not an integer"),
        # Sentences still end where Magnum ends them.
        (
            "Invalid input for field/attribute node_count. Value: 'None'. Mandatory field missing.",
            "Invalid input for field/attribute node_count",
        ),
        ("Cluster abc could not be found.", "Cluster abc could not be found"),
        ('Unknown argument: "limit"', 'Unknown argument: "limit"'),
        ("", ""),
    ],
)
def test_title_is_cut_at_a_sentence_end_only(message: str, expected: str) -> None:
    assert title(message) == expected
