"""Polite, cheap polling (issue 21): a conditional GET of the PEP 691 root, Retry-After and RateLimit
waits reported, the operator's contact in the User-Agent. Whole runs against the loopback master."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from bandersnatch import session as session_module
from bandersnatch.session import Pace as _Pace
from bandersnatch.session import Validators, WaitTally, _ratelimit
from tests.conftest import MirrorSetup
from tests.pypi_master import PyPIMaster, generate_corpus


@pytest.fixture
def cdn() -> Iterator[PyPIMaster]:
    """A master whose root carries an ETag and Last-Modified, as PyPI's CDN sends them."""
    with PyPIMaster(root_validators=True) as master:
        yield master


def simple_mirror(tmp_path: Path, master: PyPIMaster, **options: object) -> MirrorSetup:
    setup = MirrorSetup(tmp_path / "mirror", tmp_path / "bandersnatch.conf")
    setup.write_config(master.url, api_method="simple", **options)
    return setup


def ok(setup: MirrorSetup, *args: str) -> str:
    result = setup.run(*args)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def test_a_no_change_run_costs_the_master_one_304(tmp_path: Path, cdn: PyPIMaster) -> None:
    generate_corpus(cdn, 5, seed=11)
    mirror = simple_mirror(tmp_path, cdn)
    ok(mirror)
    stored = json.loads((mirror.directory / "simple-root.json").read_text())
    assert stored["serial"] == cdn.serial and stored["etag"] == f'"root-{cdn.serial}"'

    cdn.clear_log()
    assert "Nothing to do" in ok(mirror)
    assert cdn.answers == [("GET", "/simple/", 304, 0)]  # no body sent, so none parsed
    sent = cdn.request_headers[0][2]
    assert sent["If-None-Match"] == stored["etag"] and sent["If-Modified-Since"] == stored["last_modified"]

    # status asks the same way and learns the serial without a body, writing nothing
    cdn.clear_log()
    report = json.loads(mirror.run("status", "--json").stdout)
    assert report["master_serial"] == cdn.serial and report["lag"] == 0
    assert cdn.answers == [("GET", "/simple/", 304, 0)]

    # a change: the root's ETag changes, the run gets it whole and syncs the project
    cdn.add_release("fresh", "1.0")
    cdn.clear_log()
    ok(mirror)
    assert cdn.answers[0][:3] == ("GET", "/simple/", 200)
    assert (mirror.web / "simple/fresh/index.html").exists()
    assert json.loads((mirror.directory / "simple-root.json").read_text())["serial"] == cdn.serial


def test_validators_ahead_of_the_mirror_are_not_sent(tmp_path: Path, cdn: PyPIMaster) -> None:
    """A run that fetched the root but never finished must see its changes again: a 304 would hide them."""
    generate_corpus(cdn, 3, seed=12)
    mirror = simple_mirror(tmp_path, cdn)
    ok(mirror)
    cdn.add_release("later", "1.0")
    ahead = Validators(f'"root-{cdn.serial}"', None, cdn.serial)  # as a run killed after the fetch leaves them
    (mirror.directory / "simple-root.json").write_text(ahead.to_json())
    cdn.clear_log()
    ok(mirror)
    assert "If-None-Match" not in cdn.request_headers[0][2]
    assert (mirror.web / "simple/later/index.html").exists()


@pytest.mark.parametrize("text", [None, "", "{}", "[1]", '{"etag": 5, "serial": 1}', '{"etag": "x", "serial": -1}',
                                  '{"etag": null, "last_modified": null, "serial": 3}', "not json"])  # fmt: skip
def test_damaged_validators_mean_a_whole_root(text: str) -> None:
    assert Validators.from_json(text) is None


