"""Profiles: named target sets for recurring scans, and the key that groups scans of the same targets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import RowMapping

from ..exceptions import OptionError
from .rows import utc

if TYPE_CHECKING:
    pass


def target_key(targets: Sequence[str], options: Mapping[str, Any]) -> str:
    """What makes two one-off scans "of the same targets": targets, excludes, ports and protocol."""
    doc = {
        "targets": sorted(str(t) for t in targets),
        "exclude": sorted(str(t) for t in (options.get("exclude") or ())),
        "ports": options.get("ports"),
        "udp_ports": options.get("udp_ports"),
        "protocol": options.get("protocol") or "tcp",
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Profile:
    """A named target set: what ``portlens scan --profile NAME`` scans, and how it is assessed.
    ``options``: the other ``portlens scan`` options, by their command-line names with ``_``
    (``{"rate": 500.0, "max_retries": 2, "discovery": False}``)."""

    name: str
    targets: tuple[str, ...]
    ports: str
    options: Mapping[str, Any] = field(default_factory=dict)
    policy: str | None = None
    baseline: str | None = None
    created: datetime | None = None
    updated: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "targets": list(self.targets),
            "ports": self.ports,
            "options": dict(self.options),
            "policy": self.policy,
            "baseline": self.baseline,
            "created": None if self.created is None else self.created.isoformat(),
            "updated": None if self.updated is None else self.updated.isoformat(),
        }


def profile_from_row(row: RowMapping) -> Profile:
    """A profile as stored; a row of the wrong shape (edited in the database) is an `OptionError`
    (the option values themselves are checked when the profile is used: `portlens.cli.history`)."""
    name, targets, options = row["name"], row["targets"], row["options"] or {}

    def wrong(what: str) -> OptionError:
        return OptionError(f"profile {name!r}: its {what} (edited in the store?)", item=str(name))

    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        raise wrong("targets are not a list of strings")
    if not isinstance(row["ports"], str):
        raise wrong("ports are not a string")
    if not isinstance(options, dict):
        raise wrong("options are not a mapping")
    if not all(v is None or isinstance(v, str) for v in (row["policy"], row["baseline"])):
        raise wrong("policy or baseline is not a file name")
    return Profile(
        name=name,
        targets=tuple(targets),
        ports=row["ports"],
        options=dict(options),
        policy=row["policy"],
        baseline=row["baseline"],
        created=utc(row["created"]),
        updated=utc(row["updated"]),
    )
