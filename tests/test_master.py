"""The master client at the HTTP edge: serial checks, PURGE, classification of every failure."""

from __future__ import annotations

import json
import re
import xmlrpc.client
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from bandersnatch import __version__
from bandersnatch import master as master_module
from bandersnatch import session as session_module
from bandersnatch.errors import (
    ProjectGone,
    StalePage,
    TruncatedDownload,
    UpstreamUnavailable,
)
from bandersnatch.master import Master
from bandersnatch.session import make_session

URL = "https://pypi.example"
SHA = "0" * 64


def project_json(name: str = "Foo", **file_overrides: Any) -> dict:
    entry = {
        "filename": "foo-1.0.tar.gz",
        "url": "https://files.example/packages/ab/cd/foo-1.0.tar.gz",
        "digests": {"sha256": SHA, "md5": "x"},
        "size": 10,
        "requires_python": ">=3.8",
        "yanked": False,
        "yanked_reason": None,
        "upload_time_iso_8601": "2026-01-01T00:00:00.000000Z",
    }
    entry.update(file_overrides)
    return {"info": {"name": name}, "last_serial": 5, "releases": {"1.0": [entry], "0.9": []}}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]) -> Master:
    return Master(URL, timeout=5, session=make_session(2, backoff=0), stale_wait=0.5, sleep=sleeps.append)


def no_pep691_pages(url: str = URL) -> None:
    """A master serving PEP 503 HTML pages only (a plain web server): the JSON API alone describes
    the project."""
    responses.get(re.compile(rf"{url}/simple/.*"), body="<!DOCTYPE html><html></html>", content_type="text/html")


def rpc_answer(value: Any) -> bytes:
    return xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode()


@responses.activate
def test_list_packages_with_serial_and_user_agent(client: Master) -> None:
    responses.post(
        f"{URL}/pypi",
        body=rpc_answer({"Foo": 3, "bar": 7}),
        match=[matchers.header_matcher({"User-Agent": session_module.USER_AGENT})],
    )
    assert client.all_projects() == {"Foo": 3, "bar": 7}
    assert f"bandersnatch/{__version__}" in session_module.USER_AGENT
    assert b"list_packages_with_serial" in responses.calls[0].request.body


@responses.activate
def test_changelog_is_paged_until_a_short_page(client: Master, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(master_module, "CHANGELOG_PAGE_SIZE", 2)
    pages = [
        [["a", "1", 0, "new release", 11], ["b", "1", 0, "new release", 12]],
        [["a", "2", 0, "new release", 13], ["c", None, 0, "remove project", 14]],
        [["b", "3", 0, "add file", 15]],
    ]
    for page in pages:
        responses.post(f"{URL}/pypi", body=rpc_answer(page))
    assert client.changes_since(10) == ({"a": 13, "b": 15, "c": 14}, 15)
    asked = [xmlrpc.client.loads(call.request.body)[0][0] for call in responses.calls]
    assert asked == [10, 12, 14]


@responses.activate
def test_empty_changelog_is_one_call(client: Master) -> None:
    responses.post(f"{URL}/pypi", body=rpc_answer([]))
    assert client.changes_since(99) == ({}, 99)
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    "body", [b"<html>oops</html>", b"\x00\x01garbage", rpc_answer("a string"), rpc_answer([["too", "short"]])]
)
@responses.activate
def test_garbage_xmlrpc_is_one_upstream_error(client: Master, body: bytes) -> None:
    responses.post(f"{URL}/pypi", body=body)
    with pytest.raises(UpstreamUnavailable):
        client.changes_since(1) if b"short" in body or b"string" in body else client.all_projects()


@responses.activate
def test_fresh_project_metadata_becomes_frozen_values(client: Master) -> None:
    no_pep691_pages()
    responses.get(f"{URL}/pypi/foo/json", json=project_json(), headers={"X-PyPI-Last-Serial": "5"})
    metadata = client.project("Foo", 5)
    assert metadata.name == "Foo" and metadata.serial == 5
    (release,) = metadata.files
    assert (release.filename, release.sha256, release.size, release.requires_python) == (
        "foo-1.0.tar.gz", SHA, 10, ">=3.8",
    )  # fmt: skip


