"""One check of a whole mirror tree against its master, in every format the configuration writes.

SPEC sections 4 and 6 say what a mirror publishes under ``web/`` and how each link is formed; this
module is that contract written once, so every end-to-end test (a sync, a repair, an import) asks
the same question: is this tree exactly what ``mirror`` writes for this master and this config?

It reads the master over its own HTTP API (the PEP 691 page, which alone carries PEP 740 provenance
and PEP 792 status, and the JSON API, which alone groups files by release) and the mirror with its
own parsers: nothing of bandersnatch's rendering or reading code is used to judge its output.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import quote, unquote, urlsplit

__all__ = ["MasterProject", "TreeConfig", "assert_tree", "master_view", "web_hashes"]

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_STATS_DAY = re.compile(r"local-stats/days/\d{4}-\d\d-\d\d(\.bz2)?")
_UPLOAD_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_NEEDED = {"provenance": (1, 3), "project-status": (1, 4)}  # PEP 740, PEP 792: what each key requires


@dataclass(frozen=True)
class TreeConfig:
    """The [mirror] options that decide what is written under web/ and how links are formed."""

    simple_format: str = "ALL"  # HTML | JSON | ALL
    json: bool = False
    root_uri: str = ""
    release_files: bool = True
    core_metadata: bool = True
    public_url: str = ""

    def options(self) -> dict[str, str]:
        """The keyword options of MirrorSetup.write_config that give this configuration."""
        values = {"simple_format": self.simple_format, "json": str(self.json).lower(),
                  "release_files": str(self.release_files).lower(),
                  "core_metadata": str(self.core_metadata).lower()}  # fmt: skip
        if self.root_uri:
            values["root_uri"] = self.root_uri
        if self.public_url:
            values["public_url"] = self.public_url
        return values

    @classmethod
    def of_file(cls, path: Path) -> TreeConfig:
        """The configuration a mirror's INI file gives (either spelling of a key, as SPEC 2 allows)."""
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
        section = {key.replace("_", "-"): value.strip() for key, value in parser.items("mirror")}

        def flag(key: str, default: bool) -> bool:
            return section[key].lower() in ("1", "true", "yes", "on") if key in section else default

        return cls(simple_format=section.get("simple-format", "ALL").upper(), json=flag("json", False),
                   root_uri=section.get("root-uri", ""), release_files=flag("release-files", True),
                   core_metadata=flag("core-metadata", True), public_url=section.get("public-url", ""))  # fmt: skip

    @property
    def html(self) -> bool:
        return self.simple_format in ("HTML", "ALL")

    @property
    def pep691(self) -> bool:
        return self.simple_format in ("JSON", "ALL")

    @property
    def provenance_base(self) -> Optional[str]:
        """SPEC 6 / PEP 740: the fully qualified base of provenance links, or None (no provenance)."""
        base = self.root_uri or self.public_url
        return base.rstrip("/") if base else None


# -------------------------------------------------------------------------------------- the master
@dataclass(frozen=True)
class MasterFile:
    filename: str
    url: str
    path: str  # relative to web/, percent-decoded: where the mirror keeps it
    sha256: str
    size: int
    version: str
    requires_python: Optional[str]
    yanked: Any  # False, True or the reason (PEP 691 form)
    upload_time: str
    metadata_sha256: Optional[str]
    provenance: Optional[str]  # the master's provenance URL


@dataclass(frozen=True)
class MasterProject:
    name: str  # display name, as the master lists it
    normalized: str
    serial: int
    versions: tuple[str, ...]
    files: tuple[MasterFile, ...]
    status: Optional[dict[str, Any]] = None  # PEP 792 {"status", "reason"}

    @property
    def quarantined(self) -> bool:
        return bool(self.status) and self.status["status"] == "quarantined"


