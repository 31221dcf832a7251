"""Issue 17, "one owner of every path under web/": every command that writes under web/ leaves the
tree that ``mirror`` writes, for every configuration that changes paths or links (SPEC 4, 6, 11).

Each case is one real sync (``MirrorSetup.run()`` against the loopback master) of a small corpus;
every operation then works on its own copy of that mirror, and the same check (tests/tree.py)
judges the result. A pair marked xfail(strict) is a symptom of issue 17 on today's code: the fix
makes it pass, and strict turns that pass into a failure until the mark is removed.
"""

from __future__ import annotations

import json
import shutil
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional
from urllib.parse import quote, unquote, urlsplit

import pytest

from tests.conftest import MirrorSetup
from tests.pypi_master import FileSpec, PyPIMaster
from tests.test_stats_e2e import PIP, log_line, read_day
from tests.tree import MasterFile, TreeConfig, assert_tree, master_view, web_hashes

ROOT_URI = "https://mirror.example/pypi"
PUBLIC_URL = "https://mirror.example/"


# ------------------------------------------------------------------------------------------ corpus
def base_corpus(pypi: PyPIMaster) -> None:
    """A name that needs normalizing, two releases (one with requires-python), a generated sdist
    without .metadata; real wheels carry PEP 658 metadata."""
    pypi.add_release("Foo.Bar", "1.0")
    pypi.add_release("Foo.Bar", "2.0", requires_python=">=3.8")
    pypi.add_release("plain", "1.0")
    pypi.add_release("tiny", "0.1", [FileSpec("tiny-0.1.tar.gz", size=3000)])


def wheel_of(pypi: PyPIMaster, name: str) -> str:
    return next(f["filename"] for f in pypi.files(name) if f["filename"].endswith(".whl"))


def with_provenance(pypi: PyPIMaster) -> None:
    bundle = {"version": 1, "attestation_bundles": [{"publisher": {"kind": "GitHub"}, "attestations": []}]}
    pypi.attest("plain", wheel_of(pypi, "plain"), bundle)


def with_status(pypi: PyPIMaster) -> None:
    """PEP 792: one quarantined project (it had files) and one archived one."""
    pypi.add_release("bad-one", "1.0")
    pypi.set_status("bad-one", "quarantined", "malware report")
    pypi.add_release("old-one", "1.0")
    pypi.set_status("old-one", "archived", "unmaintained")


def with_yanks(pypi: PyPIMaster) -> None:
    pypi.yank("Foo.Bar", "1.0", reason="bad <build>")  # the reason must survive escaping
    pypi.yank("tiny", "0.1")  # no reason: yanked is true, data-yanked empty


ALLOWLIST = "[plugins]\nenabled = allowlist_project\n[allowlist]\npackages =\n    Foo.Bar\n    plain\n"
LATEST = "[plugins]\nenabled = latest_release\n[latest_release]\nkeep = 1\n"


def latest_only(project: str, f: MasterFile) -> bool:
    return project != "foo-bar" or f.version == "2.0"


@dataclass(frozen=True)
class Case:
    config: TreeConfig = TreeConfig()
    corpus: tuple[Callable[[PyPIMaster], None], ...] = ()
    sections: str = ""  # filter sections appended to the config
    projects: Optional[frozenset[str]] = None  # what a filtered mirror holds
    keep: Optional[Callable[[str, MasterFile], bool]] = None


CASES = {
    "default": Case(),
    "root_uri": Case(TreeConfig(root_uri=ROOT_URI)),
    "html": Case(TreeConfig(simple_format="HTML")),
    "json_only": Case(TreeConfig(simple_format="JSON")),
    "json_api": Case(TreeConfig(json=True)),
    "html_json_api": Case(TreeConfig(simple_format="HTML", json=True)),
    "no_release_files": Case(TreeConfig(release_files=False)),
    "public_url": Case(TreeConfig(public_url=PUBLIC_URL)),
    "provenance": Case(corpus=(with_provenance,)),
    "provenance_root_uri": Case(TreeConfig(root_uri=ROOT_URI), (with_provenance,)),
    "provenance_public_url": Case(TreeConfig(public_url=PUBLIC_URL, json=True), (with_provenance,)),
    "quarantine": Case(TreeConfig(json=True), (with_status,)),
    "yanked": Case(TreeConfig(json=True), (with_yanks,)),
    "allowlist": Case(sections=ALLOWLIST, projects=frozenset({"foo-bar", "plain"})),
    "latest_release": Case(TreeConfig(json=True), sections=LATEST, keep=latest_only),
}

