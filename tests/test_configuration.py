"""Every bad value is named in one line; upstream spellings keep an existing config working."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bandersnatch.configuration import Settings, default_config_text, load_settings
from bandersnatch.errors import ConfigError

GOOD = "[mirror]\ndirectory = /srv/pypi\nmaster = https://pypi.org\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bandersnatch.conf"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_fill_what_the_config_leaves_out(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    assert settings == Settings(directory=Path("/srv/pypi"), master="https://pypi.org")


def test_the_shipped_default_config_loads_with_every_key(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, default_config_text()))
    assert settings.workers == 3 and settings.download_workers == 20 and settings.delete_packages and not settings.stop_on_error
    assert settings.access_log_pattern == "/var/log/nginx/*pypi*access*"


def test_the_example_file_is_the_default_config() -> None:
    example = Path(__file__).parent.parent / "bandersnatch.conf.example"
    assert example.read_text(encoding="utf-8") == default_config_text()


def test_upstream_spellings_and_values(tmp_path: Path) -> None:
    text = GOOD + "stop_on_error = yes\ndelete_packages = off\nworkers = 10\ntimeout = 2.5\n"
    text += "allow_non_https = true\n"
    settings = load_settings(write(tmp_path, text))
    assert (settings.stop_on_error, settings.delete_packages, settings.workers, settings.timeout) == (
        True, False, 10, 2.5,
    )  # fmt: skip


def test_http_master_needs_allow_non_https(tmp_path: Path) -> None:
    text = "[mirror]\ndirectory = /m\nmaster = http://127.0.0.1:8080/\nallow-non-https = true\n"
    assert load_settings(write(tmp_path, text)).master == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + "workers = 0\n", "[mirror] workers = '0': expected a whole number from 1 to 10"),
        (GOOD + "download-workers = 0\n", "[mirror] download-workers = '0': expected a whole number from 1 to 50"),
        (GOOD + "download_workers = 51\n", "download-workers = '51': expected a whole number from 1 to 50"),
        (GOOD + "workers = 11\n", "workers = '11': expected a whole number from 1 to 10"),
        (GOOD + "workers = many\n", "workers = 'many': expected a whole number"),
        (GOOD + "timeout = -1\n", "timeout = '-1': expected a number"),
        (GOOD + "stop-on-error = maybe\n", "stop-on-error = 'maybe': expected true or false"),
        ("[mirror]\ndirectory = /m\nmaster = pypi.org\n", "master = 'pypi.org': expected a URL"),
        ("[mirror]\ndirectory = /m\nmaster = ftp://pypi.org\n", "expected a URL"),
        ("[mirror]\ndirectory = /m\nmaster = http://pypi.org\n", "https only, unless allow-non-https = true"),
        ("[mirror]\nmaster = https://pypi.org\n", "[mirror] directory is missing"),
        ("[mirror]\ndirectory = relative/dir\nmaster = https://pypi.org\n", "expected an absolute path"),
        ("[mirror]\ndirectory = /m\n", "[mirror] master is missing"),
        ("[statistics]\naccess-log-pattern = x\n", "has no [mirror] section"),
        ("this is not ini\n", "is not valid INI"),
        ("[mirror]\ndirectory = /a\ndirectory = /b\n", "is not valid INI"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, text))
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_every_bad_value_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, "[mirror]\ndirectory = /m\nmaster = x\nworkers = 0\n"))
    assert "master" in str(raised.value) and "workers" in str(raised.value)


def test_unreadable_config_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    path.write_bytes(b"\xff\xfe[mirror]")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(path)


def test_unsupported_and_unknown_keys_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = GOOD + "hash-index = false\ndigest_name = sha256\ncolour = blue\n[plugins]\nenabled = allowlist_project\n[x]\n"
    with caplog.at_level(logging.WARNING):
        load_settings(write(tmp_path, text))
    assert "[mirror] hash-index: not supported yet, ignored" in caplog.text
    assert "[mirror] digest-name: not supported yet, ignored" in caplog.text
    assert "[mirror] colour: unknown key, ignored" in caplog.text
    assert "[x]: unknown section, ignored" in caplog.text and "[plugins]" not in caplog.text


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("", {"simple_format": "ALL", "core_metadata": True, "json": False, "root_uri": "", "release_files": True}),
        ("simple-format = json\ncore-metadata = false\njson = true\nroot_uri = https://m.example/\n"
         "release-files = false\n",
         {"simple_format": "JSON", "core_metadata": False, "json": True, "root_uri": "https://m.example",
          "release_files": False}),
    ],
)  # fmt: skip
def test_index_keys_are_honoured(tmp_path, lines: str, expected: dict) -> None:
    path = tmp_path / "c.conf"
    path.write_text(GOOD + lines)
    settings = load_settings(path)
    assert {key: getattr(settings, key) for key in expected} == expected


@pytest.mark.parametrize(("line", "message"), [("simple-format = XML", "expected ALL, HTML or JSON"),
                                               ("root_uri = /relative", "expected a URL")])  # fmt: skip
def test_bad_index_keys_are_one_line(tmp_path, line: str, message: str) -> None:
    path = tmp_path / "c.conf"
    path.write_text(GOOD + line + "\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


S3 = "[mirror]\ndirectory = /pypi-mirror/mirror\nmaster = https://pypi.org\nstorage-backend = s3\n"


def test_s3_settings_are_read_as_upstream_writes_them(tmp_path: Path) -> None:
    text = S3 + (
        "[s3]\nendpoint_url = http://127.0.0.1:9000\nregion_name = eu-west-1\naws_access_key_id = AK\n"
        "aws_secret_access_key = SECRET\nsignature_version = s3v4\nconfig_param_connect_timeout = 5\n"
        'config_param_retries = {"max_attempts": 3}\nconfig_param_addressing_style = path\n'
    )
    s3 = load_settings(write(tmp_path, text)).s3
    assert s3 is not None and (s3.bucket, s3.prefix, s3.endpoint_url) == ("pypi-mirror", "mirror", "http://127.0.0.1:9000")
    assert (s3.region_name, s3.aws_access_key_id, s3.aws_secret_access_key) == ("eu-west-1", "AK", "SECRET")
    assert dict(s3.config_params) == {"connect_timeout": 5, "retries": {"max_attempts": 3}, "addressing_style": "path"}
    assert "SECRET" not in repr(s3)  # never in a log line or traceback


def test_the_filesystem_is_the_default_backend(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, GOOD + "storage-backend = filesystem\n")).s3 is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (S3.replace("/pypi-mirror/mirror", "/No_Such/x"), "with storage-backend = s3, expected /BUCKET/PREFIX"),
        (S3 + "[s3]\nendpoint_url = minio:9000\n", "[s3] endpoint_url = 'minio:9000': expected a URL"),
        (S3 + "diff-file = changes.txt\n", "expected an absolute path"),
        (GOOD + "storage-backend = gcs\n", "expected one of filesystem, s3"),
    ],
)
def test_bad_s3_settings_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, text))
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("directory = /srv/p\x00x\n", r"[mirror] directory = '/srv/p\x00x': a control character (\x00) in a path"),
        ("directory = /srv/p\x01x\n", r"[mirror] directory = '/srv/p\x01x': a control character (\x01) in a path"),
        ("directory = /srv/p\x7f\n", r"a control character (\x7f) in a path"),
        ("directory = /srv/m\ndiff-file = /tmp/d\x00f\n", r"[mirror] diff-file = '/tmp/d\x00f': a control character"),
        ("directory = /\n", "[mirror] directory = '/': expected a folder of its own, not the filesystem root"),
        ("directory = //\n", "[mirror] directory = '//': expected a folder of its own"),
        ("directory = /srv/..\n", "[mirror] directory = '/srv/..': expected a folder of its own"),
    ],
)
def test_bad_paths_are_one_line(tmp_path: Path, lines: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, "[mirror]\nmaster = https://pypi.org\n" + lines))
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_directory_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    for directory in (tmp_path / "afile", tmp_path / "afile" / "below"):
        with pytest.raises(ConfigError) as raised:
            load_settings(write(tmp_path, f"[mirror]\nmaster = https://pypi.org\ndirectory = {directory}\n"))
        assert f"[mirror] directory = {str(directory)!r}: Not a directory: {str(tmp_path / 'afile')!r} is a file" in str(
            raised.value
        )


def test_a_diff_file_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "m" / "diffs").mkdir(parents=True)
    text = f"[mirror]\nmaster = https://pypi.org\ndirectory = {tmp_path / 'm'}\ndiff-file = diffs\n"
    with pytest.raises(ConfigError, match=r"\[mirror\] diff-file = 'diffs': .* is a folder, not a file"):
        load_settings(write(tmp_path, text))


def test_a_run_without_filter_sections_imports_no_filter_module(tmp_path: Path) -> None:
    """A no-op cron run must not pay for packaging's parsers (bench scenario 2)."""
    import subprocess
    import sys

    path = write(tmp_path, GOOD)
    code = (
        "import sys; from pathlib import Path; from bandersnatch.configuration import load_settings; "
        f"load_settings(Path({str(path)!r})); "
        "print(sorted(m for m in sys.modules if m.startswith(('packaging', 'bandersnatch.subset'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    code = code.replace(repr(str(path)), repr(str(write(tmp_path, GOOD + "[plugins]\nenabled = all\n"))))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "bandersnatch.subset.config" in result.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[serve]\nfallback = sometimes\n", "[serve] fallback = 'sometimes': expected one of none, redirect, proxy"),
        ("[serve]\nupstream = pypi.org\n", "[serve] upstream = 'pypi.org': expected a scheme and host only"),
        ("[serve]\nupstream = https://pypi.org/simple\n", "expected a scheme and host only"),
        ("[serve]\naccess-log = /var/log/$host.log\n", "[serve] access-log = '/var/log/$host.log'"),
        ("[serve]\nlisten = 80; evil\n", "[serve] listen = '80; evil'"),
        ("[serve]\nfalback = proxy\n", "[serve] falback: unknown key"),
        ("[demand]\nenabled = true\nmax-size = lots\naccess-log-pattern = /x\n", "[demand] max-size = 'lots'"),
        ("[demand]\nenabled = true\nignore-agents = (\naccess-log-pattern = /x\n", "[demand] ignore-agents = '('"),
        ("[demand]\nenabled = true\n", "[demand] needs access-log-pattern"),
    ],
)
def test_serve_and_demand_values_are_checked(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, GOOD + text))
    assert message in str(raised.value)


def test_serve_and_demand_keys(tmp_path: Path) -> None:
    text = ("[statistics]\naccess-log-pattern = /var/log/a*\n[serve]\nfallback = Proxy\nupstream = https://m.example/\n"
            "[demand]\nenabled = yes\nmax-size = 2G\nkeep-days = 7\n[dependencies]\nenabled = true\n")  # fmt: skip
    settings = load_settings(write(tmp_path, GOOD + text))
    assert settings.serve is not None and settings.demand is not None
    assert (settings.serve.fallback, settings.serve.upstream, settings.serve.files_upstream) == (
        "proxy", "https://m.example", "https://m.example")  # fmt: skip
    assert (settings.demand.max_size, settings.demand.keep_days) == (2 << 30, 7)
    assert settings.demand.access_log_pattern == "/var/log/a*"  # [statistics]'s: [dependencies] needs no roots
    off = load_settings(write(tmp_path, GOOD + "[demand]\nenabled = false\n"))
    assert off.demand is None
