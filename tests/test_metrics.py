"""The metrics file and ``status --prometheus``, read by an outside parser (prometheus_client's) after
whole runs of the real command: healthy, with owed projects, and failed; their values are the
ones ``status --json`` shows."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from bandersnatch.history import History, MirrorSize, RunPoint
from bandersnatch.metrics import metrics, render_metrics
from bandersnatch.report import MirrorStatus
from bandersnatch.state import LastRun, OwedProject
from tests.conftest import MirrorSetup, mirrored_files, size_on_disk, size_total
from tests.pypi_master import PyPIMaster, generate_corpus

parser = pytest.importorskip("prometheus_client.parser", reason="prometheus-client is in the test extra")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parsed(text: str) -> tuple[Samples, dict[str, str]]:
    """({(sample name, labels): value}, {family name: type}) as Prometheus' own library reads them."""
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in parser.text_string_to_metric_families(text):
        types[family.name] = family.type
        assert family.documentation, f"{family.name} has no HELP"
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in samples, f"{key} twice"
            samples[key] = sample.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def status_json(mirror: MirrorSetup) -> dict:
    result = mirror.run("status", "--json")
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def check_against_status(samples: Samples, report: dict, master: str) -> None:
    """Every fact the metrics share with ``status --json`` has the same value there."""
    assert value(samples, "bandersnatch_serial") == report["serial"]
    assert value(samples, "bandersnatch_master_serial") == report["master_serial"]
    assert value(samples, "bandersnatch_lag_serials") == report["lag"]
    assert value(samples, "bandersnatch_owed_projects") == len(report["owed"])
    last = report["last_run"]
    assert value(samples, "bandersnatch_run_downloaded_files_total") == last["files"]
    assert value(samples, "bandersnatch_run_downloaded_bytes_total") == last["bytes"]
    assert value(samples, "bandersnatch_run_deleted_projects_total") == last["deleted"]
    assert value(samples, "bandersnatch_run_wait_seconds") == last["waited"]
    assert value(samples, "bandersnatch_run_success") == (last["result"] == "ok")
    for result in ("ok", "failed", "error", "interrupted", "running"):
        assert value(samples, "bandersnatch_run_result", result=result) == (result == last["result"])
    assert value(samples, "bandersnatch_info", master=master, version="1.0.0") == 1


@pytest.fixture
def watched(mirror: MirrorSetup, pypi: PyPIMaster) -> MirrorSetup:
    mirror.write_config(pypi.url, metrics_file="metrics/bandersnatch.prom")  # relative: in directory
    return mirror


def test_a_healthy_run_writes_every_metric_with_help_and_type(pypi: PyPIMaster, watched: MirrorSetup) -> None:
    generate_corpus(pypi, 6, seed=3)
    assert watched.run().returncode == 0
    text = (watched.directory / "metrics/bandersnatch.prom").read_text()
    samples, types = parsed(text)
    check_against_status(samples, status_json(watched), pypi.url)
    files = mirrored_files(watched.web)  # release files; .metadata and .provenance are not counted
    assert value(samples, "bandersnatch_files") == len(files)
    assert value(samples, "bandersnatch_bytes") == sum((watched.web / path).stat().st_size for path in files)
    assert value(samples, "bandersnatch_projects") == 6
    assert value(samples, "bandersnatch_lag_serials") == 0
    assert value(samples, "bandersnatch_run_duration_seconds") > 0
    assert types["bandersnatch_run_downloaded_bytes"] == "counter"  # the parser drops _total from the family
    assert types["bandersnatch_serial"] == types["bandersnatch_run_result"] == "gauge"
    # The seconds since the last success are written with the file; the timestamp is the live fact
    success = value(samples, "bandersnatch_last_success_timestamp_seconds")
    assert value(samples, "bandersnatch_run_finished_timestamp_seconds") == math.floor(success)
    assert not list(watched.directory.glob("metrics/.*")), "the temporary sibling was left behind"

    printed = watched.run("status", "--prometheus")
    assert printed.returncode == 0, printed.stderr
    live, _ = parsed(printed.stdout)
    assert {k: v for k, v in live.items() if k[0] != "bandersnatch_lag_seconds"} == {
        k: v for k, v in samples.items() if k[0] != "bandersnatch_lag_seconds"
    }