# The lead's checklist: (operation, case) -> the symptom today's code shows (SPEC 6 and 11).
PROVENANCE_RELATIVE = "pages link .provenance relatively; PEP 740 needs a fully qualified URL (none without a base)"
PUBLIC_URL_IGNORED = "[mirror] public-url is an unknown key: provenance links stay relative"
ROOT_VERSION = "the root states api-version 1.1 while project pages state 1.3/1.4"
QUARANTINE_ROOT = "the roots list a quarantined project (PyPI's leave it out)"
VERIFY_ROOT_URI = "verify does not follow root_uri links: 0 files checked, every file an orphan"
VERIFY_PROVENANCE = "verify calls a mirrored .provenance file an orphan"
DELETE_ROOT_URI = "delete leaves a root_uri mirror's release files on disk"
BUNDLE_ROOT_URI = "export leaves out the release files of a root_uri mirror"
BUNDLE_PROVENANCE = "export leaves out .provenance files"
BUNDLE_JSON_API = "export/import leaves out web/pypi/NAME/json"
REPAIR_ADDS_JSON = "verify --repair writes index.v1_json on an HTML-only mirror"
REPAIR_ADDS_HTML = "verify --repair writes HTML pages on a JSON-only mirror"
REPAIR_LOSES_API = "verify --repair drops web/pypi/NAME/json"
REPAIR_UNFILTERED = "verify --repair downloads the releases latest_release excludes"
STATS_JSON_ONLY = "update-stats counts no download on a JSON-only mirror"
ISSUE_17: dict[tuple[str, str], str] = {}  # every symptom is fixed; a new one goes here, xfail(strict)


def cases(operation: str, without: tuple[str, ...] = ()) -> list:
    return [
        pytest.param(name, marks=[pytest.mark.xfail(strict=True, reason=f"issue 17: {ISSUE_17[operation, name]}")]
                     if (operation, name) in ISSUE_17 else [], id=name)
        for name in CASES if name not in without
    ]  # fmt: skip


# ----------------------------------------------------------------------------------------- mirrors
@dataclass
class Synced:
    """One case synced once; each test works on a copy (``fresh``) so none sees another's damage."""

    name: str
    case: Case
    pypi: PyPIMaster
    template: MirrorSetup
    sync: object  # the CompletedProcess of the first run
    work: Path
    copies: list[MirrorSetup] = field(default_factory=list)

    def setup(self, directory: Path, config: Path) -> MirrorSetup:
        mirror = MirrorSetup(directory=directory, config=config)
        mirror.write_config(self.pypi.url, **self.case.config.options())
        with open(mirror.config, "a", encoding="utf-8") as handle:
            handle.write(self.case.sections)
        return mirror

    def fresh(self, where: Path) -> MirrorSetup:
        """A copy of the synced mirror under ``where`` with its own config."""
        where.mkdir(parents=True, exist_ok=True)
        mirror = self.setup(where / "mirror", where / "bandersnatch.conf")
        shutil.copytree(self.template.directory, mirror.directory, symlinks=True)
        return mirror

    def check(self, web: Path, without: frozenset[str] = frozenset()) -> None:
        projects = self.case.projects
        if without:
            projects = (projects or frozenset(master_view(self.pypi))) - without
        assert_tree(web, self.pypi, self.case.config, projects=set(projects) if projects is not None else None,
                    keep=self.case.keep)  # fmt: skip


@pytest.fixture(scope="module")
def synced_cases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Synced]]:
    """Sync each case the first time a test asks for it; the masters live as long as the module."""
    made: dict[str, Synced] = {}
    with ExitStack() as stack:

        def get(name: str) -> Synced:
            if name not in made:
                case = CASES[name]
                pypi = stack.enter_context(PyPIMaster())
                base_corpus(pypi)
                for change in case.corpus:
                    change(pypi)
                work = tmp_path_factory.mktemp(name)
                synced = Synced(name, case, pypi, None, None, work)  # type: ignore[arg-type]
                synced.template = synced.setup(work / "template", work / "template.conf")
                synced.sync = synced.template.run()
                made[name] = synced
            return made[name]

        yield get


def ok(result) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 0, result.stdout + result.stderr


def verify_report(mirror: MirrorSetup, *args: str) -> tuple[int, dict]:
    result = mirror.run("verify", "--json", *args)
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(result.stdout + result.stderr) from None


def release_paths(synced: Synced, project: str) -> list[str]:
    view = master_view(synced.pypi)[project]
    return [f.path for f in view.files if synced.case.keep is None or synced.case.keep(project, f)]


# -------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", cases("sync"))
def test_a_sync_writes_the_tree(synced_cases, name: str) -> None:
    synced = synced_cases(name)
    ok(synced.sync)
    synced.check(synced.template.web)


@pytest.mark.parametrize("name", cases("verify"))
def test_verify_finds_nothing_wrong_on_a_fresh_sync(synced_cases, name: str, tmp_path: Path) -> None:
    synced = synced_cases(name)
    ok(synced.sync)
    mirror = synced.fresh(tmp_path)
    for args in ((), ("--hash",)):
        status, report = verify_report(mirror, *args)
        assert (status, report["problems"], report["summary"]) == (0, [], {}), args
        if synced.case.config.release_files:  # every linked file checked, whatever the link form
            held = sum(len(release_paths(synced, p)) for p in (synced.case.projects or master_view(synced.pypi)))
            assert report["checked"]["files"] >= held, report["checked"]


