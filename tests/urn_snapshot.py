"""The identity of every resource each benchmarked stack registers: (type, name, parent's type and name).

Pulumi keys state by URN, which these make up: a change here replaces or orphans live resources unless it carries
`aliases`. tests/unit/test_urns.py compares the program against tests/unit/snapshots/urns.json. After a deliberate
change (a resource added or removed, or renamed with aliases), regenerate it and say why in the commit:

    LLMD_CRDS_DIR=<crds> .venv/bin/python -m tests.urn_snapshot
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.harness import BENCH_STACKS, Registered, run_program

SNAPSHOT = Path(__file__).parent / "unit" / "snapshots" / "urns.json"


def _tail(urn: str | None) -> list[str]:
    """A URN's type and name (what stays the same across stacks and projects), or [] for the stack itself."""
    if not urn:
        return []
    qualified_type, name = urn.split("::")[-2:]
    typ = qualified_type.rsplit("$", 1)[-1]
    return [typ] if typ == "pulumi:pulumi:Stack" else [typ, name]  # the root's name is project-stack


def identities(resources: list[Registered]) -> list[list[str]]:
    return sorted([r.typ, r.name, *_tail(r.parent)] for r in resources)


def current() -> dict[str, list[list[str]]]:
    return {
        name: identities(run_program(config, secrets=secrets, stack=name).resources)
        for name, (config, secrets) in BENCH_STACKS.items()
    }


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(current(), indent=1) + "\n")
    print(f"wrote {SNAPSHOT}")
