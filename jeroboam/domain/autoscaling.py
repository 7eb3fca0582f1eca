"""The autoscaler's rules and decisions (pure Python: no clock, no database, no driver).

The conductor gathers the inputs — each worker nodegroup with its bounds and its flavor's
CPU/memory, the tasks the COE could not place (their reservations and placement constraints),
the running tasks per node, when each node became idle, when the cluster last changed — and
``plan`` answers with at most one decision (grow or shrink one nodegroup, with a reason a
person can read) and a note for ``health_status_reason`` when pending work cannot be helped.

Switches and bounds, as clients send them:

* ``auto_scaling_enabled`` from the cluster's labels, else the template's (``true`` as a string
  or a JSON boolean);
* a nodegroup's ``max_node_count``, else the label ``max_node_count`` (the nodegroup's labels,
  then the cluster's), else its current size (it never grows);
* a nodegroup's ``min_node_count`` when above 0, else the label ``min_node_count`` (0 allows
  scaling to zero), else 0 for a nodegroup sized to zero, else 1;
* ``scale_down_unneeded_time`` / ``scale_down_delay_after_add``: Go-style durations (``90s``,
  ``10m``, ``1h30m``) or a bare number of minutes; defaults from settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jeroboam.domain.operations import Resize
from jeroboam.errors import InvalidInputError

ENABLED_LABEL = "auto_scaling_enabled"
MIN_LABEL = "min_node_count"
MAX_LABEL = "max_node_count"
UNNEEDED_LABEL = "scale_down_unneeded_time"
DELAY_AFTER_ADD_LABEL = "scale_down_delay_after_add"
TIMING_LABELS = (UNNEEDED_LABEL, DELAY_AFTER_ADD_LABEL)
# Labels whose change matters to the autoscaler (a cluster PATCH may change these).
LABELS = (ENABLED_LABEL, MIN_LABEL, MAX_LABEL, *TIMING_LABELS)
# A node (swarm node label) that carries this label with value "true" is never scaled down.
PROTECT_LABEL = "jeroboam.autoscaler/scale-down-disabled"
# The node label every node of a nodegroup carries (drivers set it; constraints may name it).
NODEGROUP_NODE_LABEL = "jeroboam.nodegroup"
# The key of ``health_status_reason`` that holds the autoscaler's note.
NOTE_KEY = "autoscaler"
REQUESTER = "autoscaler"


def with_note(reason: Mapping[str, str], stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """A health check's ``reason`` keeping the autoscaler's note from the ``stored`` one."""
    note = (stored or {}).get(NOTE_KEY)
    return {**reason, NOTE_KEY: note} if note else dict(reason)


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def is_true(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def enabled(cluster_labels: Mapping[str, Any], template_labels: Mapping[str, Any]) -> bool:
    """The cluster's ``auto_scaling_enabled`` label, else its template's."""
    source = cluster_labels if ENABLED_LABEL in cluster_labels else template_labels
    return is_true(source.get(ENABLED_LABEL, False))


def parse_duration(label: str, raw: Any) -> timedelta:
    """``90s``, ``10m``, ``1h30m`` or a bare number of minutes; InvalidInputError otherwise."""
    text = str(raw).strip().lower()
    try:
        minutes = float(text)
    except ValueError:
        match = _DURATION.match(text)
        if not text or match is None:
            raise InvalidInputError(
                f"Label {label} must be a duration such as 90s, 10m or 1h30m (or a number of minutes), not '{raw}'."
            ) from None
        hours, mins, secs = (float(part or 0) for part in match.groups())
        return timedelta(hours=hours, minutes=mins, seconds=secs)
    if not minutes >= 0 or minutes == float("inf"):
        raise InvalidInputError(f"Label {label} must be a non-negative duration, not '{raw}'.")
    return timedelta(minutes=minutes)


def count_label(labels: Mapping[str, Any], key: str) -> int | None:
    raw = labels.get(key)
    if raw is None:
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = -1
    if value < 0:
        raise InvalidInputError(f"Label {key} must be a non-negative integer, not '{raw}'.")
    return value


@dataclass(frozen=True)
class Bounds:
    minimum: int
    maximum: int


def bounds_of(node_count: int, min_node_count: int, max_node_count: int | None, labels: Mapping[str, Any]) -> Bounds:
    """A nodegroup's autoscaling range (see the module's docstring for the order of sources)."""
    label_min, label_max = count_label(labels, MIN_LABEL), count_label(labels, MAX_LABEL)
    maximum = max_node_count if max_node_count is not None else label_max if label_max is not None else node_count
    if min_node_count > 0:
        minimum = min_node_count
    elif label_min is not None:
        minimum = label_min
    else:
        minimum = 0 if node_count == 0 else 1
    return Bounds(minimum, maximum)


def check_bounds(name: str, node_count: int, minimum: int | None, maximum: int | None) -> None:
    """A create or update that sets bounds: max below min, or a size outside them, is a 400."""
    if minimum is not None and maximum is not None and maximum < minimum:
        raise InvalidInputError(
            f"max_node_count ({maximum}) of {name} should be greater or equal to min_node_count ({minimum})."
        )
    if minimum is not None and node_count < minimum:
        raise InvalidInputError(f"node_count ({node_count}) of {name} should be at least min_node_count ({minimum}).")
    if maximum is not None and node_count > maximum:
        raise InvalidInputError(f"node_count ({node_count}) of {name} should be at most max_node_count ({maximum}).")


def check_labels(labels: Mapping[str, Any]) -> None:
    """Every autoscaler label of a create or update is readable (400 naming the label otherwise)."""
    count_label(labels, MIN_LABEL)
    count_label(labels, MAX_LABEL)
    for key in TIMING_LABELS:
        if key in labels:
            parse_duration(key, labels[key])


@dataclass(frozen=True)
class Timings:
    unneeded: timedelta  # a node idle this long may be removed
    delay_after_add: timedelta  # no scale-down this soon after the cluster last changed
    pending_grace: timedelta  # work pending this long (and this long after a change) is unplaced


def timings_of(labels: Mapping[str, Any], defaults: Timings) -> Timings:
    """The labels' timings over the defaults (an unreadable label keeps the default)."""

    def read(key: str, default: timedelta) -> timedelta:
        try:
            return parse_duration(key, labels[key]) if key in labels else default
        except InvalidInputError:
            return default

    return Timings(
        unneeded=read(UNNEEDED_LABEL, defaults.unneeded),
        delay_after_add=read(DELAY_AFTER_ADD_LABEL, defaults.delay_after_add),
        pending_grace=defaults.pending_grace,
    )


