"""A path under web/packages/ belongs to the project that published it first: another project's
page that names it is that project's error, never a reason to overwrite or delete the file."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from tests.conftest import MirrorSetup, sha256_of
from tests.pypi_master import PyPIMaster


def _victim(pypi: PyPIMaster, mirror: MirrorSetup) -> tuple[dict, str]:
    pypi.add_release("victim", "1.0")
    assert mirror.run().returncode == 0
    (sdist,) = [f for f in pypi.files("victim") if f["filename"].endswith(".tar.gz")]
    return sdist, urlsplit(sdist["url"]).path[1:]


def test_a_page_naming_another_projects_file_is_refused_and_the_file_kept(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    sdist, path = _victim(pypi, mirror)
    before = sha256_of(mirror.web / path)
    elsewhere = urlunsplit(urlsplit(sdist["url"])._replace(netloc="127.0.0.1:9"))  # other bytes, same path
    pypi.add_raw_file("evil", "1.0", filename=sdist["filename"], url=elsewhere, content=b"not the victim's bytes")
    pypi.add_release("bystander", "1.0")
    result = mirror.run()
    assert result.returncode == 1
    assert f"evil lists {path}, which belongs to project victim; refusing it" in result.stderr
    assert "Traceback" not in result.stderr
    assert sha256_of(mirror.web / path) == before == sdist["digests"]["sha256"]
    assert not (mirror.web / "simple" / "evil").exists()
    assert (mirror.web / "simple" / "bystander" / "index.html").exists()  # the others keep syncing
    assert "evil" in (mirror.todo() or "")  # owed, reported, retried


def test_a_copy_of_another_projects_file_cannot_be_used_to_delete_it(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    sdist, path = _victim(pypi, mirror)
    content = (mirror.web / path).read_bytes()
    pypi.add_raw_file("copycat", "1.0", filename=sdist["filename"], url=sdist["url"], content=content)
    pypi.add_release("copycat", "2.0")
    assert mirror.run().returncode == 1  # the claim on victim's path is refused whatever its bytes
    pypi.remove_project("copycat")
    mirror.run()
    assert sha256_of(mirror.web / path) == sdist["digests"]["sha256"]
    assert mirror.run("verify", "--hash").returncode == 0
