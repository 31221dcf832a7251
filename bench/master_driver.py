"""The loopback master in a process of its own, steered over a line protocol on stdin/stdout.

The master must not share a GIL with anything measured, and scenario 3 must change projects of a
master that is already serving, so the benchmark starts this module as a child process:

    python -m bench.master_driver --projects 600 --files-per-project 1,3 --size-range 4K,4M --big-file 100M
    python -m bench.master_driver ... --rtt 0.05 --mbit 200     # answers shaped like a WAN link

It builds the corpus, prints ``URL http://127.0.0.1:PORT`` (``CERT path`` first with ``--tls``)
and ``READY {stats}``, then answers one line per command:

    change N      add a release with one small file to N projects spread over the corpus
    stats         {"projects", "files", "bytes", "serial"} of the corpus now, "cpu" the master used so far,
                  "requests" answered so far, "file_requests" of them under /packages/
    urls PATH     write "url<TAB>size" for every file of the corpus to PATH
    quit          stop (so does end of input)

Each answer is ``OK {json}`` or ``ERROR message``. ``MasterProcess`` is the parent's side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.pypi_master import (  # noqa: E402
    FileSpec,
    PyPIMaster,
    WanLink,
    _pair,
    _self_signed,
    _size,
    generate_corpus,
)

__all__ = ["MasterProcess", "corpus_args"]

CHANGED_FILE_SIZE = 24_000  # the file of each release that `change` adds: a typical small wheel


class _BenchMaster(PyPIMaster):
    """The tests' master, answering ``/simple`` like ``/simple/`` (upstream 8.x asks for the former;
    pypi.org redirects it)."""

    def _route(self, method: str, path: str, headers: Any, body: bytes) -> Any:
        return super()._route(method, "/simple/" if path == "/simple" else path, headers, body)


class _Corpus:
    """The master and the names it serves; only this process mutates it."""

    def __init__(self, master: PyPIMaster, names: list[str]) -> None:
        self.master = master
        self.names = names
        self.changes = 0

    def stats(self) -> dict[str, Any]:
        """The corpus now, and the CPU this process has used so far (the master's share of the cores)."""
        files = [entry for name in self.master.projects() for entry in self.master.files(name)]
        return {
            "projects": len(self.master.projects()),
            "files": len(files),
            "bytes": sum(entry["size"] for entry in files),
            "serial": self.master.serial,
            "cpu": round(time.process_time(), 3),
            "requests": self.master.count(),
            "file_requests": self.master.count(path_prefix="/packages/"),
        }

    def change(self, count: int) -> dict[str, Any]:
        """A new release of `count` projects, spread evenly so no corner of the index is favoured."""
        self.changes += 1
        step = max(len(self.names) / max(count, 1), 1.0)
        chosen = {self.names[int(i * step)] for i in range(min(count, len(self.names)))}
        version = f"{1000 + self.changes}.0"
        for name in sorted(chosen):
            stem = re.sub(r"[^A-Za-z0-9]+", "_", name)
            spec = FileSpec(f"{stem}-{version}-py3-none-any.whl", size=CHANGED_FILE_SIZE)
            self.master.add_release(name, version, [spec])
        return {**self.stats(), "changed": len(chosen)}

    def write_urls(self, path: str) -> dict[str, Any]:
        with open(path, "w", encoding="utf-8") as handle:
            for name in self.master.projects():
                for entry in self.master.files(name):
                    handle.write(f"{entry['url']}\t{entry['size']}\n")
        return self.stats()


def _answer(corpus: _Corpus, line: str) -> Optional[str]:
    command, _, argument = line.strip().partition(" ")
    if command in ("", "quit"):
        return None
    try:
        if command == "change":
            result = corpus.change(int(argument))
        elif command == "stats":
            result = corpus.stats()
        elif command == "urls":
            result = corpus.write_urls(argument)
        else:
            return f"ERROR unknown command {command!r}"
    except Exception as error:  # noqa: BLE001 - reported to the parent, which decides
        return f"ERROR {type(error).__name__}: {error}"
    return "OK " + json.dumps(result)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.master_driver", description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files-per-project", type=_pair, default=(1, 3), metavar="A,B")
    parser.add_argument("--size-range", type=_pair, default=(2_000, 50_000), metavar="MIN,MAX")
    parser.add_argument("--big-file", type=_size, action="append", default=[], metavar="SIZE")
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--rtt", type=float, default=0.0, help="seconds of round trip before every answer")
    parser.add_argument("--mbit", type=float, help="the link's bandwidth in Mbit/s, shared by all connections")
    args = parser.parse_args(argv)
    link = WanLink(args.rtt, args.mbit * 1e6 / 8 if args.mbit else None)
    with contextlib.ExitStack() as stack:
        context = None
        if args.tls:
            cert, context = _self_signed(stack.enter_context(tempfile.TemporaryDirectory()))
            print(f"CERT {cert}", flush=True)
        master = stack.enter_context(_BenchMaster(ssl_context=context, link=link))
        names = generate_corpus(master, args.projects, seed=args.seed, files_per_project=args.files_per_project,
                                size_range=args.size_range, big_files=args.big_file)
        corpus = _Corpus(master, [n for n in names if not n.startswith("big-file-")] or names)
        print(f"URL {master.url}", flush=True)
        print("READY " + json.dumps(corpus.stats()), flush=True)
        for line in sys.stdin:
            reply = _answer(corpus, line)
            if reply is None:
                break
            print(reply, flush=True)


