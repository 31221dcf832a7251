"""An offline try-out: a loopback master with a small corpus, mirrored and served for pip.

    python -m tests.tryout

It needs no network: the master is the tests' own, on 127.0.0.1. Ctrl-C stops it.
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import MirrorSetup, bandersnatch_command
from tests.pypi_master import PyPIMaster, generate_corpus


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> int:
    directory = Path(tempfile.mkdtemp(prefix="bandersnatch-tryout-"))
    with PyPIMaster() as master:
        generate_corpus(master, 20, seed=1)
        master.add_release("tryout-demo", "1.0")
        master.add_release("tryout-demo", "1.1")
        setup = MirrorSetup(directory=directory / "mirror", config=directory / "bandersnatch.conf")
        setup.write_config(master.url)
        print(f"Master with {len(master.projects())} projects at {master.url}; mirroring into {setup.directory}", flush=True)
        command = bandersnatch_command() + ["-c", str(setup.config), "mirror"]
        if subprocess.run(command).returncode != 0:
            return 1
    handler = functools.partial(_QuietHandler, directory=str(setup.web))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        index = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        print(f"\nThe mirror is served at {index}. In another shell:\n")
        print(f"    pip install --isolated --index-url {index} tryout-demo\n")
        print(f"Config: {setup.config}. Ctrl-C stops serving.", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