def _get(pypi: Any, path: str, accept: str = "application/json") -> Optional[Any]:
    """A JSON document as the master serves it, None on 404. Asked of its router directly, not over
    a socket: the check must neither show up in ``pypi.requests`` nor consume an injected fault."""
    answer = pypi._route("GET", path, {"Accept": accept}, b"")
    if answer.status == 404:
        return None
    assert answer.status == 200, (path, answer.status)
    return json.loads(b"".join(bytes(chunk) for chunk in answer.chunks))


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def master_view(pypi: Any) -> dict[str, MasterProject]:
    """{normalized name: project} as the master publishes it now (PEP 691 page + JSON API; a stale
    JSON API page is the master's fault of the moment, never the truth, so none is configured here)."""
    view = {}
    for name, serial in pypi.projects().items():
        key = _normalize(name)
        page = _get(pypi, f"/simple/{quote(key)}/", SIMPLE_JSON)
        # which release a file belongs to is only in the JSON API, which a test may have made stale
        # or (quarantine) 404: read it from the master's current state instead
        releases = pypi._projects[key].current.releases
        version_of = {f.filename: version for version, files in releases.items() for f in files}
        files = tuple(
            MasterFile(
                filename=f["filename"], url=f["url"], path=unquote(urlsplit(f["url"]).path)[1:],
                sha256=f["hashes"]["sha256"], size=f["size"], version=version_of.get(f["filename"], ""),
                requires_python=f.get("requires-python"), yanked=f["yanked"], upload_time=f["upload-time"],
                metadata_sha256=(f.get("core-metadata") or {}).get("sha256"), provenance=f.get("provenance"),
            )
            for f in page["files"]
        )  # fmt: skip
        view[key] = MasterProject(name, key, serial, tuple(page["versions"]), files, page.get("project-status"))
    return view


# ------------------------------------------------------------------------------------- the mirror
class _Page(HTMLParser):
    """Anchors and meta tags of a page, attribute values unescaped (as a browser or pip reads them)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, Optional[str]], str]] = []
        self.meta: dict[str, Optional[str]] = {}
        self._open: Optional[dict[str, Optional[str]]] = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), ""
        elif tag == "meta":
            values = dict(attrs)
            self.meta[values.get("name") or ""] = values.get("content")

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.anchors.append((self._open, self._text))
            self._open = None


def parse_html(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def web_hashes(web: Path) -> dict[str, str]:
    """{path relative to web/: sha256} of every file (hidden ones included): a tree's fingerprint."""
    return {str(p.relative_to(web)): sha256_bytes(p.read_bytes()) for p in web.rglob("*") if p.is_file()}


def _version(text: Optional[str]) -> tuple[int, ...]:
    assert text and re.fullmatch(r"\d+\.\d+", text), f"api-version {text!r} is not MAJOR.MINOR"
    return tuple(int(part) for part in text.split("."))


@dataclass
class _Expect:
    """What the mirror must hold, derived from the master, the config and the filters."""

    config: TreeConfig
    projects: dict[str, MasterProject]
    dropped: frozenset[str]
    filtered: bool = False
    optional: set[str] = field(default_factory=set)  # may be absent: a quarantined project's pages
    files: dict[str, list[MasterFile]] = field(default_factory=dict)  # kept files per project
    web: dict[str, Optional[str]] = field(default_factory=dict)  # every path under web/: sha256 or None

    def link(self, f: MasterFile) -> str:
        """SPEC 6: the file's URL, decoded: relative, under root_uri, or the master's own."""
        if not self.config.release_files:
            return unquote(f.url)
        if self.config.root_uri:
            return f"{self.config.root_uri.rstrip('/')}/{f.path}"
        return f"../../{f.path}"

    def metadata(self, f: MasterFile) -> Optional[str]:
        """The sha256 the pages announce for the file's .metadata, or None (PEP 658/714)."""
        if not (self.config.core_metadata and f.metadata_sha256) or f.path + ".metadata" in self.dropped:
            return None
        return f.metadata_sha256

    def provenance(self, f: MasterFile) -> tuple[Optional[str], ...]:
        """The provenance links a page may carry for the file (None: none announced)."""
        if not f.provenance:
            return (None,)
        if not self.config.release_files:  # the files stay on the master, so does their provenance
            return (unquote(f.provenance), None)
        base = self.config.provenance_base
        return (f"{base}/{f.path}.provenance",) if base else (None,)


