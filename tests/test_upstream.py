"""The master's JSON as frozen values: every field a JSON API answer or a PEP 691 page can carry."""

from __future__ import annotations

from typing import Any

import pytest

from bandersnatch.upstream import parse_json_api, parse_pep691, with_page_extras

SHA = "a" * 64
JSON_URL = "https://f.example/pypi/foo/json"


def pep691_file(**overrides: Any) -> dict:
    entry = {"filename": "foo-1.0-py3-none-any.whl", "url": "../../packages/aa/foo-1.0-py3-none-any.whl",
             "hashes": {"sha256": SHA}, "size": 3}  # fmt: skip
    entry.update(overrides)
    return entry


@pytest.mark.parametrize(
    ("overrides", "field", "value"),
    [
        ({}, "url", "https://m.example/packages/aa/foo-1.0-py3-none-any.whl"),  # relative to the page
        ({}, "version", "1.0"),  # PEP 691 pages have no release keys: from the filename
        ({"yanked": "broken"}, "yanked_reason", "broken"),  # PEP 592 reason kept
        ({"yanked": True}, "yanked", True),
        ({"core-metadata": {"sha256": "B" * 64}}, "core_metadata_sha256", "b" * 64),
        ({"core-metadata": True}, "core_metadata_sha256", None),  # PEP 714: no hash, no promise
        ({"dist-info-metadata": {"sha256": SHA}}, "core_metadata_sha256", SHA),  # the PEP 658 spelling
        ({"provenance": "x.provenance"}, "provenance_url", "https://m.example/simple/foo/x.provenance"),
        ({"upload-time": "2024-01-02T03:04:05Z"}, "upload_time", "2024-01-02T03:04:05Z"),
    ],
)
def test_pep691_file_fields(overrides: dict, field: str, value: Any) -> None:
    page = {"name": "Foo", "files": [pep691_file(**overrides)], "meta": {"_last-serial": 7}}
    (parsed,) = parse_pep691("foo", page, 7, "https://m.example/simple/foo/", "https://m.example").files
    assert getattr(parsed, field) == value


@pytest.mark.parametrize(
    "page",
    [
        {"name": "other", "files": []},  # another project's page
        {"name": "foo", "files": [pep691_file(hashes={"sha256": "short"})]},
        {"name": "foo", "files": [pep691_file(size=-1)]},
        {"name": "foo", "files": [pep691_file(size=True)]},
        {"name": "foo", "files": [], "project-status": "quarantined"},  # PEP 792: an object
    ],
)
def test_bad_pep691_pages_are_refused(page: dict) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        parse_pep691("foo", page, 1, "https://m.example/simple/foo/", "https://m.example")


def test_the_json_api_with_the_pages_extras() -> None:
    entry = {"filename": "foo-1.0-py3-none-any.whl", "url": "https://f.example/packages/aa/foo-1.0-py3-none-any.whl",
             "digests": {"sha256": SHA}, "size": 3, "yanked": True, "yanked_reason": "bad",
             "core-metadata": {"sha256": SHA}}  # fmt: skip
    api = parse_json_api("FOO", {"info": {"name": "Foo"}, "releases": {"1.0": [entry], "0.9": []}}, 5,
                         JSON_URL, "https://f.example")
    assert api.name == "Foo" and api.versions == ("1.0", "0.9") and api.files[0].version == "1.0"
    page = parse_pep691("foo", {"name": "foo", "files": [pep691_file(provenance="p")],
                                "project-status": {"status": "archived", "reason": "old"}}, 5, "https://f.example/s/",
                                "https://f.example")  # fmt: skip
    merged = with_page_extras(api, page)
    assert merged.status == "archived" and merged.status_reason == "old"
    assert merged.files[0].provenance_url == "https://f.example/s/p" and merged.files[0].yanked_reason == "bad"
    with pytest.raises(ValueError, match="answered for"):
        parse_json_api("bar", {"info": {"name": "Foo"}, "releases": {}}, 5, JSON_URL, "https://f.example")


@pytest.mark.parametrize(
    ("provenance", "kept"),
    [
        ("https://m.example/integrity/p", True),  # the master's (and here the file's) origin
        ("http://127.0.0.1:9999/secret", False),  # an internal service: never asked
        ("javascript:alert(1)", False),
    ],
)
def test_a_provenance_only_from_the_files_or_the_masters_host(
    provenance: str, kept: bool, caplog: pytest.LogCaptureFixture
) -> None:
    page = {"name": "foo", "files": [pep691_file(provenance=provenance)]}
    (parsed,) = parse_pep691("foo", page, 1, "https://m.example/simple/foo/", "https://m.example").files
    assert parsed.provenance_url == (provenance if kept else None)
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == (0 if kept else 1)


def test_the_pages_provenance_is_kept_only_for_the_file_at_the_same_url() -> None:
    entry = {"filename": "foo-1.0-py3-none-any.whl", "url": "https://elsewhere.example/packages/aa/foo-1.0-py3-none-any.whl",
             "digests": {"sha256": SHA}, "size": 3}  # fmt: skip
    api = parse_json_api("foo", {"info": {"name": "foo"}, "releases": {"1.0": [entry]}}, 5, JSON_URL, "https://f.example")
    page = parse_pep691("foo", {"name": "foo", "files": [pep691_file(provenance="p")]}, 5, "https://f.example/s/",
                        "https://f.example")  # fmt: skip
    assert with_page_extras(api, page).files[0].provenance_url is None


@pytest.mark.parametrize(
    ("url", "master", "path"),
    [
        ("../../packages/aa/foo-1.0-py3-none-any.whl", "https://m.example", "packages/aa/foo-1.0-py3-none-any.whl"),
        # on the master's host but not below its path: the URL's own path, as files.pythonhosted.org's
        ("../../packages/aa/foo-1.0-py3-none-any.whl", "https://m.example/simple", "packages/aa/foo-1.0-py3-none-any.whl"),
        ("../../packages/aa/foo-1.0-py3-none-any.whl", "https://m.example/pre", "packages/aa/foo-1.0-py3-none-any.whl"),
        ("https://m.example/pre/packages/b/foo-1.0-py3-none-any.whl", "https://m.example/pre/",
         "packages/b/foo-1.0-py3-none-any.whl"),  # below the master's prefix
    ],
)  # fmt: skip
def test_a_files_checked_place_is_parsed_with_it(url: str, master: str, path: str) -> None:
    page = {"name": "foo", "files": [pep691_file(url=url)]}
    (parsed,) = parse_pep691("foo", page, 1, "https://m.example/simple/foo/", master).files
    assert parsed.path == path
