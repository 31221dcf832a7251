"""nginx serving a mirror's web/ with the README's own server block, for the end-to-end tests.

The block users copy from README.md is what runs: it is parsed out of the README, only its
site-specific values are replaced (listen -> a free loopback port, root -> the mirror's web/,
access_log -> a temporary file, the `combined` format kept), and it is wrapped in the smallest
nginx.conf that runs unprivileged in the foreground with its own prefix for the pid, logs and
temporary files. A README edit that the substitutions cannot follow fails loudly, never silently.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

__all__ = [
    "NJS_MODULE", "Served", "generated_block", "generated_njs", "nginx_binary", "njs_missing", "readme_s3_block", "readme_server_block", "render_config", "render_s3_config", "serving",
    "serving_bucket", "world_readable_tempdir",
]  # fmt: skip

README = Path(__file__).resolve().parent.parent / "README.md"
NOT_INSTALLED = (
    "nginx is not installed (not on PATH, no /usr/sbin/nginx): the end-to-end serving tests need it; "
    "CI's .ci/run installs Debian's nginx-light as root, elsewhere: apt-get install nginx-light"
)
NJS_MODULE = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")  # Debian's libnginx-mod-http-js
_JS_IMPORT = re.compile(r"^(\s*js_import\s+\w+\s+from\s+)[^;]*;", re.M)
_BLOCK = re.compile(r"^```nginx\n(.*?)^```", re.S | re.M)
_S3_BLOCK = re.compile(r"^```nginx-s3\n(.*?)^```", re.S | re.M)
_MAP = re.compile(r"^map .*?^}\n", re.S | re.M)
_S3_BASE = re.compile(r"proxy_pass (http://[^/\s;]+)(/[^\s;]*)/web/;")
_LISTEN = re.compile(r"^(\s*)listen\s[^;]*;", re.M)
_ROOT = re.compile(r"^(\s*)root\s[^;]*;", re.M)
_ACCESS_LOG = re.compile(r"^(\s*)access_log\s+\S+(\s[^;]*)?;", re.M)


class ReadmeBlockChanged(AssertionError):
    """The README's nginx block no longer has the shape the tests can render: fix one of the two."""


def nginx_binary() -> Optional[str]:
    """nginx lives in /usr/sbin, which is not on an unprivileged user's PATH on Debian."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def generated_block(config: Path) -> str:
    """What `bandersnatch nginx-config` prints for ``config``: the block the tests serve."""
    from tests.conftest import ROOT, bandersnatch_command

    printed = subprocess.run([*bandersnatch_command(), "-c", str(config), "nginx-config"], capture_output=True,
                             text=True, timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL)  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    return printed.stdout


def generated_njs() -> str:
    """What `bandersnatch nginx-config --njs` prints: the module a [serve] negotiation = njs block imports."""
    from tests.conftest import ROOT, bandersnatch_command

    printed = subprocess.run([*bandersnatch_command(), "nginx-config", "--njs"], capture_output=True, text=True,
                             timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL)  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    return printed.stdout


def njs_missing(binary: str) -> Optional[str]:
    """Why this nginx cannot run a block with js_import (a reason to skip), or None if it can."""
    if not NJS_MODULE.exists():
        return (f"{NJS_MODULE} is missing: [serve] negotiation = njs needs Debian's libnginx-mod-http-js "
                "(CI's .ci/run installs it as root; elsewhere: apt-get install libnginx-mod-http-js)")  # fmt: skip
    with tempfile.TemporaryDirectory() as probe:
        conf = Path(probe) / "nginx.conf"
        conf.write_text(f"load_module {_quoted(NJS_MODULE)};\nerror_log stderr;\nevents {{}}\n", encoding="utf-8")
        tried = subprocess.run([binary, "-t", "-p", f"{probe}/", "-c", str(conf)], capture_output=True, text=True,
                               timeout=30, stdin=subprocess.DEVNULL)  # fmt: skip
    if tried.returncode != 0:
        return f"{binary} cannot load {NJS_MODULE} (another nginx build?): {tried.stderr.strip()}"
    return None


def readme_server_block(readme: Path = README) -> str:
    """The one ```nginx fenced block of the README, as users copy it."""
    blocks = _BLOCK.findall(readme.read_text(encoding="utf-8"))
    if len(blocks) != 1:
        raise ReadmeBlockChanged(f"{readme} has {len(blocks)} ```nginx blocks; the tests serve exactly one")
    return blocks[0]