@responses.activate
def test_stale_page_is_purged_and_retried(client: Master, sleeps: list[float]) -> None:
    no_pep691_pages()
    no_pep691_pages()
    url = f"{URL}/pypi/foo/json"
    responses.get(url, json=project_json(), headers={"X-PyPI-Last-Serial": "4"})
    responses.get(url, json=project_json(), headers={"X-PyPI-Last-Serial": "6"})
    responses.add("PURGE", url)
    assert client.project("Foo", 5).serial == 6
    api = [call.request.method for call in responses.calls if "/pypi/" in call.request.url]
    assert api == ["GET", "PURGE", "GET"]
    assert [call.request.url for call in responses.calls].count(f"{URL}/simple/foo/") == 1  # asked once, at once
    assert sleeps == [0.5]


def project_page(name: str = "foo", serial: int = 5) -> dict:
    entry = {"filename": "foo-1.0.tar.gz", "url": "https://files.example/packages/ab/cd/foo-1.0.tar.gz",
             "hashes": {"sha256": SHA}, "size": 10, "requires-python": ">=3.8", "yanked": False,
             "upload-time": "2026-01-01T00:00:00.000000Z"}  # fmt: skip
    return {"meta": {"api-version": "1.1", "_last-serial": serial}, "name": name, "versions": ["0.9", "1.0"],
            "files": [entry]}  # fmt: skip


@pytest.mark.parametrize(
    ("purge", "answered"),
    [
        ({"status": 200}, "HTTP 200"),
        ({"status": 405}, "HTTP 405"),  # a plain web server (another mirror) cannot PURGE
        ({"status": 403}, "with a failure: PURGE {url} answered HTTP 403"),
    ],
)
@pytest.mark.parametrize("json_api", [False, True])
@responses.activate
def test_stale_forever_gives_up_with_the_runbook_message(
    sleeps: list[float], purge: dict, answered: str, json_api: bool
) -> None:
    client = Master(URL, timeout=5, session=make_session(2, backoff=0), stale_wait=0.5, sleep=sleeps.append,
                    json_api=json_api)  # fmt: skip
    if json_api:
        no_pep691_pages()
        url = f"{URL}/pypi/python-novaclient/json"
        responses.get(url, json=project_json("python-novaclient"), headers={"X-PyPI-Last-Serial": "1154163"})
    else:
        url = f"{URL}/simple/python-novaclient/"
        responses.get(url, json=project_page("python-novaclient"), content_type=master_module.SIMPLE_JSON,
                      headers={"X-PyPI-Last-Serial": "1154163"})  # fmt: skip
    responses.add("PURGE", url, **purge)
    with pytest.raises(StalePage) as raised:
        client.project("python-novaclient", 1154164)
    assert str(raised.value) == (
        "Stale serial for python-novaclient (1154164) not updating. Giving up."
        f" (the master serves 1154163, expected 1154164; PURGE answered {answered.format(url=url)})"
    )  # SPEC section 3's runbook line, which operators grep for, then the cause
    assert [call.request.method for call in responses.calls].count("PURGE") == 3
    assert sleeps == [0.5, 1.0, 2.0]


@responses.activate
def test_404_means_the_project_is_gone(client: Master) -> None:
    no_pep691_pages()
    responses.get(f"{URL}/pypi/foo/json", status=404, json={"message": "Not Found"})
    with pytest.raises(ProjectGone):
        client.project("Foo", 1)


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        ({"info": {"name": "Foo"}, "releases": {}}, {}, "no serial"),
        ({**project_json(), "last_serial": "5"}, {"X-PyPI-Last-Serial": "abc"}, "where a serial belongs"),
        ({"info": {}}, {"X-PyPI-Last-Serial": "9"}, "malformed JSON metadata"),
        (project_json("Other"), {"X-PyPI-Last-Serial": "9"}, "answered for 'Other'"),
        (project_json(digests={"sha256": "xyz"}), {"X-PyPI-Last-Serial": "9"}, "bad sha256"),
        (project_json(size=-1), {"X-PyPI-Last-Serial": "9"}, "bad size"),
        ("not json", {"X-PyPI-Last-Serial": "9"}, "malformed JSON metadata"),
    ],
)
@responses.activate
def test_misbehaving_metadata_is_one_upstream_error(
    client: Master, body: Any, headers: dict, message: str
) -> None:
    no_pep691_pages()
    text = body if isinstance(body, str) else json.dumps(body)
    responses.get(f"{URL}/pypi/foo/json", body=text, headers=headers)
    with pytest.raises(UpstreamUnavailable, match=message):
        client.project("Foo", 1)


