"""What a URL from a master may be (urls.py): tables of the known shapes, properties for the rest."""

from __future__ import annotations

import posixpath
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from bandersnatch.errors import UnsafePath
from bandersnatch.urls import (
    check_distribution,
    file_place,
    resolve,
    same_origin,
    sidecar_allowed,
)

MASTER = "http://127.0.0.1:8080/pypi-mirror"
WHEEL = "x-1.0-py3-none-any.whl"
CASES = 1000  # examples per property; printed by --hypothesis-show-statistics


@pytest.mark.parametrize(
    ("document", "reference", "resolved"),
    [
        ("https://pypi.org/simple/x/", "../../packages/ab/x.whl", "https://pypi.org/packages/ab/x.whl"),
        ("https://pypi.org/simple/x/", "https://files.pythonhosted.org/p/x.whl", "https://files.pythonhosted.org/p/x.whl"),
        ("https://pypi.org/simple/x/", "//files.example/p/x.whl", "https://files.example/p/x.whl"),
        (f"{MASTER}/pypi/x/json", "../../packages/ab/x.whl", f"{MASTER}/packages/ab/x.whl"),  # our json copy
        ("https://pypi.org/simple/x/", "x.whl#sha256=00", "https://pypi.org/simple/x/x.whl#sha256=00"),
    ],
)
def test_references_resolve_against_their_document(document: str, reference: str, resolved: str) -> None:
    assert resolve(document, reference) == resolved


@pytest.mark.parametrize(
    "reference",
    [
        "javascript:alert(1)", "data:text/html,<script>", "file:///etc/passwd", "ftp://h/x.whl", "http:///x.whl",
        "http://h:99999/x.whl", "http://h:0/x.whl", "http://h\\@evil/x.whl", "http://h/x\n.whl", "http://h/\x00.whl",
        "mailto:a@b", "\x01javascript:alert(1)",
    ],
)  # fmt: skip
def test_only_http_urls_with_a_host_are_accepted(reference: str) -> None:
    with pytest.raises(UnsafePath, match="refusing URL"):
        resolve("https://pypi.org/simple/x/", reference)


@pytest.mark.parametrize(
    ("url", "place"),
    [
        (f"{MASTER}/packages/ab/cd/{WHEEL}", f"packages/ab/cd/{WHEEL}"),  # below the master's path
        (f"https://files.pythonhosted.org/packages/ab/cd/{WHEEL}", f"packages/ab/cd/{WHEEL}"),
        (f"http://127.0.0.1:8080/packages/ab/{WHEEL}", f"packages/ab/{WHEEL}"),  # same host, not below: own path
        (f"http://127.0.0.1:80/packages/{WHEEL}", f"packages/{WHEEL}"),  # another port: its own path
        ("http://127.0.0.1:8080/pypi-mirror/packages/%C3%BC/%C3%BC-1.0.tar.gz", "packages/ü/ü-1.0.tar.gz"),
        (f"{MASTER}/packages/a%20b/{WHEEL}?x=1#sha256=00", f"packages/a b/{WHEEL}"),
    ],
)
def test_a_files_place_under_web(url: str, place: str) -> None:
    filename = place.rsplit("/", 1)[-1]
    assert file_place(url, MASTER, filename) == place


def test_an_explicit_default_port_is_the_same_origin() -> None:
    assert file_place(f"http://h:80/m/packages/{WHEEL}", "http://h/m", WHEEL) == f"packages/{WHEEL}"


@pytest.mark.parametrize(
    "path",
    [
        f"/pypi-mirror/packages/../../../escaped/{WHEEL}",
        f"/pypi-mirror/packages/%2e%2e/%2e%2e/{WHEEL}",
        f"/pypi-mirror/packages/a%2fb/{WHEEL}",  # a slash hidden in one segment
        f"/pypi-mirror/packages/a%5cb/{WHEEL}",  # a backslash
        f"/pypi-mirror/packages/a%00b/{WHEEL}",
        f"/pypi-mirror/packages/a%0ab/{WHEEL}",
        f"/pypi-mirror/packages//{WHEEL}",
        f"/pypi-mirror/packages/./{WHEEL}",
        f"/pypi-mirror/packages/%ff/{WHEEL}",  # not UTF-8
        f"/pypi-mirror/simple/x/{WHEEL}",  # not under packages/
        f"/pypi-mirror/{WHEEL}",
        "/pypi-mirror/packages/ab/other-1.0-py3-none-any.whl",  # not the file's own name
        f"/etc/{WHEEL}",
    ],
)
def test_unsafe_places_are_refused(path: str) -> None:
    with pytest.raises(UnsafePath, match="refusing"):
        file_place("http://127.0.0.1:8080" + path, MASTER, WHEEL)


def test_the_masters_prefix_counts_only_on_the_masters_origin() -> None:
    with pytest.raises(UnsafePath, match="not packages/"):  # its own path is pypi-mirror/packages/...
        file_place(f"http://127.0.0.1:80/pypi-mirror/packages/{WHEEL}", MASTER, WHEEL)


