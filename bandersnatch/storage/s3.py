"""The mirror in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...): the same tree under a prefix.

An object appears whole when its PUT (or multipart upload) completes, so no temporary names are
needed: a release file streams into a multipart upload while it is hashed, and the upload is
completed only when size and sha256 match, aborted on every other path. Each object carries its
sha256 as metadata, so checking a file costs one HEAD and never a download. Pages carry the
Content-Type nginx passes on (text/html, application/vnd.pypi.simple.v1+json). The journal, which
a filesystem appends to, is one small object per batch here (objects cannot be appended to).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import mimetypes
import time
import uuid
from typing import IO, Any, Callable, Iterable, Iterator, Optional

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..configuration import S3Settings
from ..errors import StorageUnavailable
from ..pages.layout import media_type
from .base import HASH_CHUNK, Storage, check_digest, safe_relative
from .s3_lock import Lease, PreconditionFailed

__all__ = ["PART_SIZE", "S3Storage"]

logger = logging.getLogger(__name__)

PART_SIZE = 8 << 20  # multipart above this; memory holds one part, whatever the file's size
SHA256 = "sha256"  # the object metadata key (x-amz-meta-sha256)
LOCK, JOURNAL_SUFFIX = ".lock", ".d"
DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_REFUSED = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "ExpiredToken"})


def _content_type(relative: str) -> str:
    """The page and provenance types come from the map of web/ (layout); files by their name."""
    name = relative.rsplit("/", 1)[-1]
    return media_type(relative) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _config(settings: S3Settings) -> Config:
    """Retries with backoff for throttling, 5xx and dropped connections (botocore's standard mode);
    checksums only where S3 requires them, because several S3-compatible stores reject the newer
    ones. ``[s3] config_param_*`` overrides any of it."""
    defaults: dict[str, Any] = {
        "retries": {"max_attempts": 8, "mode": "standard"},
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        "max_pool_connections": 32,
    }
    if settings.signature_version:
        defaults["signature_version"] = settings.signature_version
    return Config(**{**defaults, **dict(settings.config_params)})


class S3Storage(Storage):
    """The mirror under ``s3://BUCKET/PREFIX/``: state objects at the top, the published tree under web/."""

    def __init__(self, settings: S3Settings, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock  # the lease's: when this run may no longer trust that it holds the lock
        self.bucket = settings.bucket
        self._prefix = f"{settings.prefix}/" if settings.prefix else ""
        self._lease: Optional[Lease] = None  # held while lock() is: writes stop once it is lost

    @functools.cached_property
    def _client(self) -> Any:
        """Made on first use: a run that fails on its config never touches boto3's credential chain."""
        settings = self.settings
        return boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region_name,
            aws_access_key_id=settings.aws_access_key_id,
            aws_secret_access_key=settings.aws_secret_access_key,
            config=_config(settings),
        )

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self._prefix}"

    def state_location(self, name: str) -> str:
        return f"{self.location}{name}"

    def web_location(self, relative: str) -> str:
        return f"{self.location}{self._web_key(relative)[len(self._prefix):]}"

    def _web_key(self, relative: str) -> str:
        return f"{self._prefix}web/{safe_relative(relative)}"

    def _call(self, operation: str, **kwargs: Any) -> Any:
        """One S3 call, its failures classified at the edge: a missing key is FileNotFoundError, a
        failed condition PreconditionFailed, anything else one line naming the store's answer."""
        try:
            return getattr(self._client, operation)(Bucket=self.bucket, **kwargs)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            key = kwargs.get("Key", kwargs.get("Prefix", ""))
            if code in _MISSING:
                raise FileNotFoundError(f"s3://{self.bucket}/{key}") from None
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise PreconditionFailed(key) from None
            if code == "NoSuchBucket":
                raise StorageUnavailable(f"bucket {self.bucket!r} does not exist; check [mirror] directory") from None
            if code in _REFUSED:
                raise StorageUnavailable(
                    f"the object store refused access to s3://{self.bucket}/ ({code}); check the [s3] credentials"
                ) from None
            raise StorageUnavailable(f"S3 {operation} s3://{self.bucket}/{key} failed: {code} {error}") from None
        except BotoCoreError as error:  # no credentials, or the endpoint unreachable after retries
            raise StorageUnavailable(f"cannot use the object store for s3://{self.bucket}/: {error}") from None

    # -- writing ---------------------------------------------------------------------------------

    def _upload(self, key: str, chunks: Iterable[bytes], expect: Optional[tuple[str, Optional[int]]]) -> int:
        """Store ``chunks`` at ``key``; with ``expect`` (sha256, size) only if they match it. One PUT
        up to PART_SIZE, a multipart upload beyond, completed only after the checks."""
        self._guard()
        digest, buffer, written = hashlib.sha256(), bytearray(), 0
        upload: Optional[_Multipart] = None
        extra = {"ContentType": _content_type(key)}
        try:
            for chunk in chunks:
                digest.update(chunk)
                buffer += chunk
                written += len(chunk)
                if len(buffer) >= PART_SIZE:
                    metadata = {SHA256: expect[0].lower()} if expect else {}
                    upload = upload or _Multipart(self, key, {**extra, "Metadata": metadata})
                    upload.add(bytes(buffer))
                    buffer.clear()
            if expect:
                check_digest(key, digest.hexdigest(), written, expect[0], expect[1])
            if upload is None:
                self._call("put_object", Key=key, Body=bytes(buffer), Metadata={SHA256: digest.hexdigest()}, **extra)
            else:
                if buffer:
                    upload.add(bytes(buffer))
                upload.complete()
        finally:
            if upload is not None:
                upload.abort_unless_complete()
        return written

    def write_web(self, relative: str, chunks: Iterable[bytes]) -> None:
        self._upload(self._web_key(relative), chunks, None)
        self._announce(relative)

    def write_verified(self, relative: str, chunks: Iterable[bytes], sha256: str, size: Optional[int]) -> int:
        written = self._upload(self._web_key(relative), chunks, (sha256, size))
        self._announce(relative)
        return written

    # -- reading ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def open_web(self, relative: str) -> Iterator[IO[bytes]]:
        body = self._call("get_object", Key=self._web_key(relative))["Body"]
        try:
            yield body
        finally:
            body.close()

    def _head(self, relative: str) -> Optional[dict[str, Any]]:
        try:
            return self._call("head_object", Key=self._web_key(relative))  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None

    def file_matches(self, relative: str, sha256: str, size: Optional[int], verify: bool) -> bool:
        """One HEAD: the size, and the sha256 the object was stored with. An object some other tool
        uploaded, without that metadata, is read and hashed once."""
        head = self._head(relative)
        if head is None or (size is not None and head["ContentLength"] != size):
            return False
        if not verify:
            return True
        stored = head.get("Metadata", {}).get(SHA256)
        if stored:
            return bool(stored == sha256.lower())
        digest = hashlib.sha256()
        with self.open_web(relative) as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
        return digest.hexdigest() == sha256.lower()

    def web_size(self, relative: str) -> Optional[int]:
        head = self._head(relative)
        return None if head is None else int(head["ContentLength"])

    def mtime_ns(self, relative: str) -> Optional[int]:
        head = self._head(relative)
        return None if head is None else int(head["LastModified"].timestamp() * 1_000_000_000)

    def web_exists(self, relative: str) -> bool:
        """A file, or a folder: in a bucket, a folder exists while some key lies below it."""
        if self._head(relative) is not None:
            return True
        found = self._call("list_objects_v2", Prefix=self._web_key(relative) + "/", MaxKeys=1)
        return bool(found.get("KeyCount", 0))

    def _pages(self, prefix: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        token: dict[str, str] = {}
        while True:
            page = self._call("list_objects_v2", Prefix=prefix, **kwargs, **token)
            yield page
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def list_web_dirs(self, relative: str) -> list[str]:
        prefix = self._web_key(relative) + "/"
        names = (
            entry["Prefix"][len(prefix) :].rstrip("/")
            for page in self._pages(prefix, Delimiter="/")
            for entry in page.get("CommonPrefixes", ())
        )
        return [name for name in names if name and not name.startswith(".")]

    def _keys(self, prefix: str) -> Iterator[str]:
        for page in self._pages(prefix):
            yield from (entry["Key"] for entry in page.get("Contents", ()))

    def iter_files(self, relative: str) -> Iterator[str]:
        web = f"{self._prefix}web/"
        for key in self._keys(self._web_key(relative) + "/"):
            path = key[len(web) :]
            if not any(part.startswith(".") for part in path.split("/")):
                yield path

    def is_empty(self) -> bool:
        return all(key == self._prefix + LOCK for key in self._keys(self._prefix))

    # -- removal -----------------------------------------------------------------------------------

    def remove_web_file(self, relative: str) -> None:
        self._guard()
        self._call("delete_object", Key=self._web_key(relative))

    def remove_web_tree(self, relative: str) -> None:
        self._delete_all(self._web_key(relative) + "/")

    def _delete_all(self, prefix: str) -> None:
        self._guard()
        batch: list[dict[str, str]] = []
        for key in self._keys(prefix):
            batch.append({"Key": key})
            if len(batch) == DELETE_BATCH:
                self._call("delete_objects", Delete={"Objects": batch, "Quiet": True})
                batch = []
        if batch:
            self._call("delete_objects", Delete={"Objects": batch, "Quiet": True})

    # -- state objects -------------------------------------------------------------------------------

    def _state_key(self, name: str) -> str:
        return self._prefix + safe_relative(name)

    def read_state(self, name: str) -> Optional[str]:
        try:
            body = self._call("get_object", Key=self._state_key(name))["Body"]
        except FileNotFoundError:
            return None
        with contextlib.closing(body):
            return str(body.read().decode("utf-8", "replace"))

    def write_state(self, name: str, text: str) -> None:
        self._upload(self._state_key(name), [text.encode("utf-8")], None)

    def remove_state(self, name: str) -> None:
        self._guard()
        self._call("delete_object", Key=self._state_key(name))

    def append_journal(self, name: str, lines: list[str]) -> None:
        """A batch is its own object, named so that batches list in the order they were written."""
        batch = f"{self._state_key(name)}{JOURNAL_SUFFIX}/{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        self._upload(batch, ["".join(f"{line}\n" for line in lines).encode("utf-8")], None)

    def read_journal(self, name: str) -> Optional[str]:
        batches = []
        for key in self._keys(f"{self._state_key(name)}{JOURNAL_SUFFIX}/"):
            with contextlib.suppress(FileNotFoundError), contextlib.closing(self._call("get_object", Key=key)["Body"]) as body:
                batches.append(body.read().decode("utf-8", "replace"))
        return "".join(batches) if batches else None

    def clear_journal(self, name: str) -> None:
        self._delete_all(f"{self._state_key(name)}{JOURNAL_SUFFIX}/")

    # -- the lock ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The lease lock (s3_lock). Once held, every unfinished multipart upload under the prefix
        belongs to a run that died: it is aborted, so none is left to cost storage."""
        key = self._prefix + LOCK

        def put(body: bytes, if_match: Optional[str] = None, if_none_match: Optional[str] = None) -> Any:
            condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": if_none_match} if if_none_match else {}
            return self._call("put_object", Key=key, Body=body, ContentType="application/json", **condition)

        def get() -> tuple[bytes, str]:
            response = self._call("get_object", Key=key)
            with contextlib.closing(response["Body"]) as body:
                return body.read(), response["ETag"]

        lease = Lease(
            put, get, lambda: self._call("delete_object", Key=key), self.state_location(LOCK),
            clock=self.clock, require_conditional=self.settings.require_conditional_writes,
        )  # fmt: skip
        lease.acquire()
        self._lease = lease
        try:
            self._abort_leftover_uploads()
            yield
        finally:
            self._lease = None
            lease.release()

    def _guard(self) -> None:
        """No write once the lease is lost: another run may own the mirror by now."""
        if self._lease is not None and not self._lease.held:
            raise StorageUnavailable(
                f"lost the lock {self.state_location(LOCK)} (not renewed in time, or taken over); "
                "stopping so that two runs never write the mirror at once"
            )

    def _abort_leftover_uploads(self) -> None:
        try:
            found = self._call("list_multipart_uploads", Prefix=self._prefix)
        except StorageUnavailable as error:  # s3rver and a few others do not list uploads
            logger.info("Cannot look for unfinished uploads (%s)", error)
            return
        for upload in found.get("Uploads", ()):
            logger.info("Aborting the unfinished upload of %s, left by a run that died", upload["Key"])
            self._call("abort_multipart_upload", Key=upload["Key"], UploadId=upload["UploadId"])


class _Multipart:
    """One multipart upload: parts in order, completed once, aborted otherwise."""

    def __init__(self, storage: S3Storage, key: str, extra: dict[str, Any]) -> None:
        self.storage, self.key = storage, key
        self.upload_id = storage._call("create_multipart_upload", Key=key, **extra)["UploadId"]
        self.parts: list[dict[str, Any]] = []
        self.completed = False

    def add(self, data: bytes) -> None:
        number = len(self.parts) + 1
        response = self.storage._call(
            "upload_part", Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        self.parts.append({"ETag": response["ETag"], "PartNumber": number})

    def complete(self) -> None:
        self.storage._call(
            "complete_multipart_upload", Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )
        self.completed = True

    def abort_unless_complete(self) -> None:
        if not self.completed:
            with contextlib.suppress(Exception):  # the first failure is the one worth reporting
                self.storage._call("abort_multipart_upload", Key=self.key, UploadId=self.upload_id)
