"""The INI configuration, read and validated in one place into one frozen Settings value.

Every bad value is collected and reported in one line, so an operator fixes the file once, not
once per run. Upstream bandersnatch's spellings are accepted so an existing config keeps working.
"""

from __future__ import annotations

import configparser
import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import urlsplit

from .config_values import (
    SUBSET_SECTIONS,
    boolean,
    convert,
    local_folder_problem,
    number,
    path_text,
)
from .downloads import DEFAULT_DOWNLOAD_WORKERS, MAX_DOWNLOAD_WORKERS
from .errors import ConfigError

if TYPE_CHECKING:
    from .serving import ServeSettings
    from .subset.config import SubsetSettings
    from .subset.cooldown import CooldownSettings
    from .subset.demand import DemandSettings

__all__ = ["DEFAULT_CONFIG_PATH", "S3Settings", "Settings", "default_config_text", "load_settings"]

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = "/etc/bandersnatch.conf"
MAX_WORKERS = 10

# Upstream bandersnatch [mirror] keys that change behaviour we have not built yet.
UNSUPPORTED_KEYS = frozenset(
    {
        "cleanup", "compare-method", "digest-name",
        "download-mirror", "download-mirror-no-fallback", "global-timeout", "hash-index",
        "keep-index-versions", "log-config", "proxy", "verifiers", "vm",
    }
)  # fmt: skip

# S3 bucket names (AWS's rules, which MinIO and the others follow): 3-63 of a-z 0-9 . -
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_S3_KEYS = ("endpoint-url", "region-name", "aws-access-key-id", "aws-secret-access-key", "signature-version")
_CONDITIONAL = "require-conditional-writes"  # false: a store without them (s3rver) on one host only
_CONFIG_PARAM = "config-param-"


@dataclass(frozen=True)
class S3Settings:
    """Where an S3 mirror lives and how to reach it (upstream's ``[s3]`` keys).

    Credentials left out here come from boto3's usual sources (environment, profile, instance
    role); the secret is kept out of repr so no log line or traceback can show it.
    """

    bucket: str
    prefix: str  # "" or "some/folder", no slashes at either end
    endpoint_url: Optional[str] = None
    region_name: Optional[str] = None
    aws_access_key_id: Optional[str] = None
    aws_secret_access_key: Optional[str] = field(default=None, repr=False)
    signature_version: Optional[str] = None
    config_params: tuple[tuple[str, Any], ...] = ()  # botocore.config.Config keyword arguments
    require_conditional_writes: bool = True  # false: the lock only warns on a store that ignores them


@dataclass(frozen=True)
class Settings:
    """What a run needs to know; built only by load_settings, so every field is already checked."""

    directory: Path
    master: str
    allow_non_https: bool = False
    timeout: float = 10.0
    max_metadata_size: int = 16 << 20  # bytes of one .metadata or provenance body; more is refused
    workers: int = 3  # projects whose metadata is fetched at once
    download_workers: int = DEFAULT_DOWNLOAD_WORKERS  # files (and .metadata, provenance) in flight at once
    stop_on_error: bool = False
    delete_packages: bool = True
    api_method: str = "xmlrpc"  # how changes are found: the XML-RPC changelog, the PEP 691 root, or a foreign index
    diff_file: Optional[Path] = None  # where each run lists the files it published (upstream's key)
    diff_append_epoch: bool = False
    access_log_pattern: Optional[str] = None
    simple_format: str = "ALL"  # SPEC section 6: HTML, JSON or ALL
    core_metadata: bool = True  # PEP 658 .metadata files
    json: bool = False  # web/pypi/{name}/json copies
    root_uri: str = ""  # absolute prefix for file URLs instead of relative ones
    public_url: str = ""  # the https URL the mirror is served at: fully qualified links (PEP 740)
    release_files: bool = True  # false: pages only, files stay on the master
    max_deletions: Optional[int] = None  # projects one command may delete; None: deletion_guard's default
    subset: Optional[SubsetSettings] = None  # filters and dependency closure; None: all of the master
    s3: Optional[S3Settings] = None  # storage-backend = s3: the bucket; None: the directory
    cooldown: Optional[CooldownSettings] = None  # [cooldown] (SPEC 14); None: every release at once
    metrics_file: Optional[Path] = None  # Prometheus text for node_exporter's textfile collector (local path)
    contact: str = ""  # the operator's contact, sent in the User-Agent as PyPI asks
    max_retry_after: float = 60.0  # seconds a 429/503's Retry-After may make a request wait
    serve: Optional[ServeSettings] = None  # [serve] (SPEC 16): the nginx block's fallback; None: the defaults
    demand: Optional[DemandSettings] = None  # [demand] (SPEC 16): mirror what clients ask for; None: off


