"""The mirror in a bucket: the real command against moto's S3 server (and s3rver where npm installed
it) on loopback, with the same checks as on the filesystem."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import (
    ROOT,
    assert_mirror_matches,
    bandersnatch_command,
    master_tree,
)
from tests.pypi_master import FileSpec, PyPIMaster, generate_corpus

pytest.importorskip("boto3", reason="the S3 tests need the s3 extra: pip install -e '.[test,s3]'")
pytest.importorskip("moto.server", reason="the S3 tests need moto[server] from the test extra")

from tests.s3_server import S3Server, moto_server, s3rver_binary, s3rver_server, tree  # noqa: E402

PREFIX = "pypi"


@pytest.fixture(scope="module")
def moto() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


@dataclass
class BucketMirror:
    """A mirror in a fresh bucket, and the config that says so."""

    server: S3Server
    bucket: str
    config: Path
    local: Path  # where the tests copy the bucket to look at it

    def write_config(self, master: str, extra: str = "", prefix: str = PREFIX) -> None:
        text = self.server.config_lines(self.bucket, prefix).replace(
            "[mirror]\n", f"[mirror]\nmaster = {master}\nallow-non-https = true\ntimeout = 5\nworkers = 3\n{extra}", 1
        )
        self.config.write_text(text, encoding="utf-8")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            bandersnatch_command() + ["-c", str(self.config), *(args or ("mirror",))], capture_output=True,
            text=True, timeout=180, cwd=ROOT, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def synced(self, *args: str) -> subprocess.CompletedProcess:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result

    def copy(self) -> dict[str, dict]:
        """The bucket's objects under the prefix, copied to ``local`` afresh; their heads."""
        if self.local.exists():
            subprocess.run(["rm", "-rf", str(self.local)], check=True)
        return tree(self.server, self.bucket, PREFIX, self.local)

    def state(self, name: str) -> str | None:
        try:
            return self.server.client().get_object(Bucket=self.bucket, Key=f"{PREFIX}/{name}")["Body"].read().decode()
        except Exception:  # noqa: BLE001 - NoSuchKey
            return None

    def keys(self, under: str) -> list[str]:
        found = self.server.client().list_objects_v2(Bucket=self.bucket, Prefix=f"{PREFIX}/{under}")
        return [entry["Key"] for entry in found.get("Contents", ())]

    def unfinished_uploads(self) -> list:
        return self.server.client().list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])


@pytest.fixture
def bucket_mirror(moto: S3Server, pypi: PyPIMaster, tmp_path: Path) -> BucketMirror:
    setup = BucketMirror(moto, moto.new_bucket(), tmp_path / "bandersnatch.conf", tmp_path / "copy")
    setup.write_config(pypi.url)
    return setup


def test_sync_into_a_bucket_then_a_noop_run(pypi: PyPIMaster, bucket_mirror: BucketMirror) -> None:
    generate_corpus(pypi, 8, seed=21)
    pypi.add_release("big-one", "1.0", [FileSpec("big_one-1.0.tar.gz", size=9 << 20)])  # a multipart upload
    bucket_mirror.synced()
    heads = bucket_mirror.copy()
    assert_mirror_matches(bucket_mirror.local / "web", pypi)
    assert bucket_mirror.state("status") == f"{pypi.serial}\n" and bucket_mirror.state("todo") is None
    assert heads["web/simple/index.html"]["ContentType"] == "text/html"
    assert heads["web/simple/big-one/index.v1_json"]["ContentType"] == "application/vnd.pypi.simple.v1+json"
    for path, sha in {p: s for files in master_tree(pypi).values() for p, s in files.items()}.items():
        assert heads[f"web/{path}"]["Metadata"]["sha256"] == sha, path  # a re-check is one HEAD
    assert bucket_mirror.unfinished_uploads() == []
    pypi.clear_log()
    assert "Nothing to do" in bucket_mirror.synced().stderr
    assert pypi.requests == [("POST", "/pypi")]


def test_a_corrupt_big_file_is_never_published_nor_left_half_uploaded(
    pypi: PyPIMaster, bucket_mirror: BucketMirror
) -> None:
    pypi.add_release("big-one", "1.0", [FileSpec("big_one-1.0.tar.gz", size=17 << 20)])
    pypi.corrupt("/packages/", times=None)
    result = bucket_mirror.run()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert bucket_mirror.keys("web/packages/") == [] and bucket_mirror.unfinished_uploads() == []
    pypi.clear_faults()
    bucket_mirror.synced()
    bucket_mirror.copy()
    assert_mirror_matches(bucket_mirror.local / "web", pypi)