@responses.activate
def test_server_errors_are_retried_then_reported(client: Master) -> None:
    url = f"{URL}/packages/a.whl"
    responses.get(url, status=503)
    with pytest.raises(UpstreamUnavailable, match="answered HTTP 503"):
        with client.stream(url):
            pass
    assert len(responses.calls) == 6  # the first try and five retries


@responses.activate
def test_a_file_404_is_an_upstream_error(client: Master) -> None:
    responses.get(f"{URL}/packages/a.whl", status=404)
    with pytest.raises(UpstreamUnavailable, match="HTTP 404"):
        with client.stream(f"{URL}/packages/a.whl"):
            pass


@responses.activate
def test_connection_errors_are_one_line(client: Master) -> None:
    responses.get(f"{URL}/packages/a.whl", body=requests.exceptions.ConnectionError("refused\nsecond line"))
    with pytest.raises(UpstreamUnavailable) as raised:
        with client.stream(f"{URL}/packages/a.whl"):
            pass
    assert "\n" not in str(raised.value)


@responses.activate
def test_streamed_chunks_arrive_whole(client: Master) -> None:
    responses.get(f"{URL}/packages/a.whl", body=b"x" * 3_000_000)
    with client.stream(f"{URL}/packages/a.whl") as chunks:
        assert b"".join(chunks) == b"x" * 3_000_000


def test_retry_after_is_capped() -> None:
    retry = make_session(1).get_adapter("https://x").max_retries

    class Answer:
        headers = {"Retry-After": "86400"}

        def getheader(self, name: str) -> str:
            return self.headers.get(name, "")

    assert retry.get_retry_after(Answer()) == session_module.MAX_RETRY_AFTER


def test_truncated_download_class_is_an_upstream_error() -> None:
    assert issubclass(TruncatedDownload, UpstreamUnavailable)