def _expect(pypi: Any, config: TreeConfig, projects: Optional[set[str]],
            keep: Optional[Callable[[str, MasterFile], bool]], dropped: frozenset[str]) -> _Expect:  # fmt: skip
    view = master_view(pypi)
    chosen = {k: p for k, p in view.items() if projects is None or k in projects}
    expect = _Expect(config, chosen, dropped, filtered=projects is not None or keep is not None)
    expect.web["last-modified"] = None
    # The status page of every `mirror` run (not of `sync NAME` or an import): may be there
    expect.web.update({"_status/index.html": None, "_status/status.json": None})
    expect.optional.update({"_status/index.html", "_status/status.json"})
    pages = (["index.html", "index.v1_html"] if config.html else []) + (["index.v1_json"] if config.pep691 else [])
    expect.web.update({f"simple/{page}": None for page in pages})
    for key, project in chosen.items():
        kept = [f for f in project.files if keep is None or keep(key, f)]
        expect.files[key] = kept
        expect.web.update({f"simple/{key}/{page}": None for page in pages})
        if project.quarantined:  # SPEC 6: "its page may stay, empty, with its status"
            expect.optional.update(f"simple/{key}/{page}" for page in pages)
        if config.json and not project.quarantined:  # PyPI has no JSON API for a quarantined project
            expect.web[f"pypi/{key}/json"] = None
        if not config.release_files:
            continue
        for f in kept:
            expect.web[f.path] = f.sha256
            if config.core_metadata and f.metadata_sha256 and f.path + ".metadata" not in dropped:
                expect.web[f.path + ".metadata"] = f.metadata_sha256
            if f.provenance:
                expect.web[f.path + ".provenance"] = sha256_bytes(pypi.file_content(f.provenance))
    return expect


# ----------------------------------------------------------------------------------------- checks
def _check_files_on_disk(web: Path, expect: _Expect) -> None:
    found = {str(p.relative_to(web)) for p in web.rglob("*") if p.is_file()}
    hidden = sorted(str(p.relative_to(web)) for p in web.rglob(".*"))
    assert hidden == [], f"temporary or hidden files under web/: {hidden}"
    stats = {path for path in found if _STATS_DAY.fullmatch(path)}
    stray, missing = sorted(found - stats - set(expect.web)), sorted(set(expect.web) - found - expect.optional)
    assert stray == [], f"stray files under web/: {stray}"
    assert missing == [], f"files missing under web/: {missing}"
    for path, sha in expect.web.items():
        if sha is not None and path in found:
            assert sha256_bytes((web / path).read_bytes()) == sha, f"wrong bytes in {path}"
    if not expect.config.release_files:
        assert not (web / "packages").exists() or not any((web / "packages").rglob("*")), "release-files = false"


def _check_json_page(web: Path, expect: _Expect, project: MasterProject) -> tuple[int, ...]:
    folder = web / "simple" / project.normalized
    document = json.loads((folder / "index.v1_json").read_text(encoding="utf-8"))
    where = f"simple/{project.normalized}/index.v1_json"
    assert set(document) <= {"meta", "name", "files", "versions", "project-status"}, where
    assert document["name"] == project.normalized, where
    assert document["meta"]["_last-serial"] == project.serial, where
    version = _version(document["meta"]["api-version"])
    files = [] if project.quarantined else expect.files[project.normalized]
    assert [e["filename"] for e in document["files"]] != [] or not files, f"{where}: no files listed"
    assert sorted(e["filename"] for e in document["files"]) == sorted(f.filename for f in files), where
    by_name = {f.filename: f for f in files}
    for entry in document["files"]:
        f = by_name[entry["filename"]]
        what = f"{where}: {f.filename}"
        assert unquote(entry["url"]) == expect.link(f), what
        assert entry["hashes"] == {"sha256": f.sha256}, what
        assert entry["size"] == f.size and entry.get("requires-python") == f.requires_python, what
        assert entry["yanked"] == f.yanked, what  # PEP 592/691: false, true or the reason
        assert entry.get("upload-time") == f.upload_time and _UPLOAD_TIME.fullmatch(entry["upload-time"]), what
        metadata = expect.metadata(f)
        assert entry["core-metadata"] == ({"sha256": metadata} if metadata else False), what
        assert entry.get("dist-info-metadata", entry["core-metadata"]) == entry["core-metadata"], what
        provenance = entry.get("provenance")
        assert (unquote(provenance) if provenance else None) in expect.provenance(f), what
        if provenance:
            assert version >= _NEEDED["provenance"], f"{where}: provenance needs api-version 1.3 (PEP 740)"
    versions = set(document["versions"])
    assert {f.version for f in files} <= versions <= set(project.versions), where
    if not expect.filtered:
        assert versions == set(project.versions), where
    if project.status:
        assert document.get("project-status") == project.status, where
        assert version >= _NEEDED["project-status"], f"{where}: project-status needs api-version 1.4 (PEP 792)"
    else:
        assert document.get("project-status", {"status": "active"})["status"] == "active", where
    return version