def test_deletions_reach_the_bucket(pypi: PyPIMaster, bucket_mirror: BucketMirror) -> None:
    generate_corpus(pypi, 6, seed=22, files_per_project=(2, 3))
    bucket_mirror.synced()
    projects = sorted(pypi.projects())
    pypi.remove_project(projects[0])
    pypi.remove_file(projects[1], pypi.files(projects[1])[0]["filename"])
    bucket_mirror.synced()
    bucket_mirror.copy()
    assert_mirror_matches(bucket_mirror.local / "web", pypi)


def test_sigkill_then_resume_refetches_no_finished_project(pypi: PyPIMaster, bucket_mirror: BucketMirror) -> None:
    generate_corpus(pypi, 30, seed=23, files_per_project=(2, 3))
    bucket_mirror.write_config(pypi.url, "download-workers = 4\n")
    pypi.slow("/packages/", 0.3)  # 4 files in flight: several journal batches before the kill
    process = subprocess.Popen(
        bandersnatch_command() + ["-c", str(bucket_mirror.config), "mirror"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while len(bucket_mirror.keys("todo.done.d/")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = [line.split()[0] for key in bucket_mirror.keys("todo.done.d/") for line in bucket_mirror.state(key[len(PREFIX) + 1 :]).splitlines()]
    assert 1 <= len(done) < 30
    pypi.clear_faults()
    pypi.clear_log()
    result = bucket_mirror.synced()
    assert "Took over" in result.stderr  # the killed run's lock: its process is gone from this host
    bucket_mirror.copy()
    assert_mirror_matches(bucket_mirror.local / "web", pypi)
    assert [name for name in done if pypi.metadata_requests(name)] == []
    assert bucket_mirror.keys("todo.done.d/") == [] and bucket_mirror.state("todo") is None


def _lock_object(bucket_mirror: BucketMirror, expires: float) -> None:
    body = json.dumps({"host": "elsewhere", "pid": 4242, "expires": expires})
    bucket_mirror.server.client().put_object(Bucket=bucket_mirror.bucket, Key=f"{PREFIX}/.lock", Body=body)


def test_a_live_lock_on_any_host_keeps_a_second_run_out(pypi: PyPIMaster, bucket_mirror: BucketMirror) -> None:
    generate_corpus(pypi, 2, seed=24)
    _lock_object(bucket_mirror, time.time() + 100)
    result = bucket_mirror.run()
    assert result.returncode == 3, result.stderr
    assert "another bandersnatch run (elsewhere pid 4242) holds" in result.stderr
    assert bucket_mirror.keys("web/") == []
    _lock_object(bucket_mirror, time.time() - 1)  # that run died: its lease ran out
    assert "Took over" in bucket_mirror.synced().stderr
    assert bucket_mirror.keys(".lock") == []


def test_verify_finds_and_repairs_a_missing_and_a_damaged_object(pypi: PyPIMaster, bucket_mirror: BucketMirror) -> None:
    generate_corpus(pypi, 4, seed=25, files_per_project=(2, 2))
    bucket_mirror.synced()
    assert bucket_mirror.synced("verify", "--hash").stdout.endswith("no problems\n")
    files = sorted(key for key in bucket_mirror.keys("web/packages/") if not key.endswith(".metadata"))
    client = bucket_mirror.server.client()
    client.delete_object(Bucket=bucket_mirror.bucket, Key=files[0])
    client.put_object(Bucket=bucket_mirror.bucket, Key=files[1], Body=b"x" * 3)
    client.put_object(Bucket=bucket_mirror.bucket, Key=f"{PREFIX}/web/packages/stray.whl", Body=b"orphan")
    report = bucket_mirror.run("verify", "--json")
    assert report.returncode == 1, report.stderr
    kinds = {(p["kind"], p["path"]) for p in json.loads(report.stdout)["problems"]}
    assert kinds == {("missing", files[0][len(PREFIX) + 5 :]), ("size", files[1][len(PREFIX) + 5 :]),
                     ("orphan", "packages/stray.whl")}  # fmt: skip
    bucket_mirror.synced("verify", "--repair", "--delete")
    bucket_mirror.copy()
    assert_mirror_matches(bucket_mirror.local / "web", pypi)


def test_a_missing_bucket_is_one_line_and_exit_1(pypi: PyPIMaster, bucket_mirror: BucketMirror) -> None:
    bucket_mirror.bucket = "no-such-bucket-here"
    bucket_mirror.write_config(pypi.url)
    result = bucket_mirror.run()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert errors[0].endswith("ERROR: bucket 'no-such-bucket-here' does not exist; check [mirror] directory")


def test_s3rver_holds_a_synced_mirror_too(pypi: PyPIMaster, tmp_path: Path) -> None:
    binary = s3rver_binary()
    if binary is None:
        pytest.skip("s3rver is not installed (.ci/run installs it with npm into .ci/node_modules)")
    with s3rver_server(binary) as server:
        setup = BucketMirror(server, server.new_bucket(), tmp_path / "b.conf", tmp_path / "copy")
        setup.write_config(pypi.url)
        generate_corpus(pypi, 5, seed=26)
        refused = setup.run()  # s3rver ignores If-None-Match: the lock says so before anything is written
        assert refused.returncode == 1 and "ignores conditional writes" in refused.stderr
        assert "Traceback" not in refused.stderr and setup.keys("") == []
        setup.write_config(pypi.url, "")
        setup.config.write_text(setup.config.read_text() + "require_conditional_writes = false\n")
        assert "the lock cannot keep out a run on another host" in setup.synced().stderr
        setup.copy()
        assert_mirror_matches(setup.local / "web", pypi)


def test_nginx_serves_the_bucket_with_the_readme_block_and_pip_and_uv_install(
    pypi: PyPIMaster, bucket_mirror: BucketMirror, tmp_path: Path
) -> None:
    import shutil
    import sys

    import requests

    from tests.nginx import nginx_binary, serving_bucket
    from tests.test_serving import clean_env

    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (CI's .ci/run installs nginx-light)")
    pypi.add_release("serving-demo", "1.0")
    pypi.add_release("serving-sdist", "1.0", [FileSpec("serving_sdist-1.0.tar.gz")])
    bucket_mirror.synced()
    web_path = f"/{bucket_mirror.bucket}/{PREFIX}/web"
    public_web = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                  "Resource": f"arn:aws:s3:::{bucket_mirror.bucket}/{PREFIX}/web/*"}  # the README's policy
    bucket_mirror.server.client().put_bucket_policy(
        Bucket=bucket_mirror.bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [public_web]})
    )
    with serving_bucket(binary, bucket_mirror.server.endpoint, web_path, tmp_path / "nginx") as served:
        html = requests.get(f"{served.url}/simple/serving-demo/", timeout=10)
        assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
        assert html.headers["Vary"] == "Accept" and "Links for serving-demo" in html.text
        as_json = requests.get(
            f"{served.url}/simple/serving-demo/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=10
        )
        assert as_json.headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
        assert as_json.json()["name"] == "serving-demo"
        assert requests.get(f"{served.url}/simple/", timeout=10).text.count("<a href=") == 2
        assert requests.get(f"{served.url}/simple/no-such-project/", timeout=10).status_code == 404
        assert requests.get(f"{served.url}/../status", timeout=10).status_code in (400, 404)  # state stays private
        index = f"{served.url}/simple/"
        pip = subprocess.run(
            [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir", "download",
             "--no-deps", "-d", str(tmp_path / "pip"), "--index-url", index, "serving-demo", "serving-sdist"],
            capture_output=True, text=True, timeout=300, env=clean_env(),
        )  # fmt: skip
        assert pip.returncode == 0, pip.stdout + pip.stderr
        assert sorted(path.name for path in (tmp_path / "pip").iterdir()) == [
            "serving_demo-1.0-py3-none-any.whl", "serving_sdist-1.0.tar.gz"
        ]  # fmt: skip
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
        if uv:
            target = tmp_path / "uv-target"
            installed = subprocess.run(
                [uv, "pip", "install", "--no-config", "--no-cache", "--python", sys.executable, "--target",
                 str(target), "--index-url", index, "serving-demo"],
                capture_output=True, text=True, timeout=300, env=clean_env(),
            )  # fmt: skip
            assert installed.returncode == 0, installed.stderr
            assert any(path.name.startswith("serving_demo") for path in target.iterdir())