def test_a_429_is_waited_out_and_the_wait_reported(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    generate_corpus(pypi, 3, seed=13)
    mirror.write_config(pypi.url, metrics_file="metrics.prom", contact="ops@example.org")
    pypi.fail("/pypi", status=429, times=1, retry_after=2)  # the changelog call
    started = time.monotonic()
    stderr = ok(mirror)
    assert time.monotonic() - started >= 2
    record = json.loads((mirror.directory / "last-run.json").read_text())
    assert 2 <= record["waited"] < 10 and record["result"] == "ok"
    assert f"; waited {record['waited']:.0f} s on the master" in stderr
    metrics = (mirror.directory / "metrics.prom").read_text()
    assert f"bandersnatch_run_wait_seconds {record['waited']!r}" in metrics
    agents = {headers.get("User-Agent") for _, _, headers in pypi.request_headers}
    assert agents == {session_module.user_agent("ops@example.org")}
    assert "ops@example.org" in agents.pop()


def test_retry_after_is_capped_by_the_config(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    generate_corpus(pypi, 2, seed=14)
    mirror.write_config(pypi.url, max_retry_after=1)
    pypi.fail("/pypi", status=503, times=1, retry_after=3600)
    started = time.monotonic()
    ok(mirror)
    assert time.monotonic() - started < 30
    assert 1 <= json.loads((mirror.directory / "last-run.json").read_text())["waited"] < 5


def test_ratelimit_headers_slow_the_run_down_before_the_limit(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    generate_corpus(pypi, 3, seed=15)
    pypi.rate_limit("/pypi", remaining=1, reset=1, limit=100)  # every answer: one request left this second
    ok(mirror)
    record = json.loads((mirror.directory / "last-run.json").read_text())
    assert record["result"] == "ok" and record["waited"] > 0.3


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"RateLimit": '"default";r=3;t=30', "RateLimit-Policy": '"default";q=100;w=60'}, (3, 30.0, 100)),
        ({"RateLimit": "limit=100, remaining=5, reset=30"}, (5, 30.0, 100)),
        ({"RateLimit-Remaining": "2", "RateLimit-Reset": "10", "RateLimit-Limit": "50"}, (2, 10.0, 50)),
        ({"RateLimit": "nonsense"}, (None, None, None)),
        ({}, (None, None, None)),
    ],
)
def test_ratelimit_header_forms(headers: dict[str, str], expected: tuple) -> None:
    assert _ratelimit(headers) == expected


@pytest.mark.parametrize(
    "remaining, reset, limit, waits",
    [(50, 30, 100, 0.0), (2, 9, 100, 3.0), (0, 30, 100, 5.0), (1, 4, None, 2.0)],  # cap 5 s
)
def test_the_pace_spreads_the_rest_of_a_low_window(remaining: int, reset: int, limit: int, waits: float) -> None:
    slept: list[float] = []
    tally = WaitTally()
    pace = _Pace(5.0, tally, slept.append)
    headers = {"RateLimit": f"r={remaining};t={reset}"}
    if limit:
        headers["RateLimit-Policy"] = f"q={limit}"
    pace.note(headers)
    pace.wait()  # the first request goes at once
    pace.wait()
    assert slept == ([] if not waits else [pytest.approx(waits, abs=0.05)])
    assert tally.seconds == pytest.approx(sum(slept))


@pytest.mark.parametrize(
    "headers", [{"ratelimit-remaining": "0", "ratelimit-reset": "4"}, {"ratelimit": "r=0;t=4"}, {"Server": "x"}]
)
def test_the_pace_reads_the_headers_as_an_answer_spells_them(headers: dict[str, str]) -> None:
    from urllib3 import HTTPHeaderDict

    slept: list[float] = []
    pace = _Pace(5.0, WaitTally(), slept.append)
    pace.note(HTTPHeaderDict(headers))  # an answer's headers, as requests hands them on
    pace.wait()
    pace.wait()
    assert slept == ([pytest.approx(4.0, abs=0.05)] if "Server" not in headers else [])


@pytest.mark.parametrize(
    "line, message",
    [("contact = ops@example.org (me)", r"\[mirror\] contact = 'ops@example.org \(me\)': expected an e-mail address"),
     ("contact = a;b", r"\[mirror\] contact"), ("max-retry-after = -1", r"\[mirror\] max-retry-after")],
)  # fmt: skip
def test_bad_polling_keys_are_refused(tmp_path: Path, line: str, message: str) -> None:
    from bandersnatch.configuration import load_settings
    from bandersnatch.errors import ConfigError

    config = tmp_path / "c.conf"
    config.write_text(f"[mirror]\ndirectory = {tmp_path}/m\nmaster = https://pypi.org\n{line}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(config)