def test_the_size_moves_by_what_a_run_downloads(pypi: PyPIMaster, watched: MirrorSetup) -> None:
    generate_corpus(pypi, 3, seed=4)
    assert watched.run().returncode == 0
    pypi.add_release("late-comer", "1.0")
    assert watched.run().returncode == 0
    samples, _ = parsed((watched.directory / "metrics/bandersnatch.prom").read_text())
    files = mirrored_files(watched.web)  # release files; .metadata and .provenance are not counted
    assert value(samples, "bandersnatch_files") == len(files)
    assert value(samples, "bandersnatch_bytes") == sum((watched.web / path).stat().st_size for path in files)
    assert value(samples, "bandersnatch_projects") == 4
    assert value(samples, "bandersnatch_run_downloaded_files_total") == 2  # a wheel and an sdist


def test_the_size_moves_down_by_what_a_run_deletes(pypi: PyPIMaster, watched: MirrorSetup) -> None:
    """Release files the master deleted (one file, then a whole project) leave the total; their
    .metadata and .provenance were never in it."""
    generate_corpus(pypi, 4, seed=9)
    assert watched.run().returncode == 0
    gone = pypi.files("Foo.Bar_baz")[0]["filename"]
    pypi.remove_file("Foo.Bar_baz", gone)
    pypi.remove_project("needs-py38")
    result = watched.run()
    assert result.returncode == 0, result.stderr
    assert "Counting the files" not in result.stderr  # moved, not counted again
    samples, _ = parsed((watched.directory / "metrics/bandersnatch.prom").read_text())
    files = mirrored_files(watched.web)
    assert not any(path.endswith(gone) for path in files)
    assert value(samples, "bandersnatch_files") == len(files)
    assert value(samples, "bandersnatch_bytes") == sum((watched.web / path).stat().st_size for path in files)


def test_the_operator_commands_that_delete_move_the_size(pypi: PyPIMaster, watched: MirrorSetup) -> None:
    """``delete`` takes a project's release files out of the total, and ``verify --delete`` the
    orphans left when a project's pages went by hand; the next run reports what is on disk."""
    generate_corpus(pypi, 4, seed=9)
    assert watched.run().returncode == 0
    before = size_total(watched)
    result = watched.run("delete", "needs-py38")
    assert result.returncode == 0, result.stderr
    assert size_total(watched) == size_on_disk(watched.web) != before
    kept = mirrored_files(watched.web)
    shutil.rmtree(watched.web / "simple" / "unicode-demo")  # its files are orphans now
    watched.run("verify", "--delete")
    assert kept - mirrored_files(watched.web)  # its files went
    assert size_total(watched) == size_on_disk(watched.web)
    result = watched.run()
    assert result.returncode == 0, result.stderr
    samples, _ = parsed((watched.directory / "metrics/bandersnatch.prom").read_text())
    assert (value(samples, "bandersnatch_files"), value(samples, "bandersnatch_bytes")) == size_on_disk(watched.web)


def test_the_size_is_counted_before_a_run_never_after_a_first_sync(pypi: PyPIMaster, watched: MirrorSetup) -> None:
    """A new mirror's count is of its empty tree: its first full sync (all of PyPI, 21 million
    files) is never walked afterwards. A mirror without a total (upgraded, or runs.json removed
    by hand) is counted once, when the next run starts, and that run's downloads are added."""
    generate_corpus(pypi, 3, seed=8)
    first = watched.run()
    assert first.returncode == 0, first.stderr
    assert "Counting the files" not in first.stderr
    (watched.directory / "runs.json").unlink()
    pypi.add_release("late-comer", "1.0")
    second = watched.run()
    assert second.returncode == 0, second.stderr
    assert second.stderr.count("Counting the files under web/packages/ once") == 1
    third = watched.run()
    assert "Counting the files" not in third.stderr
    samples, _ = parsed((watched.directory / "metrics/bandersnatch.prom").read_text())
    files = mirrored_files(watched.web)
    assert value(samples, "bandersnatch_files") == len(files)
    assert value(samples, "bandersnatch_bytes") == sum((watched.web / path).stat().st_size for path in files)