def test_the_environment_is_read_once_for_the_master(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/mirror-ca.pem")
    session = make_session(1, "https://pypi.org")
    assert session.proxies.get("https") == "http://proxy.example:3128"
    assert session.verify == "/etc/ssl/mirror-ca.pem" and not session.trust_env
    assert make_session(1, "https://internal.example").proxies == {}


@responses.activate
@pytest.mark.parametrize(
    ("headers", "serial"), [({"X-PyPI-Last-Serial": "30"}, 30), ({}, 20)]
)  # fmt: skip
def test_pep_691_root_lists_every_project_with_its_serial(client: Master, headers: dict, serial: int) -> None:
    root = {"meta": {"api-version": "1.1", "_last-serial": 20},
            "projects": [{"name": "Foo", "_last-serial": 12}, {"name": "bar", "_last-serial": 20}]}  # fmt: skip
    responses.get(f"{URL}/simple/", json=root, headers=headers,
                  match=[matchers.header_matcher({"Accept": "application/vnd.pypi.simple.v1+json"})])  # fmt: skip
    assert client.simple_root() == (serial, {"Foo": 12, "bar": 20})


@responses.activate
@pytest.mark.parametrize(
    "body",
    [
        b"<html>not json</html>",
        json.dumps({"meta": {"_last-serial": 3}, "projects": [{"name": "a", "other": 1}]}).encode(),
        json.dumps({"meta": {"_last-serial": 3}, "projects": [{"name": "a", "_last-serial": "3"}]}).encode(),
        json.dumps({"meta": {}, "projects": []}).encode(),
        json.dumps({"meta": {"_last-serial": 3}, "projects": [{"name": 5, "_last-serial": 3}]}).encode(),
    ],
)
def test_a_malformed_root_is_one_upstream_error(client: Master, body: bytes) -> None:
    responses.get(f"{URL}/simple/", body=body)
    with pytest.raises(UpstreamUnavailable):
        client.simple_root()


# ------------------------------------------------- hostile input (SPEC section 18), at the edge


@pytest.mark.parametrize("serial", [-1, 2**40 + 1, 10**30, "5", True, None])
@responses.activate
def test_serials_beyond_any_range_are_refused(client: Master, serial: Any) -> None:
    """A _last-serial of 10**30 would put the mirror's status past every later change: frozen."""
    responses.post(f"{URL}/pypi", body=f"<?xml version='1.0'?><methodResponse><params><param><value><struct>"
                   f"<member><name>a</name><value><int>{serial}</int></value></member></struct></value></param>"
                   f"</params></methodResponse>".encode() if isinstance(serial, int) and not isinstance(serial, bool)
                   else rpc_answer({"a": serial}))  # fmt: skip
    with pytest.raises(UpstreamUnavailable, match=f"the master sent {serial!r} where a serial belongs"):
        client.all_projects()


@pytest.mark.parametrize("header", ["1" + "0" * 30, str(2**40 + 1)])
@responses.activate
def test_a_header_serial_beyond_any_range_fails_the_project(client: Master, header: str) -> None:
    no_pep691_pages()
    responses.get(f"{URL}/pypi/foo/json", json=project_json(), headers={"X-PyPI-Last-Serial": header})
    with pytest.raises(UpstreamUnavailable, match=f"the master sent {header} where a serial belongs"):
        client.project("Foo", 1)


@pytest.mark.parametrize("where", ["project", "root"])
@responses.activate
def test_a_document_nested_too_deeply_is_one_line(client: Master, where: str) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    responses.get(f"{URL}/simple/", body=nested)
    no_pep691_pages()
    responses.get(f"{URL}/pypi/foo/json", body=nested, headers={"X-PyPI-Last-Serial": "5"})
    with pytest.raises(UpstreamUnavailable, match="nested too deeply") as raised:
        client.project("Foo", 1) if where == "project" else client.simple_root()
    assert "\n" not in str(raised.value)


@responses.activate
def test_relative_json_api_urls_resolve_below_a_master_under_a_prefix(sleeps: list[float]) -> None:
    """Our own mirror's JSON API copy (json = true) links ../../packages/...; served under a prefix."""
    master = Master(f"{URL}/pypi-mirror", timeout=5, session=make_session(1, backoff=0), sleep=sleeps.append)
    no_pep691_pages(f"{URL}/pypi-mirror")
    body = project_json(url="../../packages/ab/cd/foo-1.0.tar.gz")
    responses.get(f"{URL}/pypi-mirror/pypi/foo/json", json=body, headers={"X-PyPI-Last-Serial": "5"})
    (release,) = master.project("Foo", 5).files
    assert release.url == f"{URL}/pypi-mirror/packages/ab/cd/foo-1.0.tar.gz"
    assert release.path == "packages/ab/cd/foo-1.0.tar.gz"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url": "javascript:alert(1)"}, "refusing URL 'javascript:alert(1)'"),
        ({"url": "file:///etc/passwd"}, "refusing URL 'file:///etc/passwd'"),
        ({"filename": "evil.html", "url": "https://files.example/packages/ab/evil.html"}, "refusing file 'evil.html'"),
        ({"url": "https://files.example/packages/%2e%2e/foo-1.0.tar.gz"}, "unsafe path segment '..'"),
    ],
)
@responses.activate
def test_a_url_the_mirror_must_not_follow_fails_only_its_project(client: Master, overrides: dict, message: str) -> None:
    no_pep691_pages()
    responses.get(f"{URL}/pypi/foo/json", json=project_json(**overrides), headers={"X-PyPI-Last-Serial": "5"})
    with pytest.raises(UpstreamUnavailable, match=re.escape(message)):
        client.project("Foo", 5)


@pytest.mark.parametrize(
    ("value", "error"),
    [("1023", "expected a whole number from 1024 to 1073741824"), ("1073741825", "expected a whole number from 1024"), ("lots", "expected a whole number")],
)
def test_max_metadata_size_is_checked(tmp_path: Any, value: str, error: str) -> None:
    from bandersnatch.configuration import load_settings
    from bandersnatch.errors import ConfigError

    config = tmp_path / "b.conf"
    config.write_text(f"[mirror]\ndirectory = {tmp_path}\nmaster = https://pypi.org\nmax-metadata-size = {value}\n")
    with pytest.raises(ConfigError, match=f"max-metadata-size = '{value}': {error}"):
        load_settings(config)
    config.write_text(f"[mirror]\ndirectory = {tmp_path}\nmaster = https://pypi.org\nmax-metadata-size = 1024\n")
    assert load_settings(config).max_metadata_size == 1024


