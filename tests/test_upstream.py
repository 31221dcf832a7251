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
