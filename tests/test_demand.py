"""[demand]'s log reading and eviction (subset/demand.py): rotated and compressed logs, each line
read once across runs, garbage counted, ignored agents, least recently requested evicted first."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import pytest

from bandersnatch.subset.demand import (
    DemandSettings,
    DemandState,
    evictions,
    parse_request,
    read_logs,
)

DAY = 86400
T0 = 1_780_000_000  # 2026-05-28


def line(name: str, when: float, agent: str = "pip/24.0", status: int = 200) -> str:
    from datetime import datetime, timezone

    stamp = datetime.fromtimestamp(when, timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'10.0.0.1 - - [{stamp}] "GET /simple/{name}/ HTTP/1.1" {status} 512 "-" "{agent}"\n'


def run(state: DemandState, files: list[Path], **options: object):  # type: ignore[no-untyped-def]
    return read_logs([str(f) for f in files], state, DemandSettings(enabled=True, **options))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (line("Foo.Bar", T0).rstrip(), (T0, "foo-bar", "pip/24.0")),
        (line("foo", T0, status=404).rstrip(), (T0, "foo", "pip/24.0")),
        ('1.2.3.4 - - [28/May/2026:00:00:00 +0000] "GET /packages/aa/bb/x.whl HTTP/1.1" 200 5 "-" "uv/0.4"',
         (1779926400.0, None, "uv/0.4")),
        ('1.2.3.4 - - [28/May/2026:00:00:00 +0000] "GET /simple/ HTTP/1.1" 200 5', (1779926400.0, None, "-")),
        ('1.2.3.4 - - [28/May/2026:00:00:00 +0000] "GET /simple/..%2F..%2Fetc/ HTTP/1.1" 404 5 "-" "x"',
         (1779926400.0, None, "x")),
        ("not a log line", None),
        ('1.2.3.4 - - [31/Feb/2026:00:00:00 +0000] "GET /simple/foo/ HTTP/1.1" 200 5 "-" "x"', None),
    ],
)
def test_parse_request(text: str, expected: object) -> None:
    assert parse_request(text) == expected


def test_each_line_counts_once_across_runs_rotation_and_compression(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(line("alpha", T0) + line("beta", T0 + 1) + "garbage\n" + line("alpha", T0 + 2)[:20])
    state = DemandState()
    first = run(state, [log])
    assert (first.lines, first.garbage, first.requests) == (3, 1, 2)  # the half-written line waits
    assert state.projects == {"alpha": [T0, T0, 1], "beta": [T0 + 1, T0 + 1, 1]}

    with open(log, "a") as handle:  # nginx finishes the line and writes more
        handle.write(line("alpha", T0 + 2)[20:] + line("gamma", T0 + 3))
    state = DemandState.load(state.dump())  # across runs, through demand.json
    second = run(state, [log])
    assert (second.lines, second.requests) == (2, 2)
    assert state.projects["alpha"] == [T0, T0 + 2, 2]

    rotated = tmp_path / "access.log.1.gz"  # logrotate: renamed, compressed, a new log begun
    rotated.write_bytes(gzip.compress(log.read_bytes()))
    os.remove(log)
    log.write_text(line("delta", T0 + 4))
    state = DemandState.load(state.dump())
    third = run(state, sorted(tmp_path.glob("access.log*")))
    assert (third.files, third.lines, third.requests) == (2, 1, 1)  # only delta is new
    assert state.projects["alpha"][2] == 2 and state.projects["delta"] == [T0 + 4, T0 + 4, 1]
    assert run(DemandState.load(state.dump()), sorted(tmp_path.glob("access.log*"))).lines == 0


def test_ignored_agents_do_not_count(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(line("alpha", T0, agent="health-check/1") + line("beta", T0, agent="Googlebot/2.1"))
    state = DemandState()
    read = run(state, [log], ignore_agents=re.compile(r"^health-check|bot"))
    assert (read.ignored, read.requests, state.projects) == (2, 0, {})


def test_a_damaged_state_file_starts_afresh() -> None:
    assert DemandState.load("{not json").projects == {}
    assert DemandState.load('{"projects": {"a": [1, 2, 3], "b": "x"}, "logs": {"d": -1}}').projects == {"a": [1, 2, 3]}


def test_eviction_takes_the_least_recently_requested_first_and_spares_the_protected() -> None:
    now = T0 + 100 * DAY
    state = DemandState(projects={
        "old": [T0, T0, 5], "older": [T0 - DAY, T0 - DAY, 9], "fresh": [now - DAY, now - DAY, 1],
        "root-dep": [T0 - 5 * DAY, T0 - 5 * DAY, 1], "middle": [T0 + DAY, T0 + DAY, 1],
    })  # fmt: skip
    sizes = {"old": 30, "older": 30, "fresh": 30, "root-dep": 30, "middle": 30, "root": 30}
    settings = DemandSettings(enabled=True, max_size=100, keep_days=30)
    # 180 bytes, 100 allowed: "root-dep" (protected) and "fresh" (within keep-days) never go
    assert evictions(sizes, state, {"root", "root-dep"}, settings, now) == ["older", "old", "middle"]
    assert evictions(sizes, state, set(), DemandSettings(enabled=True, max_size=500), now) == []
    state.evicted["older"] = now  # evicted: no longer demanded until asked again
    assert "older" not in state.demanded()
    state.count("older", now + 1)
    assert "older" in state.demanded()


def test_one_simulated_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The figures of the closing note: a day of 40 developers behind the mirror (the log of one
    day, read in 720 cron runs of 2 minutes), a 1 GiB cap on 60 projects of 25 MiB each."""
    log = tmp_path / "access.log"
    names = [f"project-{i:02d}" for i in range(60)]
    log.write_text("")
    state, requests, garbage = DemandState(), 0, 0
    for run_index in range(720):
        with open(log, "a") as handle:
            for developer in range(40):
                if (run_index * 7 + developer * 13) % 97 == 0:
                    name = names[(run_index + developer * 3) % len(names)]
                    handle.write(line(name, T0 + run_index * 120, agent="uv/0.4"))
                    requests += 1
            if run_index % 100 == 0:
                handle.write(line("health", T0 + run_index * 120, agent="health-check/1") + "\x00junk\n")
                garbage += 1
        read = run(state, [log], ignore_agents=re.compile("^health-check"))
        assert read.garbage == (1 if run_index % 100 == 0 else 0)
    counted = sum(count for _, _, count in state.projects.values())
    assert counted == requests
    sizes = {name: 25 << 20 for name in state.demanded()}
    cap = DemandSettings(enabled=True, max_size=1 << 30, keep_days=0)
    evicted = evictions(sizes, state, set(), cap, T0 + DAY)
    assert sum(sizes.values()) - len(evicted) * (25 << 20) <= 1 << 30
    with capsys.disabled():
        print(f"\nsimulated day: {requests} page requests, {len(state.demanded())} projects added, "
              f"{sum(sizes.values()) >> 20} MiB, {len(evicted)} evicted at a 1 GiB cap, {garbage} garbage lines")


