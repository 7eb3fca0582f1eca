"""Which nodes a resize's ``nodes_to_remove`` names: each must be a node of the nodegroup, by the
name or the address the API shows for it (``health_status_reason`` keys, ``node_addresses``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jeroboam.errors import InvalidInputError


def resolve(nodegroup: str, nodes: Sequence[Mapping[str, str]], requested: Sequence[str]) -> list[str]:
    """The node names ``requested`` designates, in order, without repeats. A request naming a node
    that is not in the nodegroup is refused with the nodegroup's nodes: removing another node than
    the one the user meant cannot be undone."""
    if not requested:
        return []
    by_identifier: dict[str, str] = {}
    for node in nodes:
        name = node.get("name", "")
        by_identifier[name] = name
        if node.get("address"):
            by_identifier[node["address"]] = name
    unknown = [item for item in requested if item not in by_identifier]
    if unknown:
        listed = ", ".join(_describe(node) for node in nodes)
        known = f"its nodes: {listed}" if listed else "its nodes are not known yet: retry once it is built"
        # One sentence: the CLI shows the error's title, which ends at the first sentence end.
        raise InvalidInputError(
            f"Node{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} not in nodegroup {nodegroup} "
            f"({known}); nothing was removed."
        )
    return list(dict.fromkeys(by_identifier[item] for item in requested))


def _describe(node: Mapping[str, str]) -> str:
    address = node.get("address")
    return f"{node.get('name', '')} ({address})" if address else node.get("name", "")