@pytest.mark.parametrize("name", cases("verify-delete"))
def test_verify_delete_deletes_nothing_on_a_healthy_mirror(synced_cases, name: str, tmp_path: Path) -> None:
    synced = synced_cases(name)
    ok(synced.sync)
    mirror = synced.fresh(tmp_path)
    before = web_hashes(mirror.web)
    ok(mirror.run("verify", "--delete"))
    assert web_hashes(mirror.web) == before


@pytest.mark.parametrize("name", cases("delete"))
def test_delete_removes_the_project_in_every_format(synced_cases, name: str, tmp_path: Path) -> None:
    synced = synced_cases(name)
    ok(synced.sync)
    mirror = synced.fresh(tmp_path)
    gone = release_paths(synced, "foo-bar")
    ok(mirror.run("delete", "Foo.Bar"))
    left = [p for p in gone for p in (p, p + ".metadata", p + ".provenance") if (mirror.web / p).exists()]
    assert left == []
    assert not (mirror.web / "simple" / "foo-bar").exists() and not (mirror.web / "pypi" / "foo-bar").exists()
    synced.check(mirror.web, without=frozenset({"foo-bar"}))  # the roots no longer list it


@pytest.mark.parametrize("name", cases("bundle"))
def test_export_then_import_gives_the_same_tree(synced_cases, name: str, tmp_path: Path) -> None:
    synced = synced_cases(name)
    ok(synced.sync)
    mirror = synced.fresh(tmp_path / "online")
    bundle = tmp_path / "full.tar"
    ok(mirror.run("export", str(bundle)))
    offline = synced.setup(tmp_path / "offline" / "mirror", tmp_path / "offline.conf")
    ok(offline.run("import", str(bundle)))
    synced.check(offline.web)
    status, report = verify_report(offline, "--hash")
    assert (status, report["problems"]) == (0, [])


@pytest.mark.parametrize("name", cases("repair", without=("no_release_files",)))
def test_repair_restores_what_mirror_writes_and_fetches_only_the_damage(
    synced_cases, name: str, tmp_path: Path
) -> None:
    synced = synced_cases(name)
    ok(synced.sync)
    mirror = synced.fresh(tmp_path)
    damaged = set()
    for project in ("foo-bar", "plain"):
        path = release_paths(synced, project)[-1]
        data = (mirror.web / path).read_bytes()
        (mirror.web / path).write_bytes(data[: len(data) // 2])
        damaged.add(path)
    metadata = next(iter(sorted(mirror.web.rglob("*.whl.metadata"))))
    metadata.unlink()
    damaged.add(str(metadata.relative_to(mirror.web)))
    synced.pypi.clear_log()
    result = mirror.run("verify", "--hash", "--repair")
    ok(result)
    fetched = {unquote(urlsplit(path).path)[1:] for method, path in synced.pypi.requests
               if method == "GET" and path.startswith("/packages/")}  # fmt: skip
    assert fetched <= damaged, "repair downloaded what the mirror does not hold (excluded releases?)"
    synced.check(mirror.web)


@pytest.mark.parametrize("name", cases("update-stats", without=tuple(set(CASES) - {"default", "json_only"})))
def test_update_stats_counts_downloads_on_a_json_only_mirror(synced_cases, name: str, tmp_path: Path) -> None:
    """simple-format = JSON: no HTML page says which project a file belongs to (default: the same
    log counted on a mirror with HTML pages, so the expectation is known to be reachable). PEP 691
    pages carry only the normalized name, so a JSON-only mirror counts under that name."""
    synced = synced_cases(name)
    ok(synced.sync)
    mirror = synced.fresh(tmp_path)
    expected = {}
    lines = []
    for project in master_view(synced.pypi).values():
        for f in project.files:
            lines.append(log_line(quote("/" + f.path), PIP, "22/Nov/2026:10:00:00 +0000"))
            expected[(project.name if name != "json_only" else project.normalized, f.filename)] = 1
    log = tmp_path / "pypi-access.log"
    log.write_text("".join(lines), encoding="utf-8")
    with open(mirror.config, "a", encoding="utf-8") as handle:
        handle.write(f"[statistics]\naccess-log-pattern = {log}\n")
    ok(mirror.run("update-stats"))
    rows = read_day(mirror.web / "local-stats" / "days" / "2026-11-22.bz2")[1:]
    counted = {(package, filename): int(count) for package, filename, _, count in rows}
    assert counted == expected
    synced.check(mirror.web)


def test_a_file_checked_by_the_tree_is_really_checked(synced_cases, tmp_path: Path) -> None:
    """The tree check is not a tautology: a flipped byte, a stray file and a hidden (temporary)
    file each fail it."""
    synced = synced_cases("default")
    ok(synced.sync)
    for damage in ("flip", "stray", "hidden"):
        mirror = synced.fresh(tmp_path / damage)
        path = mirror.web / release_paths(synced, "plain")[0]
        if damage == "flip":
            data = bytearray(path.read_bytes())
            data[0] ^= 1
            path.write_bytes(bytes(data))
        else:
            (path.parent / (".tmp-x" if damage == "hidden" else "x.whl")).write_bytes(b"x")
        with pytest.raises(AssertionError):
            synced.check(mirror.web)