# ------------------------------------------- one document per project (issue 22; SPEC section 3)


def asked() -> list[str]:
    return [f"{call.request.method} {call.request.url.removeprefix(URL)}" for call in responses.calls]


def serve_page(name: str, body: dict, serial: int = 5) -> None:
    responses.get(f"{URL}/simple/{name}/", json=body, content_type=master_module.SIMPLE_JSON,
                  headers={"X-PyPI-Last-Serial": str(serial)},
                  match=[matchers.header_matcher({"Accept": master_module.SIMPLE_JSON})])  # fmt: skip


@responses.activate
def test_the_pep_691_page_alone_describes_a_project(client: Master) -> None:
    page = project_page("foo-bar")
    page["files"][0].update(filename="Foo.Bar-2024.1.1.tar.gz", yanked="broken",
                            url="https://files.example/packages/ab/cd/Foo.Bar-2024.1.1.tar.gz")
    page["versions"] = ["2024.01.01", "2025.0"]
    page["project-status"] = {"status": "archived", "reason": "done"}
    serve_page("foo-bar", page)
    metadata = client.project("Foo.Bar", 5)
    assert asked() == ["GET /simple/foo-bar/"]  # normalized: no redirect hop; no JSON API
    assert (metadata.name, metadata.serial, metadata.versions) == ("Foo.Bar", 5, ("2024.01.01", "2025.0"))
    assert (metadata.status, metadata.status_reason, metadata.info_json) == ("archived", "done", None)
    (release,) = metadata.files
    assert (release.version, release.yanked_reason, release.size) == ("2024.01.01", "broken", 10)


@pytest.mark.parametrize(
    ("page", "gone"),
    [
        ({"status": 404}, True),  # PEP 503: no page, no project; the JSON API is not asked
        ({"json": {**project_page(), "files": [], "project-status": {"status": "quarantined"}}}, False),
    ],
)
@responses.activate
def test_a_missing_or_quarantined_page_is_one_request(client: Master, page: dict, gone: bool) -> None:
    responses.get(f"{URL}/simple/foo/", content_type=master_module.SIMPLE_JSON,
                  headers={"X-PyPI-Last-Serial": "5"}, **page)  # fmt: skip
    if gone:
        with pytest.raises(ProjectGone):
            client.project("foo", 5)
    else:
        assert client.project("foo", 5).quarantined
    assert asked() == ["GET /simple/foo/"]


@responses.activate
def test_a_master_with_html_pages_only_is_read_through_its_json_api(client: Master) -> None:
    no_pep691_pages()
    for name in ("foo", "bar"):
        responses.get(f"{URL}/pypi/{name}/json", json=project_json(name), headers={"X-PyPI-Last-Serial": "5"})
    assert [client.project(name, 5).name for name in ("foo", "bar")] == ["foo", "bar"]
    assert asked() == ["GET /simple/foo/", "GET /pypi/foo/json", "GET /pypi/bar/json"]  # then the JSON API alone


@responses.activate
def test_settings_that_need_info_read_the_json_api_and_the_page_beside_it() -> None:
    client = Master(URL, timeout=5, session=make_session(2, backoff=0), json_api=True)
    page = project_page()
    page["files"][0]["provenance"] = f"{URL}/integrity/foo/1.0/foo-1.0.tar.gz/provenance"
    page["project-status"] = {"status": "deprecated"}
    serve_page("foo", page)
    responses.get(f"{URL}/pypi/foo/json", json={**project_json("Foo"), "info": {"name": "Foo", "version": "1.0"}},
                  headers={"X-PyPI-Last-Serial": "5"})  # fmt: skip
    metadata = client.project("Foo", 5)
    assert sorted(asked()) == ["GET /pypi/foo/json", "GET /simple/foo/"]
    assert (metadata.current_version, metadata.status) == ("1.0", "deprecated")
    assert metadata.info_json and metadata.files[0].provenance_url == page["files"][0]["provenance"]