@pytest.mark.parametrize(
    "filename",
    [
        WHEEL, "x-1.0.tar.gz", "x-1.0.zip", "x-1.0.tar.bz2", "x-1.0.tar.xz", "x-1.0.tgz", "x-1.0.tar",
        "x-1.0-py2.7.egg", "x-1.0.win32.exe", "x-1.0.win32.msi", "x-1.0-1.noarch.rpm", "x-1.0.dmg", "x_1.0_all.deb",
        "Unicodé_Démo-1.0-py3-none-any.whl", "X-1.0.TAR.GZ",
    ],
)  # fmt: skip
def test_distribution_files_pypi_accepts(filename: str) -> None:
    assert check_distribution(filename) == filename


@pytest.mark.parametrize(
    "filename",
    ["evil.html", "x.svg", "index.html", "evil.whl", "x-1.0.whl.html", ".tar.gz", "x-1.0.tar.gz.", "a\\b.zip",
     "x\x00.zip", "x.js", "x-1.0.tar.gz/../y", ""],
)  # fmt: skip
def test_anything_else_is_refused_by_name(filename: str) -> None:
    with pytest.raises(UnsafePath) as raised:
        check_distribution(filename)
    assert repr(filename) in str(raised.value)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://files.example/integrity/x/provenance", True),  # the file's host
        ("https://pypi.example/integrity/x/provenance", True),  # the master's
        ("http://127.0.0.1:9999/secret", False),  # another port on loopback: an internal service
        ("https://files.example:8443/x", False),
        ("http://files.example/x", False),  # another scheme is another origin
    ],
)
def test_sidecars_come_only_from_the_files_or_the_masters_origin(url: str, allowed: bool) -> None:
    assert sidecar_allowed(url, f"https://files.example/packages/{WHEEL}", "https://pypi.example") is allowed


def test_same_origin_ignores_case_of_the_host() -> None:
    assert same_origin("https://PyPI.org/a", "https://pypi.org:443/b")


# ------------------------------------------------------------------------------- properties

_SEGMENT = st.from_regex(r"[a-z0-9._~-]{1,6}|%[0-9a-fA-F]{2}[a-z]?", fullmatch=True) | st.text(
    st.characters(codec="utf-8"), max_size=12
) | st.sampled_from(
    ["..", ".", "", "%2e%2e", "%2E.", "%2f", "a%5cb", "%00", "%ff", "packages", "~", ";", "%25"]
)


@settings(max_examples=CASES, deadline=None)
@given(segments=st.lists(_SEGMENT, min_size=1, max_size=6).map(lambda s: ["packages", *s, WHEEL]) | st.lists(_SEGMENT),
       under_master=st.booleans())
@example(segments=["packages", "..", "..", WHEEL], under_master=True)
@example(segments=["packages", "%2e%2e", WHEEL], under_master=False)
def test_any_path_is_refused_or_a_plain_place_under_packages(segments: list[str], under_master: bool) -> None:
    """Whatever path a master sends, the place is refused or stays under web/packages/, is plain
    (no empty, dot or hidden-separator segment) and round-trips through its own URL."""
    prefix = MASTER if under_master else "https://files.example"
    url = prefix + "/" + "/".join(segments)
    try:
        url = resolve(MASTER + "/simple/x/", url)
        place = file_place(url, MASTER, WHEEL)
    except UnsafePath:
        event("refused")
        return
    event("accepted")
    parts = place.split("/")
    assert parts[0] == "packages" and parts[-1] == WHEEL
    assert all(part not in ("", ".", "..") and "\\" not in part and not any(ord(c) < 32 for c in part) for part in parts)
    assert posixpath.normpath("/srv/web/" + place).startswith("/srv/web/packages/")
    again = prefix + "/" + "/".join(quote(part, safe="") for part in parts)
    assert file_place(again, MASTER, WHEEL) == place


@settings(max_examples=CASES, deadline=None)
@given(reference=st.text(max_size=40) | st.from_regex(r"[a-z]{1,10}:[^\n]{0,20}", fullmatch=True))
def test_any_reference_resolves_to_http_with_a_host_or_is_refused(reference: str) -> None:
    try:
        resolved = resolve("https://pypi.org/simple/x/", reference)
    except UnsafePath as error:
        assert "\n" not in str(error)
        return
    parts = urlsplit(resolved)
    assert parts.scheme in ("http", "https") and parts.hostname


@settings(max_examples=CASES, deadline=None)
@given(filename=st.text(max_size=40).map(lambda stem: stem + ".html") | st.text(max_size=30))
def test_no_generated_name_is_a_page(filename: str) -> None:
    """Whatever a name is, what is accepted ends like a distribution, never like a web page."""
    try:
        check_distribution(filename)
    except UnsafePath:
        return
    assert filename.lower().endswith((".whl", ".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".egg",
                                      ".exe", ".msi", ".rpm", ".dmg", ".deb"))  # fmt: skip