# -- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    cpu: float  # CPUs
    memory_mib: int

    def fits_in(self, other: Resources) -> bool:
        return self.cpu <= other.cpu + 1e-9 and self.memory_mib <= other.memory_mib


@dataclass(frozen=True)
class Group:
    """A worker nodegroup the autoscaler may resize."""

    name: str
    node_count: int
    bounds: Bounds
    capacity: Resources | None  # of a new node (its flavor); None: unknown, so never grown
    node_labels: Mapping[str, str] = field(default_factory=dict)  # labels a new node carries


@dataclass(frozen=True)
class PendingTask:
    """A task the COE could not place on any node."""

    service: str
    reservation: Resources
    constraints: tuple[str, ...] = ()
    reason: str = "insufficient resources"  # as the COE says it, shortened
    since: datetime | None = None


@dataclass(frozen=True)
class NodeLoad:
    name: str
    nodegroup: str
    running_tasks: int  # tasks of replicated services (global services aside)
    ready: bool = True
    protected: bool = False


@dataclass(frozen=True)
class Workload:
    """What the COE runs and cannot run, as a driver observes it."""

    pending: tuple[PendingTask, ...] = ()
    nodes: tuple[NodeLoad, ...] = ()


@dataclass(frozen=True)
class History:
    idle_since: Mapping[str, datetime] = field(default_factory=dict)
    last_change: datetime | None = None  # the end of the cluster's last operation