def _quoted(path: Path) -> str:
    text = str(path)
    if any(c in text for c in '"\\;{}$') or text != text.strip():
        raise ValueError(f"{text!r} cannot be put into an nginx config as a path")
    return f'"{text}"'


def _substitute(pattern: re.Pattern[str], replacement: str, block: str, what: str) -> str:
    rendered, count = pattern.subn(replacement, block)
    if count != 1:
        raise ReadmeBlockChanged(f"the README's nginx block has {count} `{what}` directives; the tests replace one")
    return rendered


def _worker_user() -> str:
    """The `user` line when nginx starts as root (CI containers), empty otherwise.

    A root master switches its workers to an unprivileged account, as on a real server (Debian's
    nginx.conf says www-data). The compiled-in default, nobody:nobody, fails where the group is
    called nogroup, so the account and its own group are named explicitly. Those workers can only
    read a mirror whose files and folders are world-readable (SPEC section 4): that is tested
    here too, so the served tree must lie below world-traversable folders (world_readable_tempdir).
    """
    if os.geteuid() != 0:
        return ""  # unprivileged: workers run as we do; a `user` line would only draw a warning
    for name in ("www-data", "nobody"):
        with contextlib.suppress(KeyError):
            account = pwd.getpwnam(name)
            return f"user {account.pw_name} {grp.getgrgid(account.pw_gid).gr_name};\n"
    raise RuntimeError("running as root, but there is neither a www-data nor a nobody account for nginx's workers")


def render_config(block: str, *, port: int, web: Path, prefix: Path) -> str:
    """A whole nginx.conf around the README's server block, everything nginx writes below `prefix`."""
    server = _substitute(_LISTEN, rf"\g<1>listen 127.0.0.1:{port};", block, "listen")
    server = _substitute(_ROOT, rf"\g<1>root {_quoted(web)};", server, "root")
    server = _substitute(_ACCESS_LOG, rf"\g<1>access_log {_quoted(prefix / 'access.log')}\g<2>;", server, "access_log")
    server = _JS_IMPORT.sub(rf"\g<1>{_quoted(prefix / 'pypi_accept.js')};", server)  # written by serving(njs=...)
    return _wrap(server, prefix)