# ------------------------------------------------------------------------- eviction, end to end
def test_eviction_through_the_real_command(tmp_path: Path) -> None:
    """`bandersnatch mirror` with [demand] and a max-size below the mirror's size, the loopback
    master as upstream: the least recently requested demanded projects go first, one per run as
    max-deletions allows; never the allowlisted root, its dependency (requested longest ago of all)
    nor a project asked for within keep-days. Each eviction is logged and in last-run.json."""
    import json
    import time

    from tests.conftest import MirrorSetup
    from tests.pypi_master import FileSpec, PyPIMaster, make_wheel

    now, big = time.time(), 100_000
    requested = {  # name: days since its last request (the access log says so)
        "kept-dep": 200, "old-a": 100, "old-b": 90, "old-c": 80, "recent-d": 1,
    }  # fmt: skip
    log = tmp_path / "access.log"
    log.write_text("".join(line(name, now - days * DAY) for name, days in requested.items()))
    with PyPIMaster() as pypi:
        pypi.add_release("kept-app", "1.0", [FileSpec("kept_app-1.0-py3-none-any.whl",
                         content=make_wheel("kept-app", "1.0", requires_dist=("kept-dep",)))])  # fmt: skip
        pypi.add_release("kept-dep", "1.0", [FileSpec("kept_dep-1.0-py3-none-any.whl", size=big)])
        for name in ("old-a", "old-b", "old-c", "recent-d"):
            pypi.add_release(name, "1.0", [FileSpec(f"{name.replace('-', '_')}-1.0-py3-none-any.whl", size=big)])
        mirror = MirrorSetup(directory=tmp_path / "mirror", config=tmp_path / "bandersnatch.conf")

        def configure(max_size: int) -> None:
            mirror.write_config(pypi.url, max_deletions=1)
            with open(mirror.config, "a", encoding="utf-8") as config:
                config.write(
                    "[plugins]\nenabled = allowlist_project\n[allowlist]\npackages = kept-app\n"
                    "[dependencies]\nenabled = true\npython-versions = 3.12\nplatforms = linux-x86_64\n"
                    f"[demand]\nenabled = true\naccess-log-pattern = {log}*\nmax-size = {max_size}\nkeep-days = 30\n"
                )

        def run() -> tuple[list[str], str]:
            done = mirror.run()
            assert done.returncode == 0, done.stderr
            record = json.loads((mirror.directory / "last-run.json").read_text(encoding="utf-8"))
            return record.get("evicted", []), done.stderr

        def held() -> set[str]:
            return {p.name for p in (mirror.web / "simple").iterdir() if p.is_dir()}

        everything = {"kept-app", "kept-dep", "old-a", "old-b", "old-c", "recent-d"}
        configure(0)
        assert run()[0] == [] and held() == everything
        configure(3 * big // 2)  # 1.5 of the five big projects: even after every candidate, the cap is passed
        evicted, said = run()
        assert evicted == ["old-a"], said  # the oldest request that may go; max-deletions 1 stops the next
        assert "[demand] evicting old-a (" in said and "not evicting old-b" in said
        assert held() == everything - {"old-a"}
        evicted, said = run()
        assert evicted == ["old-b"], said
        assert held() == everything - {"old-a", "old-b"}
        evicted, said = run()
        assert evicted == ["old-c"], said
        evicted, said = run()  # still over the cap: kept-dep (the root's need) and recent-d (keep-days) stay
        assert evicted == [] and "evicting" not in said, said
        assert held() == {"kept-app", "kept-dep", "recent-d"}
        state = json.loads((mirror.directory / "demand.json").read_text(encoding="utf-8"))
        assert set(state["evicted"]) == {"old-a", "old-b", "old-c"}

        log.write_text(log.read_text() + line("old-b", time.time()))  # asked for again: it comes back
        evicted, said = run()
        assert evicted == [] and "old-b" in held(), said
