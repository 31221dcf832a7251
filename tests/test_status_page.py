"""web/_status/: the page and status.json every run writes, rendered purely, and after whole runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from bandersnatch.history import MAX_RUNS, History, MirrorSize, RunPoint
from bandersnatch.pages.status_page import plots, render_status_page
from tests.conftest import MirrorSetup
from tests.pypi_master import FileSpec, PyPIMaster, generate_corpus

STATUS_KEYS = ("serial", "master_serial", "lag", "healthy", "last_run", "owed")


def point(index: int, result: str = "ok", **values: object) -> RunPoint:
    base = dict(finished=f"2026-01-01T00:{index % 60:02d}:00Z", finished_at=1767225600.0 + index * 120, result=result,
                duration=10.0 + index, serial=100 + index, master_serial=103 + index, bytes=1000 * index,
                projects=5, mirror_files=10, mirror_bytes=50_000 + index)  # fmt: skip
    base.update(values)
    return RunPoint(**base)  # type: ignore[arg-type]


def document(**values: object) -> dict:
    base = {"serial": 7, "master_serial": 9, "lag": 2, "healthy": False, "owed": [],
            "last_run": {"result": "failed", "started": "2026-01-01T00:00:00Z", "finished": "2026-01-01T00:01:00Z",
                         "error": None},
            "generated": "2026-01-01T00:01:00Z", "version": "1.0.0", "last_success": None,
            "mirror": {"projects": 5, "files": 10, "bytes": 1234}}  # fmt: skip
    base.update(values)
    return base


def test_every_text_is_escaped_and_nothing_runs() -> None:
    owed = [{"project": "<script>alert(1)</script>", "serial": 3, "error": 'HTTP 500 on "x&y"<b>',
             "first_failure": None, "attempts": 2}]  # fmt: skip
    page = render_status_page(document(owed=owed), [point(1)])
    assert "<script" not in page.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "HTTP 500 on &quot;x&amp;y&quot;&lt;b&gt;" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "an external asset"
    assert not re.search(r"<[^>]*\son\w+\s*=", page), "an event handler attribute"


@pytest.mark.parametrize("runs", [0, 1, 7])
def test_each_plot_has_a_point_per_known_value_and_a_text_alternative(runs: int) -> None:
    history = [point(i) for i in range(runs)]
    page = render_status_page(document(), history)
    for plot in plots(history):
        svg = re.search(rf'<svg [^>]*data-plot="{plot.key}"[^>]*>(.*?)</svg>', page, re.S)
        assert svg, plot.key
        assert f'data-points="{runs}"' in svg.group(0) and svg.group(1).count('class="point"') == runs
        assert f'aria-labelledby="plot-{plot.key}-title plot-{plot.key}-desc"' in svg.group(0)
        assert f'<title id="plot-{plot.key}-title">' in svg.group(1) and f'<desc id="plot-{plot.key}-desc">' in svg.group(1)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert len(captions) == 4
    assert all(f"over {runs} runs" in caption for caption in captions) if runs else all(
        "no runs recorded yet" in caption for caption in captions
    )


def test_a_run_without_a_known_value_leaves_a_gap_not_a_zero() -> None:
    history = [point(1), point(2, "error", master_serial=None), point(3)]
    lag = plots(history)[0]
    assert lag.values == [3, None, 3]
    page = render_status_page(document(), history)
    assert 'data-plot="lag" data-points="2"' in page


def test_the_history_is_bounded() -> None:
    history = History()
    for index in range(MAX_RUNS + 5):
        history = history.with_run(point(index), MirrorSize(1, 2))
    assert len(history.runs) == MAX_RUNS and history.runs[0] == point(5)
    assert History.from_json(history.to_json()) == history


def test_a_failure_keeps_the_last_success() -> None:
    history = History().with_run(point(1), None).with_run(point(2, "failed"), None)
    assert history.last_success == point(1).finished_at


# --------------------------------------------------------------------------------------- whole runs
def status_json(mirror: MirrorSetup) -> dict:
    result = mirror.run("status", "--json")
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def test_every_run_writes_the_page_and_its_facts(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    generate_corpus(pypi, 4, seed=7)
    assert mirror.run().returncode == 0
    pypi.add_release("second", "1.0")
    broken = pypi.files("second")[0]["url"].split(pypi.url, 1)[1]
    pypi.fail(broken, status=404, times=None)
    assert mirror.run().returncode == 1
    assert mirror.run().returncode == 1
    facts = json.loads((mirror.web / "_status/status.json").read_text())
    report = status_json(mirror)
    assert {key: facts[key] for key in STATUS_KEYS} == report
    assert facts["owed"][0]["project"] == "second" and facts["owed"][0]["attempts"] == 2
    page = (mirror.web / "_status/index.html").read_text()
    assert page.count('data-points="3"') == 4  # lag, bytes, duration and size of the three runs
    assert f'<dd data-fact="serial">{report["serial"]}</dd>' in page
    assert "404" in page and "NOT healthy" in page
    runs = json.loads((mirror.directory / "runs.json").read_text())["runs"]
    assert [run["result"] for run in runs] == ["ok", "failed", "failed"]

    # Neither verify nor an export takes the status page for a part of the mirror
    pypi.clear_faults()
    assert mirror.run().returncode == 0
    assert "Healthy" in (mirror.web / "_status/index.html").read_text()
    verified = mirror.run("verify")
    assert verified.returncode == 0 and "_status" not in verified.stdout + verified.stderr, verified.stdout
    bundle = mirror.directory.parent / "all.tar"
    exported = mirror.run("export", "--since", "0", str(bundle))
    assert exported.returncode == 0, exported.stderr
    copy = MirrorSetup(mirror.directory.parent / "copy", mirror.directory.parent / "copy.conf")
    copy.write_config(pypi.url)
    imported = copy.run("import", str(bundle))
    assert imported.returncode == 0, imported.stderr
    assert not (copy.web / "_status").exists()  # the page is the exporting mirror's, not carried


# ------------------------------------------------------------------------------------ a real browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = os.environ.get("BANDERSNATCH_STATUS_SCREENSHOT")  # set: where to keep the PNG (docs/status-page.png)


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless chromium as CI's root runs it (no sandbox, no GPU), logging console messages on stderr."""
    command = [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def busy_history(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    """Five runs worth plotting: a full sync, two with new files, two with a project owed."""
    generate_corpus(pypi, 6, seed=8)
    assert mirror.run().returncode == 0
    pypi.add_release("numeric-tools", "2.0", files=[FileSpec("numeric_tools-2.0.tar.gz", size=400_000)])
    assert mirror.run().returncode == 0
    pypi.add_release("web-kit", "1.1", files=[FileSpec("web_kit-1.1.tar.gz", size=150_000)])
    assert mirror.run().returncode == 0
    pypi.add_release("broken-dist", "0.1", files=[FileSpec("broken_dist-0.1.tar.gz", size=20_000)])
    pypi.fail(pypi.files("broken-dist")[0]["url"].split(pypi.url, 1)[1], status=503, times=None)
    assert mirror.run().returncode == 1
    assert mirror.run().returncode == 1


@pytest.mark.skipif(CHROMIUM is None, reason="headless chromium is missing (Debian package chromium; .ci/run installs it)")
def test_a_real_browser_shows_the_facts_and_every_plot_point(
    pypi: PyPIMaster, mirror: MirrorSetup, tmp_path: Path
) -> None:  # fmt: skip
    busy_history(pypi, mirror)
    report = status_json(mirror)
    url = (mirror.web / "_status/index.html").as_uri()

    dumped = chromium(tmp_path / "profile", "--dump-dom", url)
    assert "CONSOLE" not in dumped.stderr, [line for line in dumped.stderr.splitlines() if "CONSOLE" in line]
    dom = dumped.stdout
    facts = dict(re.findall(r'<dd data-fact="([^"]+)">([^<]*)</dd>', dom))
    assert facts["serial"] == str(report["serial"]) and facts["master_serial"] == str(report["master_serial"])
    assert facts["lag"] == str(report["lag"]) and facts["owed"] == str(len(report["owed"])) == "1"
    for key in ("result", "started", "finished"):
        assert facts[f"last_run.{key}"] == report["last_run"][key]
    assert "<strong>broken-dist</strong>" in dom and "answered HTTP 503" in dom and "NOT healthy" in dom
    plotted = re.findall(r'<svg [^>]*data-plot="(\w+)"[^>]*data-points="(\d+)"[^>]*>(.*?)</svg>', dom, re.S)
    assert [key for key, _, _ in plotted] == ["lag", "bytes", "duration", "size"]
    for key, points, body in plotted:
        assert points == "5" and body.count('class="point"') == 5, key

    picture = tmp_path / "status.png"
    shot = chromium(tmp_path / "profile", f"--screenshot={picture}", "--window-size=412,1800", url)
    assert "CONSOLE" not in shot.stderr
    header = picture.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24]) == (412, 1800)
    if SCREENSHOT:
        shutil.copyfile(picture, SCREENSHOT)
