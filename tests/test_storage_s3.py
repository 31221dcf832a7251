"""The S3 backend's own promises, in process against moto's server: a re-check is a HEAD, never a
download; the lease lock refuses a store that ignores conditional writes; refusals are one line."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterator, Optional

import pytest

pytest.importorskip("boto3", reason="the S3 tests need the s3 extra: pip install -e '.[test,s3]'")
pytest.importorskip("moto.server", reason="the S3 tests need moto[server] from the test extra")

from bandersnatch.configuration import S3Settings  # noqa: E402
from bandersnatch.errors import DigestMismatch, LockHeld, StorageUnavailable  # noqa: E402
from bandersnatch.storage import s3_lock  # noqa: E402
from bandersnatch.storage.s3 import PART_SIZE, S3Storage  # noqa: E402
from bandersnatch.storage.s3_lock import Lease, PreconditionFailed  # noqa: E402
from tests.s3_server import S3Server, moto_server  # noqa: E402


@pytest.fixture(scope="module")
def moto() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


def storage_in(server: S3Server, bucket: str, **overrides: Any) -> S3Storage:
    values = dict(bucket=bucket, prefix="m", endpoint_url=server.endpoint, region_name=server.region,
                  aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key)  # fmt: skip
    return S3Storage(S3Settings(**{**values, **overrides}))


@pytest.fixture
def storage(moto: S3Server) -> S3Storage:
    return storage_in(moto, moto.new_bucket())


def test_checking_a_file_costs_one_head_and_no_download(storage: S3Storage) -> None:
    body = b"wheel bytes" * 1000
    sha = hashlib.sha256(body).hexdigest()
    storage.write_verified("packages/ab/x-1.0.whl", [body], sha, len(body))
    calls: list[str] = []
    storage._client.meta.events.register("before-call.s3", lambda model, **kwargs: calls.append(model.name))
    assert storage.file_matches("packages/ab/x-1.0.whl", sha, len(body), verify=True)
    assert not storage.file_matches("packages/ab/x-1.0.whl", "0" * 64, len(body), verify=True)
    assert calls == ["HeadObject", "HeadObject"]


def test_a_big_file_with_a_wrong_hash_leaves_no_object_and_no_upload(storage: S3Storage) -> None:
    chunks = [b"a" * (1 << 20)] * ((PART_SIZE >> 20) + 2)  # more than one part
    with pytest.raises(DigestMismatch):
        storage.write_verified("packages/ab/big.tar.gz", chunks, "0" * 64, None)
    assert storage.web_size("packages/ab/big.tar.gz") is None
    assert storage._call("list_multipart_uploads").get("Uploads", []) == []


def test_a_second_lock_is_refused_while_the_first_is_held(storage: S3Storage) -> None:
    with storage.lock():
        with pytest.raises(LockHeld, match="holds s3://"):
            with storage_in_same(storage).lock():
                pass
    with storage.lock():
        pass


def storage_in_same(storage: S3Storage) -> S3Storage:
    """A second run's view of the same bucket (another host: its own client)."""
    return S3Storage(storage.settings)


def test_a_missing_bucket_is_one_line(moto: S3Server) -> None:
    with pytest.raises(StorageUnavailable, match="bucket 'not-there' does not exist"):
        storage_in(moto, "not-there").read_state("status")


class _ForgetfulStore:
    """A store that accepts every PUT, conditions or not (some S3-compatible stores did)."""

    def __init__(self) -> None:
        self.body: Optional[bytes] = None

    def put(self, body: bytes, if_match: Optional[str] = None, if_none_match: Optional[str] = None) -> dict:
        self.body = body
        return {"ETag": "e"}

    def get(self) -> tuple[bytes, str]:
        assert self.body is not None
        return self.body, "e"

    def delete(self) -> None:
        self.body = None


def test_a_store_that_ignores_conditional_writes_is_refused_at_start() -> None:
    store = _ForgetfulStore()
    lease = Lease(store.put, store.get, store.delete, "s3://b/m/.lock")
    with pytest.raises(StorageUnavailable, match="ignores conditional writes"):
        lease.acquire()
    assert store.body is None


def test_an_expired_lease_of_another_host_is_taken_over_once() -> None:
    class Strict(_ForgetfulStore):
        def put(self, body: bytes, if_match: Optional[str] = None, if_none_match: Optional[str] = None) -> dict:
            if (if_none_match and self.body is not None) or (if_match and if_match != "e"):
                raise PreconditionFailed("lock")
            return super().put(body)

    store = Strict()
    store.body = json.dumps({"host": "elsewhere", "pid": 1, "expires": 0}).encode()
    lease = Lease(store.put, store.get, store.delete, "s3://b/m/.lock")
    lease.acquire()
    assert json.loads(store.body)["host"] != "elsewhere"
    lease.release()
    assert store.body is None


def test_a_lease_not_renewed_in_time_stops_every_write_and_is_left_to_expire(moto: S3Server) -> None:
    """Past its lease (by this run's clock) another host may own the mirror: nothing is written or
    deleted any more, and the lock object, perhaps another run's by now, is not deleted either."""
    now = [1000.0]
    storage = storage_in(moto, moto.new_bucket())
    storage.clock = lambda: now[0]
    with storage.lock():
        storage.write_state("status", "1\n")
        now[0] += s3_lock.LEASE  # no renewal reached the store in a whole lease
        for write in (lambda: storage.write_state("status", "2\n"), lambda: storage.remove_state("status"),
                      lambda: storage.write_web("simple/x/index.html", [b"x"])):  # fmt: skip
            with pytest.raises(StorageUnavailable, match="lost the lock"):
                write()
    assert storage.read_state("status") == "1\n"
    assert storage.read_state(".lock") is not None  # left to expire, never deleted blindly
