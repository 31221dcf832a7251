"""Upstream bandersnatch's end-of-run work, for scenario 5's rebuild row (run by upstream's Python).

Upstream always rebuilds the global index by listing ``web/simple/`` (``SimpleAPI.sync_index_page``)
and then saves ``status``; this does just that on the folder that ``bench.end_of_run seed-dirs``
made, with the options the benchmark gives upstream (HTML only, no hash index). Standalone on
purpose: it runs in upstream's virtual environment, which cannot import this checkout.

    bench/.upstream-venv/py311/bin/python bench/upstream_index.py DIR SERIAL
"""

from __future__ import annotations

import configparser
import sys
import time
from pathlib import Path

from bandersnatch.pages.html import SimpleAPI
from bandersnatch.storage import storage_backend_plugins


def main() -> None:
    directory, serial = Path(sys.argv[1]), int(sys.argv[2])
    start = time.perf_counter()
    config = configparser.ConfigParser()
    config.read_dict({"mirror": {"directory": str(directory), "storage-backend": "filesystem", "workers": "3",
                                "hash-index": "false", "simple-format": "HTML"}})
    storage = next(iter(storage_backend_plugins("filesystem", config=config, clear_cache=True)))
    api = SimpleAPI(storage, "HTML", [], "sha256", False, None)
    api.sync_index_page(True, directory / "web", serial)
    with storage.update_safe(directory / "status", mode="w+", encoding="ascii") as handle:
        handle.write(str(serial))  # as BandersnatchMirror._save
    print(f"end-of-run work: {time.perf_counter() - start:.3f} s", flush=True)


if __name__ == "__main__":
    main()