def _wrap(server: str, prefix: Path) -> str:
    """The smallest nginx.conf around ``server`` (http-level text) that runs below ``prefix``."""
    temp = "\n".join(
        f"    {kind}_temp_path {_quoted(prefix / (kind + '_temp'))};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    njs = f"load_module {_quoted(NJS_MODULE)};\n" if "js_import" in server else ""
    return (
        f"{njs}{_worker_user()}"
        f"pid {_quoted(prefix / 'nginx.pid')};\n"
        f"error_log {_quoted(prefix / 'error.log')} notice;\n"
        "worker_processes 1;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "    # what Debian's mime.types and nginx.conf give the pages and files of a mirror\n"
        "    types { text/html html; text/plain txt; application/json json; }\n"
        "    default_type application/octet-stream;\n"
        f"{temp}\n" + "".join(f"    {line}\n" if line.strip() else "\n" for line in server.splitlines()) + "}\n"
    )


def readme_s3_block(readme: Path = README) -> str:
    """The one ```nginx-s3 fenced block of the README: serving the mirror from a bucket."""
    blocks = _S3_BLOCK.findall(readme.read_text(encoding="utf-8"))
    if len(blocks) != 1:
        raise ReadmeBlockChanged(f"{readme} has {len(blocks)} ```nginx-s3 blocks; the tests serve exactly one")
    return blocks[0]


def render_s3_config(block: str, *, port: int, endpoint: str, web_path: str, prefix: Path) -> str:
    """A whole nginx.conf around the README's S3 block, beside the `map` of its first block.

    The README's example endpoint and /BUCKET/PREFIX (read from its `proxy_pass .../web/;`) become
    ``endpoint`` (http://127.0.0.1:PORT) and ``web_path`` (/BUCKET/PREFIX/web) everywhere.
    """
    found = _S3_BASE.findall(block)
    maps = _MAP.findall(readme_server_block())
    if len(found) != 1 or len(maps) != 1:
        raise ReadmeBlockChanged("the README's nginx-s3 block needs one `proxy_pass ENDPOINT/BUCKET/PREFIX/web/;`")
    (example_endpoint, example_path), = found
    server = block.replace(example_endpoint, endpoint).replace(f"{example_path}/web", web_path)
    server = _substitute(_LISTEN, rf"\g<1>listen 127.0.0.1:{port};", server, "listen")
    server = _substitute(_ACCESS_LOG, rf"\g<1>access_log {_quoted(prefix / 'access.log')}\g<2>;", server, "access_log")
    return _wrap(maps[0] + server, prefix)


@dataclass(frozen=True)
class Served:
    """A running nginx: where it answers, and the files it writes."""

    url: str  # http://127.0.0.1:PORT, no trailing slash
    pid: int
    config: Path  # the nginx.conf it runs: the README's block inside a minimal main context
    access_log: Path
    error_log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _check_readable_by_workers(web: Path) -> None:
    """Fail with the reason, rather than let every request end as a puzzling 403."""
    if os.geteuid() != 0:
        return
    for folder in [web, *web.parents]:
        if folder.exists() and not folder.stat().st_mode & stat.S_IXOTH:
            raise RuntimeError(
                f"{folder} is not world-traversable: nginx's unprivileged workers could not read {web}; "
                "serve a tree below world_readable_tempdir()"
            )


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _start(binary: str, conf: Path, prefix: Path, port: int, timeout: float) -> Optional[subprocess.Popen]:
    """The nginx master in the foreground, once it accepts connections; None if the port was taken."""
    (prefix / "error.log").unlink(missing_ok=True)  # a failed try's messages must not be read again
    with open(prefix / "nginx.out", "wb") as output:
        process = subprocess.Popen(
            [binary, "-p", f"{prefix}/", "-c", str(conf), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while not _answers(port):
        if process.poll() is not None:
            said = _text(prefix / "nginx.out") + _text(prefix / "error.log")
            if "Address already in use" in said:
                return None  # another process took the port between _free_port and bind
            raise RuntimeError(f"nginx exited with status {process.returncode}:\n{said}")
        if time.monotonic() > deadline:
            _stop(process, prefix)
            raise RuntimeError(f"nginx did not answer on 127.0.0.1:{port} within {timeout}s")
        time.sleep(0.02)
    return process


def _stop(process: subprocess.Popen, prefix: Path) -> None:
    """SIGQUIT to the pid nginx wrote (its graceful shutdown), SIGKILL only if it hangs."""
    pid_file = prefix / "nginx.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else process.pid
    assert pid == process.pid, f"nginx wrote pid {pid}, but the master we started is {process.pid}"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def serving(
    binary: str, web: Path, prefix: Path, *, timeout: float = 10, block: Optional[str] = None,
    njs: Optional[str] = None,
) -> Iterator[Served]:
    """nginx serving `web` until the block exits; its files go to `prefix`.

    ``block``: what `bandersnatch nginx-config` printed for the mirror's config (the README's block
    is that output for its example config, test_serving keeps them equal); default the README's.
    ``njs``: what `nginx-config --njs` printed, for a block that imports it ([serve] negotiation = njs)."""
    _check_readable_by_workers(web)
    text = readme_server_block() if block is None else block
    if "js_import" in text:
        assert njs is not None, "the block imports the njs module: pass serving(..., njs=generated_njs())"
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "pypi_accept.js").write_text(njs, encoding="utf-8")
    with _running(binary, prefix, lambda port: render_config(text, port=port, web=web, prefix=prefix),
                  timeout) as served:  # fmt: skip
        yield served


@contextlib.contextmanager
def serving_bucket(binary: str, endpoint: str, web_path: str, prefix: Path, *, timeout: float = 10) -> Iterator[Served]:
    """nginx serving a bucket's web/ (``web_path`` = /BUCKET/PREFIX/web at ``endpoint``) with the
    README's nginx-s3 block."""
    block = readme_s3_block()

    def render(port: int) -> str:
        return render_s3_config(block, port=port, endpoint=endpoint, web_path=web_path, prefix=prefix)

    with _running(binary, prefix, render, timeout) as served:
        yield served


@contextlib.contextmanager
def _running(binary: str, prefix: Path, render: Callable[[int], str], timeout: float) -> Iterator[Served]:
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    for _ in range(5):
        port = _free_port()
        conf.write_text(render(port), encoding="utf-8")
        process = _start(binary, conf, prefix, port, timeout)
        if process is not None:
            break
    else:
        raise RuntimeError("nginx found no free loopback port in 5 tries")
    try:
        yield Served(f"http://127.0.0.1:{port}", process.pid, conf, prefix / "access.log", prefix / "error.log")
    finally:
        _stop(process, prefix)


@contextlib.contextmanager
def world_readable_tempdir(prefix: str = "bandersnatch-served-") -> Iterator[Path]:
    """A 0755 temporary folder: pytest's own are below a 0700 one that nginx's workers cannot enter."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