@dataclass(frozen=True)
class Decision:
    nodegroup: str
    from_count: int
    to_count: int
    reason: str
    nodes_to_remove: tuple[str, ...] = ()

    @property
    def grows(self) -> bool:
        return self.to_count > self.from_count


@dataclass(frozen=True)
class Plan:
    decision: Decision | None
    note: str | None  # for health_status_reason: pending work the autoscaler cannot help
    idle_since: dict[str, datetime]


@dataclass(frozen=True)
class AutoscalerResize(Resize):
    """The resize operation of an autoscaler decision: a ``Resize`` that also records why."""

    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "autoscaler": True, "reason": self.reason}

    @staticmethod
    def reason_of(raw: Mapping[str, Any] | None) -> str | None:
        """The reason an operation's request records, if the autoscaler made it."""
        return str(raw.get("reason") or "") or None if raw and raw.get("autoscaler") else None


# -- placement constraints -----------------------------------------------------------------------

_CONSTRAINT = re.compile(r"^\s*([^=!\s]+)\s*(==|!=)\s*(.*?)\s*$")


def satisfies(constraint: str, group: Group) -> bool:
    """Would a NEW node of ``group`` satisfy a swarm placement constraint? Attributes a new node
    cannot be known to have (its hostname, id, engine labels) satisfy only ``!=``."""
    match = _CONSTRAINT.match(constraint)
    if match is None:
        return False
    key, operator, wanted = match.groups()
    value: str | None
    if key.startswith("node.labels."):
        value = group.node_labels.get(key.removeprefix("node.labels."))
    elif key == "node.role":
        value = "worker"
    elif key == "node.platform.os":
        value = "linux"
    elif key == "node.platform.arch":
        return True  # new nodes are of the existing nodes' architecture
    elif key in ("node.hostname", "node.id") or key.startswith("engine.labels."):
        value = None
    else:
        return False
    return (value == wanted) if operator == "==" else (value != wanted)


def could_take(group: Group, task: PendingTask) -> bool:
    """A new node of ``group`` (empty) could run ``task``."""
    return (
        group.capacity is not None
        and task.reservation.fits_in(group.capacity)
        and all(satisfies(c, group) for c in task.constraints)
    )


def nodes_needed(tasks: Sequence[PendingTask], capacity: Resources) -> int:
    """New nodes of ``capacity`` the tasks need: first fit, largest first (each task fits one)."""
    bins: list[Resources] = []  # room left in each new node
    for task in sorted(tasks, key=lambda t: (t.reservation.memory_mib, t.reservation.cpu), reverse=True):
        need = task.reservation
        for index, room in enumerate(bins):
            if need.fits_in(room):
                bins[index] = Resources(room.cpu - need.cpu, room.memory_mib - need.memory_mib)
                break
        else:
            bins.append(Resources(capacity.cpu - need.cpu, capacity.memory_mib - need.memory_mib))
    return len(bins)


def describe(tasks: Sequence[PendingTask]) -> str:
    """'3 tasks of service web pending (insufficient memory)', services largest first."""
    by_service: dict[str, list[PendingTask]] = {}
    for task in tasks:
        by_service.setdefault(task.service, []).append(task)
    parts = []
    for index, (service, group) in enumerate(sorted(by_service.items(), key=lambda item: (-len(item[1]), item[0]))):
        reasons = ", ".join(sorted({t.reason for t in group}))
        noun = ("task" if len(group) == 1 else "tasks") if index == 0 else ""
        count = f"{len(group)} {noun}".strip()
        parts.append(f"{count} of service {service} pending ({reasons})")
    return ", ".join(parts)


