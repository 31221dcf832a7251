"""[cooldown] as pure functions: the policy over (files, now, settings), its config values and its
state file, table by table (time is always given, never read)."""

from __future__ import annotations

import configparser
from datetime import datetime, timezone
from typing import Optional

import pytest

from bandersnatch.model import ProjectMetadata, ReleaseFile
from bandersnatch.subset.cooldown import (
    CooldownSettings,
    Gate,
    HeldBack,
    Ledger,
    decide,
    due_now,
    dump_due,
    load_due,
    load_held,
    parse_exempt,
    parse_instant,
    read_cooldown_settings,
)

DAY = 86400.0
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc).timestamp()


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def release(version: str, age_days: Optional[float], suffix: str = ".tar.gz") -> ReleaseFile:
    uploaded = None if age_days is None else stamp(NOW - age_days * DAY)
    return ReleaseFile(f"foo-{version}{suffix}", f"https://m/foo-{version}{suffix}", "0" * 64,
                       upload_time=uploaded, version=version)  # fmt: skip


FREEZE = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("settings", "ages", "admitted", "held"),
    [
        (CooldownSettings(), {"1.0": 0.0}, ["1.0"], {}),  # no policy: everything
        (CooldownSettings(days=7), {"1.0": 30, "1.1": 8, "1.2": 6.9}, ["1.0", "1.1"], {"1.2": NOW + 0.1 * DAY}),
        (CooldownSettings(days=7), {"1.0": 7.0}, ["1.0"], {}),  # exactly N days old: admitted
        (CooldownSettings(days=7), {"1.0": 30, "2.0": None}, ["1.0"], {"2.0": None}),  # no upload time: fail closed
        (CooldownSettings(days=7), {"1.0": 1, "1.1": 2}, [], {"1.0": NOW + 6 * DAY, "1.1": NOW + 5 * DAY}),
        # exclude-newer: frozen at an instant, whatever the days; nothing ever admits them by itself
        (CooldownSettings(exclude_newer=FREEZE), {"1.0": 40, "1.1": 20}, ["1.0"], {"1.1": None}),
        (CooldownSettings(days=3, exclude_newer=FREEZE), {"1.0": 40, "1.1": 1}, ["1.0"], {"1.1": None}),
        # exempt: a project, or one release of it (versions compared as PEP 440 versions)
        (CooldownSettings(days=7, exempt=frozenset({("foo", None)})), {"1.0": 30, "1.1": 0, "1.2": None},
         ["1.0", "1.1", "1.2"], {}),
        (CooldownSettings(days=7, exempt=frozenset({("foo", "1.1.0")})), {"1.0": 30, "1.1": 0, "1.2": 0},
         ["1.0", "1.1"], {"1.2": NOW + 7 * DAY}),
        (CooldownSettings(days=7, exempt=frozenset({("bar", None)})), {"1.1": 0}, [], {"1.1": NOW + 7 * DAY}),
    ],
)
def test_decide(settings: CooldownSettings, ages: dict, admitted: list, held: dict) -> None:
    files = tuple(release(version, age) for version, age in ages.items())
    decision = decide("foo", files, NOW, settings)
    assert [f.version for f in decision.files] == admitted
    assert {h.version: h.until for h in decision.held} == pytest.approx(held)
    assert all(h.project == "foo" for h in decision.held)
    if not held:
        assert decision.files is files  # nothing held: the very tuple, so PEP 700 versions stay whole


def test_the_oldest_file_of_a_release_decides() -> None:
    """A wheel added today to a month-old release does not hold the release back (its sdist is old)."""
    files = (release("1.0", 30), release("1.0", 0.5, "-py3-none-any.whl"), release("2.0", None),
             release("2.0", 1, "-py3-none-any.whl"))  # fmt: skip
    decision = decide("foo", files, NOW, CooldownSettings(days=7))
    assert [f.filename for f in decision.files] == ["foo-1.0.tar.gz", "foo-1.0-py3-none-any.whl"]
    assert [(h.version, h.untimed) for h in decision.held] == [("2.0", False)]  # one timed file is enough
    assert decision.next_due == pytest.approx(NOW + 6 * DAY)


