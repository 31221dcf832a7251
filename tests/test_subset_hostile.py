"""Hostile subset input through the real command: what any maintainer can publish in Requires-Dist,
and what an operator can mistype in the filter sections, is one line, never a traceback."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import MirrorSetup, mirrored_files
from tests.pypi_master import FileSpec, PyPIMaster, make_wheel

BAD_LINES = [
    'broken; os_name === "x"',  # packaging: UndefinedComparison
    "quoted; 'a' < 'b'",  # packaging: KeyError
    "nested; " + "(" * 1500 + 'os_name == "posix"' + ")" * 1500,  # packaging: RecursionError
    "cut (>=1.0",  # does not parse
]
CONFIG = """
[plugins]
enabled = allowlist_project
[allowlist]
packages = app
[dependencies]
enabled = true
python-versions = 3.12
platforms = linux-x86_64
"""


def publish(pypi: PyPIMaster, name: str, version: str, requires: list[str]) -> None:
    filename = f"{name}-{version}-py3-none-any.whl"
    pypi.add_release(name, version, [FileSpec(filename, content=make_wheel(name, version, requires_dist=requires))])


def test_bad_requires_dist_lines_need_nothing_and_are_said_once(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    publish(pypi, "app", "1.0", [*BAD_LINES, "lib>=1"])
    for name in ("lib", "broken", "quoted", "nested", "cut"):
        publish(pypi, name, "1.0", [])
    mirror.write_config(pypi.url)
    with open(mirror.config, "a", encoding="utf-8") as handle:
        handle.write(CONFIG)

    first = mirror.run()
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    warnings = [line for line in first.stderr.splitlines() if "taken as needing nothing" in line]
    assert len(warnings) == 1 and "app 1.0" in warnings[0]
    assert all(repr(line) in warnings[0] for line in BAD_LINES)
    assert {Path(path).name.split("-")[0] for path in mirrored_files(mirror.web)} == {"app", "lib"}

    publish(pypi, "app", "2.0", ["lib>=1"])  # a new release: the closure runs again, from closure.json
    second = mirror.run()
    assert second.returncode == 0, second.stderr
    assert "taken as needing nothing" not in second.stderr and "Traceback" not in second.stderr


def test_a_bad_filter_value_is_one_line_before_anything_is_written(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    mirror.write_config(pypi.url)
    with open(mirror.config, "a", encoding="utf-8") as handle:
        handle.write("[plugins]\nenabled = all\n[filter_regex]\npackages = a{99999999999}\n[latest_release]\nkeep = 1e999\n"
                     "[allowlist]\npackages = foo ===,==0.x\nrequirements = uv.lock\n")  # fmt: skip
    (mirror.config.parent / "uv.lock").write_text('package = "x"\n', encoding="utf-8")
    result = mirror.run()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR: " in line]
    assert len(errors) == 1 and len(result.stderr.splitlines()) == 1
    for part in ("[filter_regex] packages: 'a{99999999999}'", "[latest_release] keep = '1e999'",
                 "[allowlist] packages: 'foo ===,==0.x'", "uv.lock: 'package' must be an array of tables"):  # fmt: skip
        assert part in errors[0]
    assert not mirror.directory.exists()
