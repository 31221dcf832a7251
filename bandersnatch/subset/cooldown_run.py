"""One run's share of ``[cooldown]``: the gate opened at the run's instant, and what it held.

The mirror calls ``start_cooldown`` once per run (under its lock, before the scope is planned):
the policy is said every run (exemptions are break-glass and must stay visible), and the projects
whose held release has come of age since the last run are synced again without any change on the
master. ``end_cooldown`` keeps in ``cooldown.json`` when each project's next held release comes
of age, and says what is held back. cooldown.py decides; this module reads and writes its state.
"""

from __future__ import annotations

import logging
from typing import Optional

from ..storage import Storage
from .cooldown import COOLDOWN, CooldownSettings, Gate, due_now, dump_due, load_due, load_held, untimed

__all__ = ["start_cooldown", "end_cooldown"]

logger = logging.getLogger(__name__)


def start_cooldown(
    cooldown: CooldownSettings, storage: Storage, now: float
) -> tuple[Gate, Optional[str], dict[str, int]]:
    """(the run's gate, cooldown.json as the run found it, the projects to sync again with the
    serial their held release was seen at)."""
    gate = Gate(cooldown, now)
    logger.info("%s", cooldown.describe())
    before = storage.read_state(COOLDOWN)
    due = due_now(load_due(before), gate.now)
    if due:
        logger.info("Cooldown: %d projects have a release coming of age: %s", len(due), " ".join(sorted(due)))
    return gate, before, due


def end_cooldown(gate: Gate, storage: Storage) -> None:
    """Keep when each project's next held release comes of age, and say what is held back; a
    release without an upload time is said once per run, not once per file."""
    text = storage.read_state(COOLDOWN)
    before, earlier = load_due(text), load_held(text)
    storage.write_state(COOLDOWN, dump_due(gate.ledger.due(before), gate.ledger.held_state(earlier)))
    held = gate.ledger.held_back()
    if held:
        logger.info("Cooldown: %d releases of %d projects held back", len(held), len({h.project for h in held}))
    blind = untimed(held)
    if blind:
        logger.warning(
            "Cooldown: %d releases have no upload time and are held back (fail closed): %s", len(blind),
            ", ".join(f"{h.project} {h.version}" for h in blind[:10]) + (" ..." if len(blind) > 10 else ""),
        )  # fmt: skip