def test_untimed_releases_are_marked() -> None:
    decision = decide("foo", (release("1.0", None),), NOW, CooldownSettings(days=1))
    assert [(h.version, h.until, h.untimed) for h in decision.held] == [("1.0", None, True)]
    assert decision.next_due is None
    assert decision.held[0].as_json() == {"project": "foo", "version": "1.0", "until": None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01T00:00:00Z", datetime(2026, 11, 1, tzinfo=timezone.utc)),
        ("2026-11-01T00:00:00.5z", datetime(2026, 11, 1, 0, 0, 0, 500000, tzinfo=timezone.utc)),
        ("2026-11-01T00:00:00+00:00", datetime(2026, 11, 1, tzinfo=timezone.utc)),
    ],
)
def test_parse_instant(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize("text", ["2026-11-01", "2026-11-01T00:00:00", "2026-11-01T00:00:00+02:00",
                                  "2026-13-01T00:00:00Z", "yesterday", "", "2026-11-01 00:00:00Z x"])
def test_parse_instant_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339 UTC"):
        parse_instant(text)


def test_parse_exempt() -> None:
    assert parse_exempt("Requests==2.33.1  certifi\n  Foo_Bar") == {
        ("requests", "2.33.1"), ("certifi", None), ("foo-bar", None)}  # fmt: skip


@pytest.mark.parametrize("text", ["foo==", "foo>=1", "==1.0", "foo==not a version", "-x"])
def test_parse_exempt_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="NAME or NAME==VERSION"):
        parse_exempt(text)


def _read(section: str) -> tuple[Optional[CooldownSettings], list[str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(section)
    errors: list[str] = []
    return read_cooldown_settings(parser, errors), errors


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ("days = -1", "[cooldown] days = '-1': expected a whole number of days from 0 to 3650"),
        ("days = 1.5", "[cooldown] days = '1.5': expected a whole number of days"),
        ("days = ７", "[cooldown] days = '７': expected a whole number of days"),
        ("exclude-newer = 2026-11-01", "[cooldown] exclude-newer = '2026-11-01': expected an RFC 3339 UTC instant"),
        ("exempt = foo>=1", "[cooldown] exempt = 'foo>=1': 'foo>=1' is not NAME or NAME==VERSION"),
        ("dayz = 3", "[cooldown] dayz: unknown key"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(section: str, error: str) -> None:
    _, errors = _read(f"[cooldown]\n{section}\n")
    assert len(errors) == 1 and errors[0].startswith(error)


def test_settings_read() -> None:
    settings, errors = _read("[cooldown]\ndays = 7\nexclude_newer = 2026-11-01T00:00:00Z\nexempt = a==1\n  B\n")
    assert errors == []
    assert settings == CooldownSettings(7, FREEZE, frozenset({("a", "1"), ("b", None)}))
    assert settings.describe() == (
        "Cooldown: holding back releases younger than 7 days and uploaded after 2026-11-01T00:00:00Z; exempt: a==1 b"
    )
    assert settings.fingerprint() != CooldownSettings(7, FREEZE).fingerprint()


def test_gate_records_what_it_held_and_when_it_comes_of_age() -> None:
    gate = Gate(CooldownSettings(days=7), NOW)
    fresh = ProjectMetadata("Foo", 12, (release("1.0", 30), release("1.1", 2)))
    old = ProjectMetadata("bar", 5, (release("0.1", 30),))
    assert [f.version for f in gate.admit(fresh).files] == ["1.0"]
    assert gate.admit(old) is old
    before = {"bar": (NOW - 5, 4), "baz": (NOW + DAY, 3)}  # bar examined: its entry goes; baz kept
    assert gate.ledger.due(before) == {"foo": (pytest.approx(NOW + 5 * DAY), 12), "baz": (NOW + DAY, 3)}
    assert [h.as_json() for h in gate.ledger.held_back()] == [
        {"project": "foo", "version": "1.1", "until": stamp(NOW + 5 * DAY)[:19] + "Z"}]  # fmt: skip


@pytest.mark.parametrize(
    "text", [None, "", "not json", "[]", '{"due": []}', '{"due": {"a": {"until": "x", "serial": 1}}}',
             '{"due": {"a": {"until": 1.0}}}', "[" * 100000],
    ids=["none", "empty", "text", "list", "due-list", "until-text", "no-serial", "deep"],
)  # fmt: skip
def test_damaged_state_is_dropped(text: Optional[str]) -> None:
    assert load_due(text) == {}


def test_state_round_trip_and_due_now() -> None:
    due = {"a": (NOW - 1, 3), "b": (NOW + 1, 4)}
    assert load_due(dump_due(due)) == due
    assert due_now(due, NOW) == {"a": 3}
    assert Ledger().due(due) == due


def test_held_releases_are_kept_for_the_plan_of_later_runs() -> None:
    gate = Gate(CooldownSettings(days=7), NOW)
    gate.admit(ProjectMetadata("foo", 3, (release("1.0", 1),)))
    earlier = {"bar": (HeldBack("bar", "2.0", None),), "foo": (HeldBack("foo", "0.9", NOW),)}
    state = dump_due(gate.ledger.due({}), gate.ledger.held_state(earlier))
    assert load_held(state) == {"bar": (HeldBack("bar", "2.0", None),), "foo": (HeldBack("foo", "1.0", NOW + 6 * DAY),)}
    assert [(h.project, h.version) for h in gate.ledger.held_back(load_held(state))] == [("bar", "2.0"), ("foo", "1.0")]