def test_a_run_with_owed_projects_says_so(pypi: PyPIMaster, watched: MirrorSetup) -> None:
    generate_corpus(pypi, 4, seed=5)
    broken = pypi.files("Foo.Bar_baz")[0]["url"]
    pypi.fail(broken.split(str(pypi.url), 1)[1], status=404, times=None)
    assert watched.run().returncode == 1
    samples, _ = parsed((watched.directory / "metrics/bandersnatch.prom").read_text())
    report = status_json(watched)
    check_against_status(samples, report, pypi.url)
    assert value(samples, "bandersnatch_owed_projects") == 1
    assert value(samples, "bandersnatch_run_result", result="failed") == 1
    assert ("bandersnatch_last_success_timestamp_seconds", ()) not in samples  # never succeeded yet


def test_a_failed_run_keeps_the_last_success(pypi: PyPIMaster, watched: MirrorSetup) -> None:
    generate_corpus(pypi, 3, seed=6)
    assert watched.run().returncode == 0
    before, _ = parsed((watched.directory / "metrics/bandersnatch.prom").read_text())
    pypi.fail("/pypi", status=500, times=None)  # the changelog: the run cannot even start
    assert watched.run().returncode == 1
    samples, _ = parsed((watched.directory / "metrics/bandersnatch.prom").read_text())
    assert value(samples, "bandersnatch_run_result", result="error") == 1
    assert value(samples, "bandersnatch_run_success") == 0
    assert value(samples, "bandersnatch_last_success_timestamp_seconds") == value(
        before, "bandersnatch_last_success_timestamp_seconds"
    )
    assert ("bandersnatch_master_serial", ()) not in samples  # not known: the master did not answer
    assert value(samples, "bandersnatch_serial") == value(before, "bandersnatch_serial")
    report = status_json(watched)  # the master still fails: status cannot ask it either
    assert report["master_serial"] is None and report["last_run"]["result"] == "error"
    assert value(samples, "bandersnatch_owed_projects") == len(report["owed"])


def test_an_s3_mirror_needs_an_absolute_metrics_file(tmp_path: Path) -> None:
    from bandersnatch.configuration import load_settings
    from bandersnatch.errors import ConfigError

    config = tmp_path / "c.conf"
    config.write_text(
        "[mirror]\ndirectory = /bucket/prefix\nmaster = https://pypi.org\nstorage-backend = s3\n"
        "metrics-file = bandersnatch.prom\n"
    )
    with pytest.raises(ConfigError, match=r"metrics-file = 'bandersnatch.prom': with storage-backend = s3"):
        load_settings(config)


HOSTILE = 'a"b\\c\nd'


def test_labels_and_help_are_escaped_for_any_master_url() -> None:
    status = MirrorStatus(5, None, LastRun("2026-01-01T00:00:00Z", result="running"), [])
    text = render_metrics(metrics(status, History(), version="1.0.0", master=HOSTILE, now=0.0))
    samples, _ = parsed(text)
    assert value(samples, "bandersnatch_info", master=HOSTILE, version="1.0.0") == 1
    assert ("bandersnatch_master_serial", ()) not in samples and ("bandersnatch_lag_serials", ()) not in samples


@pytest.mark.parametrize(
    "result, owed, success",
    [("ok", 0, 1), ("failed", 2, 0), ("error", 0, 0), ("interrupted", 1, 0)],
)
def test_the_result_gauge_has_one_label_set(result: str, owed: int, success: int) -> None:
    entries = [OwedProject(f"p{i}", 3, "boom", None, 1) for i in range(owed)]
    record = LastRun("2026-01-01T00:00:00Z", "2026-01-01T00:01:40Z", result=result, serial=7, owed=entries)
    point = RunPoint("2026-01-01T00:01:40Z", 1767225700.0, result, 100.0, 7, 9, projects=3, mirror_files=4)
    history = History((point,), last_success=1767225000.0, size=MirrorSize(4, 1000))
    text = render_metrics(metrics(MirrorStatus(7, 9, record, entries), history, version="1", master="m", now=1767225800.0))
    samples, _ = parsed(text)
    assert value(samples, "bandersnatch_run_success") == success
    assert sum(v for (name, _), v in samples.items() if name == "bandersnatch_run_result") == 1
    assert value(samples, "bandersnatch_owed_projects") == owed
    assert value(samples, "bandersnatch_lag_serials") == 2
    assert value(samples, "bandersnatch_lag_seconds") == 800.0
    assert value(samples, "bandersnatch_bytes") == 1000
    assert value(samples, "bandersnatch_run_finished_timestamp_seconds") == 1767225700.0
