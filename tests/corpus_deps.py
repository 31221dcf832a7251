"""A dependency-graph corpus on a PyPIMaster, for subset-mirror tests (SPEC section 9).

Real wheels whose METADATA carries Requires-Dist, with platform tags for each environment the
[dependencies] section names, prereleases, and markers on sys_platform, python_version and
extras, so a test can check that the closure keeps exactly what pip and uv would need.
"""

from __future__ import annotations

from .pypi_master import FileSpec, PyPIMaster, _stem, make_sdist, make_wheel

__all__ = ["DEPENDENCY_CORPUS", "PLATFORM_TAGS", "add_dependency_corpus"]

PLATFORM_TAGS = (
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "musllinux_1_1_x86_64",
    "win_amd64",
    "macosx_11_0_arm64",
    "macosx_10_9_x86_64",
)

# project: {version: (binary?, Requires-Dist)}; binary projects get cp311/cp312 wheels for every
# platform tag, the others a pure wheel. Every release also has an sdist.
DEPENDENCY_CORPUS: dict[str, dict[str, tuple[bool, tuple[str, ...]]]] = {
    "webapp": {
        "1.0": (False, ("framework>=2", 'colorama; sys_platform == "win32"',
                        'backport; python_version < "3.12"', 'fastjson; extra == "speed"')),
        "2.0b1": (False, ("framework>=3.0b1",)),
    },
    "framework": {
        "1.0": (False, ()),
        "2.0": (True, ("helpers[crypto]~=1.1",)),
        "3.0b1": (True, ("helpers>=2",)),
    },
    "helpers": {
        "1.0": (False, ()),
        "1.2": (False, ('cryptolib; extra == "crypto"', 'tomli; python_version < "3.11"')),
        "2.0": (False, ("webapp",)),  # a cycle back to the root
    },
    "cryptolib": {"41.0": (True, ())},
    "colorama": {"0.4.6": (False, ())},
    "backport": {"1.0": (False, ())},
    "fastjson": {"3.0": (True, ())},
    "tomli": {"2.0": (False, ())},
    "unrelated": {"1.0": (False, ())},
}


def add_dependency_corpus(master: PyPIMaster) -> None:
    """Publish DEPENDENCY_CORPUS on ``master`` (deterministic bytes)."""
    for name, releases in DEPENDENCY_CORPUS.items():
        for version, (binary, requires) in releases.items():
            stem = f"{_stem(name)}-{version}"
            tags = [f"{py}-{py}-{platform}" for py in ("cp311", "cp312") for platform in PLATFORM_TAGS]
            specs = [
                FileSpec(f"{stem}-{tag}.whl", content=make_wheel(name, version, tag=tag, requires_dist=requires))
                for tag in (tags if binary else ["py3-none-any"])
            ]
            specs.append(FileSpec(f"{stem}.tar.gz", content=make_sdist(name, version)))
            master.add_release(name, version, specs)