def _minutes(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{round(seconds / 60, 1):g} min" if seconds >= 60 else f"{seconds:.0f} s"


# -- the decision --------------------------------------------------------------------------------


def plan(
    groups: Sequence[Group],
    workload: Workload,
    history: History,
    timings: Timings,
    now: datetime,
    room: int | None = None,
) -> Plan:
    """At most one decision for a settled cluster: grow the nodegroup that can take the most of
    the work pending for ``pending_grace`` (by as many nodes as it needs, never beyond its max or
    ``room``, the nodes the project may still add), else remove the nodes of one nodegroup that
    have been idle for ``unneeded`` (unprotected, never below its min, never within
    ``delay_after_add`` of the cluster's last change). ``groups`` come in order of preference."""
    by_name = {g.name: g for g in groups}
    idle_since = {
        node.name: history.idle_since.get(node.name, now)
        for node in workload.nodes
        if node.nodegroup in by_name and node.ready and node.running_tasks == 0
    }
    settled = history.last_change is None or now - history.last_change >= timings.pending_grace
    waiting = [
        t for t in workload.pending if t.since is None or now - t.since >= timings.pending_grace
    ]  # fmt: skip
    placeable = [t for t in waiting if any(could_take(g, t) for g in groups)]
    hopeless = [t for t in waiting if t not in placeable]
    notes = []
    if hopeless:
        notes.append(f"{describe(hopeless)}: no node of any autoscaled nodegroup could ever take them")
    if placeable and settled:
        decision, note = _grow(groups, placeable, room)
        if note:
            notes.append(note)
        if decision is not None:
            return Plan(decision, "; ".join(notes) or None, idle_since)
    if placeable:  # work waits for room: no node is unneeded
        return Plan(None, "; ".join(notes) or None, idle_since)
    return Plan(_shrink(groups, workload, idle_since, history, timings, now), "; ".join(notes) or None, idle_since)


def _grow(groups: Sequence[Group], tasks: Sequence[PendingTask], room: int | None) -> tuple[Decision | None, str]:
    best: tuple[int, Group, list[PendingTask]] | None = None
    for group in groups:
        takes = [t for t in tasks if could_take(group, t)]
        if takes and group.node_count < group.bounds.maximum and (best is None or len(takes) > best[0]):
            best = (len(takes), group, takes)
    if best is None:
        full = [g.name for g in groups if any(could_take(g, t) for t in tasks)]
        return None, f"{describe(tasks)}: nodegroup {', '.join(full)} at its max_node_count"
    _, group, takes = best
    assert group.capacity is not None
    wanted = nodes_needed(takes, group.capacity)
    grow = min(wanted, group.bounds.maximum - group.node_count)
    note = ""
    if room is not None and grow > room:
        grow = max(room, 0)
        note = f"the project's node quota leaves room for {grow} more node{'s' if grow != 1 else ''}"
        if grow == 0:
            return None, f"{describe(takes)}: {note}"
    target = group.node_count + grow
    reason = f"autoscaler: {describe(takes)}; {group.name} {group.node_count} → {target}"
    if target - group.node_count < wanted:
        limit = note or f"max_node_count {group.bounds.maximum}"
        reason += f" (needs {wanted} more node{'s' if wanted != 1 else ''}; limited by {limit})"
    return Decision(group.name, group.node_count, target, reason), note


def _shrink(
    groups: Sequence[Group],
    workload: Workload,
    idle_since: Mapping[str, datetime],
    history: History,
    timings: Timings,
    now: datetime,
) -> Decision | None:
    if history.last_change is not None and now - history.last_change < timings.delay_after_add:
        return None
    best: tuple[Group, list[NodeLoad]] | None = None
    for group in groups:
        unneeded = sorted(
            (
                node
                for node in workload.nodes
                if node.nodegroup == group.name
                and node.name in idle_since
                and not node.protected
                and now - idle_since[node.name] >= timings.unneeded
            ),
            key=lambda node: (idle_since[node.name], node.name),
        )[: max(0, group.node_count - group.bounds.minimum)]
        if unneeded and (best is None or len(unneeded) > len(best[1])):
            best = (group, unneeded)
    if best is None:
        return None
    group, nodes = best
    names = tuple(node.name for node in nodes)
    idle = now - max(idle_since[name] for name in names)
    subject = f"node {names[0]}" if len(names) == 1 else f"nodes {', '.join(names)}"
    target = group.node_count - len(names)
    reason = (
        f"autoscaler: {subject} idle for {_minutes(idle)} (no task running); {group.name} {group.node_count} → {target}"
    )
    return Decision(group.name, group.node_count, target, reason, names)
