"""Name normalization: the fast path must agree with packaging's canonicalize_name everywhere."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name

from bandersnatch.model import normalize


@pytest.mark.parametrize(
    "name",
    ["Foo", "foo-bar", "Foo--Bar", "a_b", "A.B", "a-_.b", "x-", "-x", "a---b", "Ünïcode-Démo", "ß", "İstanbul",
     "\u212a", "Django", "zope.interface", "ruamel.yaml.clib", "typing_extensions", "a"],
)  # fmt: skip
def test_normalize_agrees_with_packaging(name: str) -> None:
    assert normalize(name) == canonicalize_name(name)