def _check_html_page(web: Path, expect: _Expect, project: MasterProject) -> tuple[int, ...]:
    folder = web / "simple" / project.normalized
    text = (folder / "index.html").read_bytes()
    where = f"simple/{project.normalized}/index.html"
    assert (folder / "index.v1_html").read_bytes() == text, f"{where}: index.v1_html differs"
    page = parse_html(text.decode("utf-8"))
    version = _version(page.meta.get("pypi:repository-version"))
    files = [] if project.quarantined else expect.files[project.normalized]
    by_name = {f.filename: f for f in files}
    assert sorted(label for _, label in page.anchors) == sorted(by_name), where
    for attrs, label in page.anchors:
        f = by_name[label]
        what = f"{where}: {label}"
        href, _, fragment = (attrs.get("href") or "").partition("#")
        assert unquote(href) == expect.link(f) and fragment == f"sha256={f.sha256}", what
        assert attrs.get("data-requires-python") == f.requires_python, what
        yanked = None if f.yanked is False else ("" if f.yanked is True else f.yanked)
        assert attrs.get("data-yanked") == yanked, what  # PEP 592: never yanked without the attribute
        metadata = expect.metadata(f)
        announced = f"sha256={metadata}" if metadata else None
        assert attrs.get("data-core-metadata") == announced == attrs.get("data-dist-info-metadata"), what
        provenance = attrs.get("data-provenance")
        assert (unquote(provenance) if provenance else None) in expect.provenance(f), what
    status = page.meta.get("pypi:project-status")
    if project.status:
        assert status == project.status["status"], where
    else:
        assert status in (None, "active"), where
    return version


def _root_name(key: str, label: str, project: MasterProject) -> str:
    """A root may name a project as the master displays it or normalized (PEP 503 and 691 ask for
    "the name", and a mirror of a mirror may only know the normalized one); nothing else."""
    assert label in (project.name, project.normalized), f"root names {key!r} {label!r}"
    return key


_KNOWN = (1, 4)  # PEP 792, the newest version of the simple API


def _check_root(web: Path, expect: _Expect, versions: list[tuple[int, ...]]) -> None:
    """The roots list every project but quarantined ones (SPEC 6, as PyPI), the same names in both
    formats, and state the api-version of the project pages: the highest any of them needs."""
    listed = {k: p for k, p in expect.projects.items() if not p.quarantined}
    top = max(versions, default=None)
    names: dict[str, set[str]] = {}
    if expect.config.html:
        text = (web / "simple" / "index.html").read_bytes()
        assert (web / "simple" / "index.v1_html").read_bytes() == text, "simple/index.v1_html differs"
        page = parse_html(text.decode("utf-8"))
        hrefs = sorted((a.get("href") or "").removesuffix("/") for a, _ in page.anchors)
        assert hrefs == sorted(listed), "simple/index.html lists the wrong projects"
        names["html"] = {_root_name(a["href"][:-1], label, listed[a["href"][:-1]]) + "=" + label  # type: ignore[index]
                         for a, label in page.anchors}  # fmt: skip
        if top is not None:
            assert _version(page.meta.get("pypi:repository-version")) == top, "root and pages disagree on the version"
    if expect.config.pep691:
        root = json.loads((web / "simple" / "index.v1_json").read_text(encoding="utf-8"))
        serials = {_normalize(p["name"]): p["_last-serial"] for p in root["projects"]}
        assert len(serials) == len(root["projects"]), "simple/index.v1_json lists a project twice"
        assert serials == {k: p.serial for k, p in listed.items()}, "simple/index.v1_json: wrong projects or serials"
        names["json"] = {_root_name(_normalize(p["name"]), p["name"], listed[_normalize(p["name"])]) + "=" + p["name"]
                         for p in root["projects"]}  # fmt: skip
        assert root["meta"]["_last-serial"] >= max((p.serial for p in listed.values()), default=0)
        if top is not None:
            assert _version(root["meta"]["api-version"]) == top, "root and pages disagree on the api-version"
    if len(names) == 2:
        assert names["html"] == names["json"], "the HTML and JSON roots name the projects differently"


