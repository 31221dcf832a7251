"""The mirror clients under comparison: ours from this checkout, and upstream bandersnatch from PyPI.

Upstream lives in virtual environments under ``bench/.upstream-venv/`` (one per Python, named
``pyXY``), made by ``python bench/run.py --setup-upstream``: the newest release that installs on
this Python (6.x on 3.11, which lists projects over XML-RPC), and where a Python >= 3.12 exists
the newest of all (8.x, which lists them from the PEP 691 JSON root ``/simple``).

Both are configured alike against the same master: the same workers and timeout, HTML simple
pages only (ours writes no PEP 691 JSON pages yet, so upstream is spared writing them), no JSON
metadata copies, no filters, files verified by sha256.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

__all__ = ["Client", "find_upstream", "like_for_like", "ours", "setup_upstream"]

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / "bench" / ".upstream-venv"
NEWER_PYTHONS = ("python3.14", "python3.13", "python3.12")  # upstream 8.x needs >= 3.12


@dataclass(frozen=True)
class Client:
    label: str  # "ours 0.1.0", "upstream 6.8.0 (py3.11)"
    key: str  # short, for folder names: "ours", "up-py311"
    command: tuple[str, ...]  # without "-c CONFIG mirror"
    upstream: bool
    extra: tuple[str, ...] = ()  # more [mirror] lines: a variant of the same client (scenario 7)

    def config(self, directory: Path, master: str, *, workers: int, timeout: float) -> str:
        """The config file's text for a mirror in ``directory``."""
        lines = ["[mirror]", f"directory = {directory}", f"master = {master}", "allow-non-https = true",
                 f"workers = {workers}", f"timeout = {timeout:g}", "stop-on-error = false"]
        if self.upstream:
            lines += ["json = false", "release-files = true", "hash-index = false", "simple-format = HTML",
                      "compare-method = hash", "digest_name = sha256", "global-timeout = 36000",
                      "core-metadata = false", "", "[plugins]", "enabled ="]
        else:
            lines += ["delete-packages = true", *self.extra]
        return "\n".join(lines) + "\n"

    @property
    def python(self) -> Path:
        """The client's interpreter: for the end-of-run scripts, which drive it from inside."""
        first = Path(self.command[0])
        return first if len(self.command) > 1 else first.with_name("python")

    def mirror_command(self, config: Path) -> list[str]:
        return [*self.command, "-c", str(config), "mirror"]

    def env(self, cert: Optional[str]) -> Mapping[str, str]:
        """The environment of a run; with a TLS master, its certificate is the only CA."""
        env = dict(os.environ)
        if self.upstream:
            env.pop("PYTHONPATH", None)  # this checkout's bandersnatch must not shadow upstream's
        else:
            env["PYTHONPATH"] = str(ROOT)
        if cert:
            env.update(SSL_CERT_FILE=cert, REQUESTS_CA_BUNDLE=cert)
        return env


def ours() -> Client:
    """The checkout's command, run like upstream from a virtual environment of its own.

    This Python when it is a venv's (the console script beside it if installed, else ``-m``);
    otherwise bench/.upstream-venv/ours (made by --setup-upstream) when it exists: a system
    Python's site-packages and .pth files can cost more start-up time than the whole no-op run.
    """
    sys.path.insert(0, str(ROOT))
    from bandersnatch import __version__

    python = Path(sys.executable)
    if sys.prefix == sys.base_prefix and (VENVS / "ours" / "bin" / "python").exists():
        python = VENVS / "ours" / "bin" / "python"
    script = python.with_name("bandersnatch")
    command = (str(script),) if script.exists() else (str(python), "-m", "bandersnatch")
    where = "venv" if python != Path(sys.executable) or sys.prefix != sys.base_prefix else "system Python"
    return Client(f"ours {__version__} ({where})", "ours", command, upstream=False)


def like_for_like(client: Client) -> Client:
    """Ours doing exactly upstream's work: HTML pages only, no PEP 658 ``.metadata`` files."""
    return Client("ours, HTML only, no .metadata", "ours-html", client.command, upstream=False,
                  extra=("simple-format = HTML", "core-metadata = false"))


def _requirements() -> list[str]:
    """The checkout's install_requires, read from setup.py (which stays the one place they live)."""
    text = (ROOT / "setup.py").read_text(encoding="utf-8")
    block = re.search(r"install_requires\s*=\s*\[(.*?)\]", text, re.S)
    # Each entry is one quoted string; a marker may hold quotes of the other kind ('x; python_version < "3.11"').
    return [a or b for a, b in re.findall(r'"([^"]+)"|\'([^\']+)\'', block.group(1))] if block else []


def _version(python: Path, module: str) -> Optional[str]:
    result = subprocess.run([str(python), "-c", f"import importlib.metadata as m; print(m.version({module!r}))"], cwd="/",
                            capture_output=True, text=True)  # fmt: skip
    return result.stdout.strip() if result.returncode == 0 else None


def find_upstream() -> list[Client]:
    """The upstream installs made by setup_upstream(), oldest Python first."""
    clients = []
    for venv in sorted(VENVS.glob("py[0-9]*"), key=lambda p: int(p.name[2:]) if p.name[2:].isdigit() else 0):
        script, python = venv / "bin" / "bandersnatch", venv / "bin" / "python"
        version = _version(python, "bandersnatch") if script.exists() else None
        if version:
            py = f"{venv.name[2]}.{venv.name[3:]}"
            clients.append(Client(f"upstream {version} (py{py})", f"up-{venv.name}", (str(script),), upstream=True))
    return clients


def _pythons() -> list[str]:
    """This Python, and the newest other Python >= 3.12 on the machine (pyenv's included)."""
    found = [sys.executable]
    for name in NEWER_PYTHONS:
        path = shutil.which(name)
        if path and subprocess.run([path, "-c", "pass"], capture_output=True).returncode == 0:
            found.append(path)
            break
    return found


def setup_upstream() -> list[Client]:
    """``pip install bandersnatch`` into a fresh venv per Python; pip picks the newest that fits.

    Also bench/.upstream-venv/ours: this Python's venv with only our dependencies (the checkout
    itself is put on PYTHONPATH), so both sides start from equally bare interpreters.
    """
    venv = VENVS / "ours"
    if not (venv / "bin" / "python").exists():
        print(f"Creating {venv} with our dependencies", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *_requirements()], check=True)
    for python in _pythons():
        tag = subprocess.run([python, "-c", "import sys; print('py%d%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        venv = VENVS / tag
        if (venv / "bin" / "bandersnatch").exists():
            print(f"{venv}: already set up", flush=True)
            continue
        print(f"Creating {venv} with {python} and installing bandersnatch from PyPI", flush=True)
        subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "bandersnatch"], check=True)
    clients = find_upstream()
    for client in clients:
        print(f"  {client.label}: {' '.join(client.command)}", flush=True)
    return clients
