"""The benchmark's smoke run: the harness works end to end (a benchmark, so no timing is asserted)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("1", "2", "3", "4", "5", "5r", "6", "7", "8", "wa", "wb", "wc", "wd")


def test_quick_benchmark_prints_a_row_for_every_scenario(tmp_path: Path) -> None:
    output = tmp_path / "latest.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--no-upstream", "--output", str(output)],
        capture_output=True, text=True, timeout=180, cwd=tmp_path, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table, _, projection = result.stdout.partition("Projection of a first full sync")
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith("| ") and " | ours " in line]  # fmt: skip
    assert sorted(row[0] for row in rows) == sorted(SCENARIOS), result.stdout
    for row in rows:
        assert float(row[3]) > 0, row  # wall time
        assert row[-1].startswith(("ok", "in-process")), row  # the mirror matched the master
    if shutil.which("curl") and shutil.which("openssl"):
        assert "Machine limit for scenario 1" in result.stdout
    assert output.read_text(encoding="utf-8").count("| ours ") == len(SCENARIOS) + 2  # + the projection's rows
    assert [line.split("|")[1].strip() for line in projection.splitlines() if " | ours " in line] == [
        "all of PyPI", "a filtered mirror (20,000 projects, 300,000 files, 2 TB)",
    ]  # from the quick wa and wb runs; their figures are a benchmark's, not asserted