def _check_api_copy(web: Path, expect: _Expect, project: MasterProject) -> None:
    """json = true: web/pypi/{name}/json, the master's JSON API with URLs into the mirror."""
    where = f"pypi/{project.normalized}/json"
    document = json.loads((web / where).read_text(encoding="utf-8"))
    assert document["last_serial"] == project.serial, where
    files = expect.files[project.normalized]
    copied = {e["filename"]: (version, e) for version, entries in document["releases"].items() for e in entries}
    assert sorted(copied) == sorted(f.filename for f in files), where
    public = expect.config.public_url.rstrip("/")
    for f in files:
        version, entry = copied[f.filename]
        what = f"{where}: {f.filename}"
        assert version == f.version and entry["digests"]["sha256"] == f.sha256 and entry["size"] == f.size, what
        assert entry["yanked"] == (f.yanked is not False), what
        assert entry.get("yanked_reason") == (f.yanked if isinstance(f.yanked, str) else None), what
        assert entry.get("requires_python") == f.requires_python, what
        allowed = {expect.link(f)} | ({f"{public}/{f.path}"} if public and not expect.config.root_uri else set())
        assert unquote(entry["url"]) in allowed, what


def _check_one_api_version(versions: list[tuple[int, ...]]) -> None:
    """Every page states one api-version, so a client never sees the root and a page disagree; it
    is one the PEPs define (1.4 covers all the mirror emits: PEP 700, PEP 740 and PEP 792), and each
    page's needs were checked against it above (1.3 with provenance, 1.4 with a status)."""
    assert len(set(versions)) <= 1, f"the pages state different api-versions: {sorted(set(versions))}"
    assert all((1, 0) <= version <= _KNOWN for version in versions), f"api-version beyond 1.4: {versions}"


def assert_tree(
    web: Path,
    pypi: Any,
    config: TreeConfig = TreeConfig(),
    *,
    projects: Optional[set[str]] = None,
    keep: Optional[Callable[[str, MasterFile], bool]] = None,
    dropped: frozenset[str] = frozenset(),
) -> None:
    """The tree under ``web`` is exactly what ``mirror`` writes from ``pypi`` with ``config``.

    ``projects``: the normalized names a filtered mirror holds (default: all the master's);
    ``keep(project, file)``: which files a release/file filter keeps; ``dropped``: .metadata paths
    the run said it could not get a good copy of (absent, and announced nowhere).
    """
    expect = _expect(pypi, config, projects, keep, dropped)
    _check_files_on_disk(web, expect)
    folders = {p.name for p in (web / "simple").iterdir() if p.is_dir()}
    required = {k for k, p in expect.projects.items() if not p.quarantined}
    assert required <= folders <= set(expect.projects), "simple/ holds the wrong project folders"
    versions: list[tuple[int, ...]] = []
    for project in (p for k, p in expect.projects.items() if k in folders):
        html_version = _check_html_page(web, expect, project) if config.html else None
        json_version = _check_json_page(web, expect, project) if config.pep691 else None
        if html_version and json_version:
            assert html_version == json_version, f"{project.normalized}: HTML and JSON state different versions"
        versions.append(json_version or html_version)  # type: ignore[arg-type]
        if config.json and not project.quarantined:
            _check_api_copy(web, expect, project)
    _check_one_api_version(versions)
    _check_root(web, expect, versions)