# ------------------------------------------------------------------------------------ parent's side
def corpus_args(projects: int, files: tuple[int, int], sizes: tuple[int, int], big: Sequence[int] = (),
                seed: int = 1, wan: Optional[tuple[float, float]] = None) -> list[str]:
    """The command-line flags for a corpus (sizes in bytes), behind a (rtt s, Mbit/s) link if ``wan``."""
    args = ["--projects", str(projects), "--seed", str(seed), "--files-per-project", f"{files[0]},{files[1]}",
            "--size-range", f"{sizes[0]},{sizes[1]}"]
    if wan:
        args += ["--rtt", str(wan[0]), "--mbit", str(wan[1])]
    for size in big:
        args += ["--big-file", str(size)]
    return args


class MasterProcess:
    """A running master driver: ``with MasterProcess(args) as master: master.url, master.command(...)``."""

    def __init__(self, args: Sequence[str], tls: bool = False, log: Optional[Path] = None) -> None:
        self.args = [*args, *(["--tls"] if tls else [])]
        self.log = log
        self.url = ""
        self.cert: Optional[str] = None
        self.stats: dict[str, Any] = {}
        self._process: Optional[subprocess.Popen[str]] = None

    def __enter__(self) -> MasterProcess:
        stderr = open(self.log, "a", encoding="utf-8") if self.log else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.master_driver", *self.args], cwd=ROOT, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
        if stderr is not subprocess.DEVNULL:
            stderr.close()
        try:
            while True:
                line = self._read_line()
                if line.startswith("CERT "):
                    self.cert = line[5:]
                elif line.startswith("URL "):
                    self.url = line[4:]
                elif line.startswith("READY "):
                    self.stats = json.loads(line[6:])
                    return self
        except BaseException:
            self.__exit__()
            raise

    def _read_line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the master driver exited (status {self._process.poll()}); see {self.log}")
        return line.rstrip("\n")

    def command(self, text: str) -> dict[str, Any]:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(text + "\n")
        self._process.stdin.flush()
        reply = self._read_line()
        if not reply.startswith("OK "):
            raise RuntimeError(f"master driver: {text!r} -> {reply}")
        return json.loads(reply[3:])

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.stdin.close()  # type: ignore[union-attr]
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


if __name__ == "__main__":
    main()
