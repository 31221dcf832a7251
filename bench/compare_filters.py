"""Do our filters select exactly the files upstream bandersnatch's do? Run both on one master.

For each filter configuration below, upstream (6.8.0 from ``python bench/run.py --setup-upstream``)
and ours mirror the tests' loopback master (the dependency corpus plus a few plain projects) with
the same filter sections, and the release files each put under ``web/packages/`` are compared.
Prints one line per configuration and the files that differ. Only 127.0.0.1 is contacted.

    python bench/compare_filters.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.clients import find_upstream, ours  # noqa: E402
from tests.corpus_deps import add_dependency_corpus  # noqa: E402
from tests.pypi_master import PyPIMaster, generate_corpus  # noqa: E402

CONFIGURATIONS = {
    "allowlist with specifiers": """
[plugins]
enabled =
    allowlist_project
    allowlist_release
[allowlist]
packages =
    framework>=2
    helpers<2
    cryptolib
""",
    "blocklist of projects and releases": """
[plugins]
enabled =
    blocklist_project
    blocklist_release
[blocklist]
packages =
    webapp
    framework==2.0
""",
    "platforms": """
[plugins]
enabled =
    exclude_platform
[blocklist]
platforms =
    windows
    macos
    musllinux
""",
    "regex on names and versions": """
[plugins]
enabled =
    regex_project
    regex_release
[filter_regex]
packages =
    .*json.*
releases =
    .*b1$
""",
    "prereleases": """
[plugins]
enabled =
    prerelease_release
""",
    "project size": """
[plugins]
enabled =
    size_project_metadata
[size_project_metadata]
max_package_size = 20000
""",
    "requirements file, pinned": """
[plugins]
enabled =
    project_requirements
    project_requirements_pinned
[allowlist]
requirements_path = {scratch}
requirements =
    requirements.txt
""",
    "latest release": """
[plugins]
enabled =
    latest_release
[latest_release]
keep = 1
""",
}


def release_files(web: Path) -> set[str]:
    root = web / "packages"
    if not root.exists():
        return set()
    return {path.name for path in root.rglob("*") if path.is_file() and not path.name.endswith(".metadata")}


def mirror_with(client, master: str, directory: Path, sections: str) -> set[str]:  # type: ignore[no-untyped-def]
    config = directory.with_suffix(".conf")
    base = client.config(directory, master, workers=3, timeout=10).replace("\n[plugins]\nenabled =\n", "\n")
    config.write_text(base + sections, encoding="utf-8")
    run = subprocess.run(client.mirror_command(config), capture_output=True, text=True, env=client.env(None),
                         cwd=directory.parent, timeout=600)  # fmt: skip
    if run.returncode != 0:
        print(f"  {client.label} exited {run.returncode}: {run.stderr.strip().splitlines()[-1:]}")
    return release_files(directory / "web")


def main() -> int:
    upstreams = find_upstream()
    if not upstreams:
        print("no upstream install: run `python bench/run.py --setup-upstream` first")
        return 1
    mine = ours()
    differences = 0
    with PyPIMaster() as master, tempfile.TemporaryDirectory() as scratch:
        add_dependency_corpus(master)
        generate_corpus(master, 6, seed=5, files_per_project=(2, 4))
        Path(scratch, "requirements.txt").write_text("framework==2.0\nhelpers>=1.2  # a range\nwebapp\n")
        for number, (name, template) in enumerate(CONFIGURATIONS.items()):
            sections = template.replace("{scratch}", scratch)
            folder = Path(scratch) / str(number)
            folder.mkdir()
            selected = mirror_with(mine, master.url, folder / mine.key, sections)
            for theirs in upstreams:
                expected = mirror_with(theirs, master.url, folder / theirs.key, sections)
                only_theirs, only_ours = expected - selected, selected - expected
                verdict = "same" if not only_theirs and not only_ours else "DIFFERENT"
                print(f"{name} vs {theirs.label}: {verdict} ({len(expected)} files theirs, {len(selected)} ours)")
                for label, files in ((theirs.label, only_theirs), ("ours", only_ours)):
                    for filename in sorted(files):
                        print(f"  only {label}: {filename}")
                differences += bool(only_theirs or only_ours)
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