def default_config_text() -> str:
    """The commented default configuration (the same text as bandersnatch.conf.example)."""
    return (Path(__file__).with_name("default.conf")).read_text(encoding="utf-8")


def _canonical(key: str) -> str:
    return key.strip().lower().replace("_", "-")


def _read(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        inline_comment_prefixes=(";", "#"), interpolation=None, default_section="__defaults__"
    )
    parser.optionxform = _canonical  # type: ignore[assignment]
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config {str(path)!r}: {error}") from None
    except configparser.Error as error:
        first_line = str(error).splitlines()[0]
        raise ConfigError(f"config {str(path)!r} is not valid INI: {first_line}") from None
    return parser


def _directory(value: str) -> Path:
    path = Path(path_text(value))
    if not path.is_absolute():
        raise ValueError("expected an absolute path")
    normal = Path(os.path.normpath(path))
    if normal == normal.parent:  # /, //, /srv/..: state files and web/ would land in the root
        raise ValueError("expected a folder of its own, not the filesystem root")
    return path


def _optional_path(value: str) -> Optional[Path]:
    return Path(path_text(value)) if value else None


def _master(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected a URL such as https://pypi.org")
    if parts.query or parts.fragment:
        raise ValueError("a master URL has no query or fragment")
    return value.rstrip("/")


def _choice(*allowed: str) -> Callable[[str], str]:
    def convert(value: str) -> str:
        if value.lower() not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value.lower()

    return convert


def _simple_format(value: str) -> str:
    if value.upper() not in ("ALL", "HTML", "JSON"):
        raise ValueError("expected ALL, HTML or JSON")
    return value.upper()


def _max_deletions(value: str) -> Optional[int]:
    """A count of projects (0: none without --allow-mass-deletion); empty: the default."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ValueError("expected a whole number of projects (0 or more)")
    return int(value)


def _contact(value: str) -> str:
    """An e-mail address or URL for the User-Agent: printable, no parentheses or semicolons (they
    would end the User-Agent's comment)."""
    if any(not char.isprintable() or char in "();\\" for char in value) or len(value) > 200:
        raise ValueError("expected an e-mail address or URL such as ops@example.org")
    return value


def _root_uri(value: str) -> str:
    return _master(value) if value else ""


def _public_url(value: str) -> str:
    """PEP 740: provenance URLs must be fully qualified, on a secure origin."""
    if value and urlsplit(value).scheme != "https":
        raise ValueError("expected the https URL the mirror is served at, such as https://mirror.example/pypi")
    return _master(value) if value else ""


_BAD = object()  # convert's default for a value it reported
_MIRROR_KEYS: dict[str, Callable[[str], object]] = {
    "directory": _directory,
    "master": _master,
    "allow-non-https": boolean,
    "timeout": number(float, 0.1, 3600),
    "max-metadata-size": number(int, 1 << 10, 1 << 30),  # a .metadata is a few KB: 16 MiB is generous
    "workers": number(int, 1, MAX_WORKERS),
    "download-workers": number(int, 1, MAX_DOWNLOAD_WORKERS),
    "stop-on-error": boolean,
    "delete-packages": boolean,
    "api-method": _choice("xmlrpc", "simple", "index"),
    "diff-file": _optional_path,
    "diff-append-epoch": boolean,
    "simple-format": _simple_format,
    "core-metadata": boolean,
    "json": boolean,
    "root-uri": _root_uri,
    "public-url": _public_url,
    "release-files": boolean,
    "storage-backend": _choice("filesystem", "s3"),
    "max-deletions": _max_deletions,
    "metrics-file": _optional_path,
    "contact": _contact,
    "max-retry-after": number(float, 0, 3600),
}


def _mirror_values(section: configparser.SectionProxy, errors: list[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for key, raw in section.items():
        if key in _MIRROR_KEYS:
            value = convert(errors, f"[mirror] {key}", raw, _MIRROR_KEYS[key], _BAD)
            if value is not _BAD:
                values[key.replace("-", "_")] = value
        elif key in UNSUPPORTED_KEYS:
            logger.warning("[mirror] %s: not supported yet, ignored", key)
        else:
            logger.warning("[mirror] %s: unknown key, ignored", key)
    for required in ("directory", "master"):
        if required not in section:
            errors.append(f"[mirror] {required} is missing")
    return values


def _config_param(raw: str) -> Any:
    """A Config argument as botocore wants it: numbers, booleans and JSON objects (``retries``)
    from their text, anything else as the string it is."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _s3_settings(parser: configparser.ConfigParser, values: dict[str, object], errors: list[str]) -> Optional[S3Settings]:
    """``directory = /BUCKET/PREFIX`` and the [s3] section, as upstream bandersnatch reads them."""
    section = parser["s3"] if parser.has_section("s3") else {}
    directory = values.get("directory")
    bucket, _, prefix = str(directory or "").strip("/").partition("/")
    if isinstance(directory, Path) and not _BUCKET.match(bucket):
        errors.append(f"[mirror] directory = {str(directory)!r}: with storage-backend = s3, expected /BUCKET/PREFIX")
    endpoint = str(section.get("endpoint-url", "")).strip()
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        errors.append(f"[s3] endpoint_url = {endpoint!r}: expected a URL such as https://s3.example.com")
    diff_file = values.get("diff_file")
    if isinstance(diff_file, Path) and not diff_file.is_absolute():
        errors.append(f"[mirror] diff-file = {str(diff_file)!r}: with storage-backend = s3, expected an absolute path")
    metrics_file = values.get("metrics_file")
    if isinstance(metrics_file, Path) and not metrics_file.is_absolute():
        errors.append(
            f"[mirror] metrics-file = {str(metrics_file)!r}: with storage-backend = s3, expected an absolute local path"
        )
    for key in section:
        if key not in (*_S3_KEYS, _CONDITIONAL) and not key.startswith(_CONFIG_PARAM):
            logger.warning("[s3] %s: unknown key, ignored", key)
    known = {key.replace("-", "_"): str(section[key]).strip() or None for key in _S3_KEYS if key in section}
    params = tuple(
        (key[len(_CONFIG_PARAM) :].replace("-", "_"), _config_param(str(raw).strip()))
        for key, raw in section.items()
        if key.startswith(_CONFIG_PARAM)
    )
    try:
        conditional = boolean(str(section.get(_CONDITIONAL, "true")).strip())
    except ValueError as error:
        errors.append(f"[s3] {_CONDITIONAL}: {error}")
    if errors:
        return None
    return S3Settings(
        bucket=bucket, prefix=prefix.strip("/"), config_params=params, require_conditional_writes=conditional, **known
    )


def _subset(
    parser: configparser.ConfigParser, base: Path, errors: list[str], demand: bool = False
) -> Optional[SubsetSettings]:
    """The filter sections, read only where there are some: packaging's parsers cost a no-op cron
    run a sixth of its time. ``demand``: [demand] is on, so the roots may be empty (what clients
    ask for is added to them)."""
    if not SUBSET_SECTIONS & set(parser.sections()):
        return None
    from .subset.config import read_subset_settings

    return read_subset_settings(parser, base, errors, demand=demand)


def _serve(parser: configparser.ConfigParser, errors: list[str]) -> Optional[ServeSettings]:
    """[serve], read only where there is one: only `nginx-config` uses it."""
    if not parser.has_section("serve"):
        return None
    from .serving import read_serve_settings

    return read_serve_settings(parser, errors)


def _demand(parser: configparser.ConfigParser, errors: list[str]) -> Optional[DemandSettings]:
    """[demand], read only where there is one; None unless enabled."""
    if not parser.has_section("demand"):
        return None
    from .subset.demand import read_demand_settings

    settings = read_demand_settings(parser, errors)
    return settings if settings is not None and settings.enabled else None


def _cooldown(parser: configparser.ConfigParser, errors: list[str]) -> Optional[CooldownSettings]:
    """[cooldown], read only where there is one (its module imports packaging, as the filters)."""
    if not parser.has_section("cooldown"):
        return None
    from .subset.cooldown import read_cooldown_settings

    settings = read_cooldown_settings(parser, errors)
    return settings if settings is not None and settings.enabled else None  # exempt alone holds nothing


def _local_paths(values: dict[str, object], errors: list[str]) -> None:
    """A filesystem mirror's folder must be one (or not exist yet), and its diff-file a file, so that
    the operator hears it now rather than as an OSError after the run has changed the mirror."""
    directory, diff_file = values.get("directory"), values.get("diff_file")
    if isinstance(directory, Path):
        problem = local_folder_problem(directory)
        if problem:
            errors.append(f"[mirror] directory = {str(directory)!r}: {problem}")
    if isinstance(directory, Path) and isinstance(diff_file, Path):
        target = directory / diff_file
        if os.path.isdir(target):
            errors.append(f"[mirror] diff-file = {str(diff_file)!r}: {str(target)!r} is a folder, not a file")
        elif local_folder_problem(target.parent):
            errors.append(f"[mirror] diff-file = {str(diff_file)!r}: {local_folder_problem(target.parent)}")


def load_settings(path: Path) -> Settings:
    """Read and check the config at ``path``; raise ConfigError naming every bad value at once."""
    parser = _read(path)
    for section in parser.sections():
        if section not in ("mirror", "statistics", "s3", "cooldown", "serve", "demand", *SUBSET_SECTIONS):
            logger.warning("[%s]: unknown section, ignored", section)
    if not parser.has_section("mirror"):
        raise ConfigError(f"config {str(path)!r} has no [mirror] section")
    errors: list[str] = []
    values = _mirror_values(parser["mirror"], errors)
    demand = _demand(parser, errors)
    subset = _subset(parser, path.parent, errors, demand is not None)
    serve = _serve(parser, errors)
    cooldown = _cooldown(parser, errors)
    s3 = _s3_settings(parser, values, errors) if values.pop("storage_backend", None) == "s3" else None
    if s3 is None:
        _local_paths(values, errors)
    master = values.get("master")
    if isinstance(master, str) and master.startswith("http:") and not values.get("allow_non_https"):
        errors.append(f"[mirror] master = {master!r}: https only, unless allow-non-https = true")
    if errors:
        raise ConfigError(f"config {str(path)!r}: " + "; ".join(errors))
    pattern = parser.get("statistics", "access-log-pattern", fallback=None)
    pattern = pattern.strip() if pattern else None
    diff_file = values.get("diff_file")
    if isinstance(diff_file, Path) and isinstance(values.get("directory"), Path):
        values["diff_file"] = values["directory"] / diff_file  # type: ignore[operator]  # relative: in directory
    metrics_file = values.get("metrics_file")
    if isinstance(metrics_file, Path) and isinstance(values.get("directory"), Path):
        values["metrics_file"] = values["directory"] / metrics_file  # type: ignore[operator]  # as diff-file
    if demand is not None and not demand.access_log_pattern:
        demand = dataclasses.replace(demand, access_log_pattern=pattern or "")  # as [statistics]
        if not demand.access_log_pattern:
            raise ConfigError(f"config {str(path)!r}: [demand] needs access-log-pattern (here or in [statistics])")
    return Settings(
        **values, access_log_pattern=pattern or None, subset=subset, s3=s3, cooldown=cooldown,  # type: ignore[arg-type]
        serve=serve, demand=demand,
    )  # fmt: skip
