"""Cheap filter changes (issue 20): a change of the filters alone re-plans only the projects it
affects, counted in requests to the loopback master through the real command."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from tests.conftest import MirrorSetup, mirrored_files
from tests.corpus_deps import add_dependency_corpus
from tests.pypi_master import PyPIMaster
from tests.test_subset import CLOSURE, CLOSURE_CONFIG, configure, held, listed

ALLOWLIST = """
[plugins]
enabled = allowlist_project
[allowlist]
packages =
{packages}
"""
FIVE = ("alpha", "bravo", "charlie", "delta", "echo")


def pages_fetched(pypi: PyPIMaster) -> set[str]:
    """The projects whose metadata document the master served."""
    return {unquote(path.rstrip("/").split("/")[2]) for path in pypi.metadata_requests()}


def files_fetched(pypi: PyPIMaster) -> list[str]:
    return [path for method, path in pypi.requests if method == "GET" and path.startswith("/packages/")]


def run(mirror: MirrorSetup) -> str:
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def allowlist_mirror(pypi: PyPIMaster, mirror: MirrorSetup, names: tuple[str, ...]) -> None:
    configure(mirror, pypi, ALLOWLIST.format(packages="\n".join(f"    {name}" for name in names)))


def test_taking_a_root_off_an_allowlist_asks_the_master_nothing(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    for name in FIVE + ("other",):
        pypi.add_release(name, "1.0")
    allowlist_mirror(pypi, mirror, FIVE)
    run(mirror)
    assert listed(mirror) == set(FIVE)
    pypi.clear_log()
    allowlist_mirror(pypi, mirror, FIVE[1:])
    run(mirror)
    assert listed(mirror) == set(FIVE[1:]) and "alpha" not in held(mirror)
    assert pages_fetched(pypi) == set() and files_fetched(pypi) == []
    pypi.clear_log()
    allowlist_mirror(pypi, mirror, FIVE)  # restored: its one project's page and files only
    run(mirror)
    assert listed(mirror) == set(FIVE)
    assert pages_fetched(pypi) == {"alpha"}
    assert {path.rsplit("/", 1)[1] for path in files_fetched(pypi)} == {
        "alpha-1.0-py3-none-any.whl",
        "alpha-1.0.tar.gz",
    }  # the wheel's .metadata: read from the wheel
    print(f"requests: {len(pypi.requests)} ({pypi.requests})")


def test_a_release_filter_on_one_root_resyncs_that_root_only(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    for name in FIVE:
        pypi.add_release(name, "1.0")
    pypi.add_release("alpha", "2.0")
    configure(mirror, pypi, ALLOWLIST.format(packages="\n".join(f"    {n}" for n in FIVE)).replace(
        "allowlist_project", "allowlist_project allowlist_release"))  # fmt: skip
    run(mirror)
    assert held(mirror)["alpha"] == {"1.0", "2.0"}
    pypi.clear_log()
    configure(mirror, pypi, ALLOWLIST.format(packages="\n".join(f"    {n}" for n in ("alpha>=2",) + FIVE[1:])).replace(
        "allowlist_project", "allowlist_project allowlist_release"))  # fmt: skip
    run(mirror)
    assert held(mirror)["alpha"] == {"2.0"} and len(held(mirror)) == 5
    assert pages_fetched(pypi) == {"alpha"} and files_fetched(pypi) == []


def test_closure_roots_removed_and_added_cost_only_what_they_change(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    add_dependency_corpus(pypi)
    configure(mirror, pypi, CLOSURE_CONFIG.format(packages="    webapp\n    backport"))
    run(mirror)
    assert held(mirror) == CLOSURE
    pypi.clear_log()
    configure(mirror, pypi, CLOSURE_CONFIG.format(packages="    backport"))
    run(mirror)
    assert held(mirror) == {"backport": {"1.0"}}
    assert pages_fetched(pypi) == set() and files_fetched(pypi) == []  # removing asks nothing
    removed = len(pypi.requests)
    pypi.clear_log()
    configure(mirror, pypi, CLOSURE_CONFIG.format(packages="    webapp\n    backport"))
    run(mirror)
    assert held(mirror) == CLOSURE
    assert pages_fetched(pypi) == set(CLOSURE) - {"backport"}  # webapp's closure; backport stayed
    assert not [path for path in files_fetched(pypi) if "/backport-" in path]
    print(f"requests: removing a root {removed}, adding it back {len(pypi.requests)}")


ENVIRONMENTS = """
[environments]
python = 3.11 3.12
platforms = {platforms}
"""


def test_changing_the_environments_reselects_from_the_metadata_last_synced(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    add_dependency_corpus(pypi)
    sections = CLOSURE_CONFIG.format(packages="    webapp").replace(
        "python-versions = 3.11 3.12\nplatforms = linux-x86_64 windows-amd64\n", ""
    )  # fmt: skip
    configure(mirror, pypi, sections + ENVIRONMENTS.format(platforms="manylinux_2_28_x86_64"))
    run(mirror)
    before = held(mirror)
    assert "colorama" not in before  # needed on Windows only
    pypi.clear_log()
    configure(mirror, pypi, sections + ENVIRONMENTS.format(platforms="manylinux_2_28_x86_64 win_amd64"))
    stderr = run(mirror)
    assert "selected again from their metadata as last synced" in stderr
    assert set(held(mirror)) == set(before) | {"colorama"}
    assert pages_fetched(pypi) == {"colorama"}  # the one project the closure newly reaches
    fetched = {path.rsplit("/", 1)[1] for path in files_fetched(pypi)}
    assert fetched and all("win_amd64" in name or name.startswith("colorama") for name in fetched), fetched
    pypi.clear_log()
    configure(mirror, pypi, sections + ENVIRONMENTS.format(platforms="manylinux_2_28_x86_64"))
    run(mirror)
    assert held(mirror) == before
    assert pages_fetched(pypi) == set() and files_fetched(pypi) == []  # narrowing asks nothing
    print(f"requests: widening {len(fetched)} files; narrowing {len(pypi.requests)} requests")


def test_without_kept_metadata_a_files_change_checks_every_project(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    for name in FIVE:
        pypi.add_release(name, "1.0")
    allowlist_mirror(pypi, mirror, FIVE)
    run(mirror)
    (mirror.directory / "seen.journal").unlink()  # as after an upgrade from a version without it
    pypi.clear_log()
    configure(mirror, pypi, ALLOWLIST.format(packages="\n".join(f"    {n}" for n in FIVE)) + "[environments]\n"
              "platforms = win_amd64\nsdists = false\n")  # fmt: skip
    stderr = run(mirror)
    assert "every project is checked again" in stderr
    assert pages_fetched(pypi) == set(FIVE)
    assert {Path(p).name for p in mirrored_files(mirror.web)} == {f"{n}-1.0-py3-none-any.whl" for n in FIVE}
