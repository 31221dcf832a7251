"""The benchmark's table and its targets, as Markdown (printed, and saved to bench/results/latest.md)."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from .limit import Limit
from .scenarios import WAN, Result

__all__ = ["Check", "render", "targets"]


@dataclass(frozen=True)
class Check:
    scenario: str
    text: str  # what was measured against what
    passed: Optional[bool]  # None: could not be judged (no upstream)


def _ours(results: Sequence[Result], scenario: str, key: str = "ours") -> Optional[Result]:
    """Ours with its defaults (``key`` "ours-html": the like-for-like variant of scenario 7)."""
    return next((r for r in results if r.scenario == scenario and not r.client.upstream and r.client.key == key),
                None)  # fmt: skip


def _ratios(results: Sequence[Result], scenario: str, key: str = "ours") -> list[tuple[str, Optional[float]]]:
    """(upstream label, ours/upstream wall time) for every upstream client that ran the scenario."""
    ours = _ours(results, scenario, key)
    base = ours.summary if ours and not ours.problem else None
    found = []
    for result in results:
        if result.scenario == scenario and result.client.upstream:
            theirs = result.summary if not result.problem else None
            found.append((result.client.label, base.wall / theirs.wall if base and theirs else None))
    return found


def _ratio_checks(results: Sequence[Result], scenario: str, limit: float, key: str = "ours") -> list[Check]:
    ratios = _ratios(results, scenario, key)
    ours = "like for like (HTML only, no .metadata): ours" if key == "ours-html" else "ours"
    if not ratios:
        return [Check(scenario, f"{ours}/upstream <= {limit}: no upstream measured", None)]
    return [Check(scenario, f"{ours}/{label} = {'-' if ratio is None else f'{ratio:.2f}'} <= {limit}",
                  None if ratio is None else ratio <= limit) for label, ratio in ratios]  # fmt: skip


def _faster_upstream_check(results: Sequence[Result], scenario: str, limit: float) -> list[Check]:
    """Ours against the faster of the upstreams (the issue's "<= 0.4 x the faster upstream")."""
    ratios = [ratio for _, ratio in _ratios(results, scenario) if ratio is not None]
    if not ratios:
        return [Check(scenario, f"ours/faster upstream <= {limit}: not measured", None)]
    return [Check(scenario, f"ours/faster upstream = {max(ratios):.2f} <= {limit}", max(ratios) <= limit)]


def link_share(result: Result) -> Optional[float]:
    """The link's bound (bytes / bandwidth) over the wall time: 1.0 is a link that never idled."""
    if result.problem or not result.summary or not result.bytes:
        return None
    return result.bytes / (WAN[1] * 1e6 / 8) / result.summary.wall


def _link_check(results: Sequence[Result], scenario: str, bound: float) -> list[Check]:
    ours = _ours(results, scenario)
    share = link_share(ours) if ours else None
    if share is None:
        return [Check(scenario, f"share of the link's bound >= {bound:.0%}: not measured", None)]
    return [Check(scenario, f"{share:.1%} of the link's bound >= {bound:.0%}", share >= bound)]


def _value_check(results: Sequence[Result], scenario: str, metric: str, bound: float, unit: str) -> list[Check]:
    ours = _ours(results, scenario)
    if not ours or not ours.summary or ours.problem:
        return [Check(scenario, f"ours {metric} < {bound:g} {unit}: not measured", None)]
    value = getattr(ours.summary, metric)
    name = {"wall": "wall", "rss": "peak RSS"}[metric]
    return [Check(scenario, f"{name} {value:.2f} {unit} < {bound:g} {unit}", value < bound)]


def _limit_check(results: Sequence[Result], scenario: str, limit: Optional[Limit], most: float) -> list[Check]:
    """Ours within ``most`` times the plain tools' time over the same corpus."""
    ours = _ours(results, scenario)
    if not limit or not ours or not ours.summary or ours.problem:
        return [Check(scenario, f"wall / the machine's limit <= {most:g}: not measured", None)]
    times = ours.summary.wall / limit.seconds
    return [Check(scenario, f"wall / the machine's limit = {times:.2f} <= {most:g}", times <= most)]


def targets(results: Sequence[Result], limits: Mapping[str, Limit]) -> list[Check]:
    """The issue's targets, for the scenarios that ran."""
    ran = {r.scenario for r in results}
    checks: list[Check] = []
    if "1" in ran:
        checks += _ratio_checks(results, "1", 0.5)
        ours, limit = _ours(results, "1"), limits.get("1")
        if limit and ours and ours.summary and not ours.problem:
            share = limit.seconds / ours.summary.wall
            checks.append(Check("1", f"{share:.0%} of the machine's limit >= 60%", share >= 0.6))
        else:
            checks.append(Check("1", "share of the machine's limit: not measured", None))
    if "2" in ran:
        checks += _value_check(results, "2", "wall", 0.2, "s") + _ratio_checks(results, "2", 0.5)
    if "4" in ran:
        checks += _ratio_checks(results, "4", 0.5)
    if "5" in ran:
        checks += _value_check(results, "5", "wall", 2.0, "s") + _value_check(results, "5", "rss", 150, "MiB")
    if "6" in ran:
        checks += _value_check(results, "6", "rss", 100, "MiB")
    if "7" in ran:  # issue 22: like for like at 0.6x of upstream, every format on no slower than upstream
        checks += _ratio_checks(results, "7", 0.6, "ours-html") + _ratio_checks(results, "7", 1.0)
    if "8" in ran:
        checks += _limit_check(results, "8", limits.get("8"), 1.1)
    if "wa" in ran:
        checks += _faster_upstream_check(results, "wa", 0.4)
    if "wb" in ran:
        checks += _link_check(results, "wb", 0.95)
    for scenario in ("wc", "wd"):
        if scenario in ran:
            checks += _ratio_checks(results, scenario, 0.5)
    return checks


def _row(result: Result, ratio: Optional[float], variant: str = "") -> str:
    summary = result.summary
    if summary is None:
        return f"| {result.scenario} | {result.title} | {result.client.label} | - | - | - | - | - | - | - | not run |"
    mbps = f"{result.bytes / 1e6 / summary.wall:.1f}" if result.bytes else "-"
    pps = f"{result.projects / summary.wall:,.0f}" if result.projects else "-"
    shown = "-" if ratio is None else f"{ratio:.2f}"
    remark = result.problem or result.note or ("ok" + variant)
    master = "-" if summary.master_cpu is None else f"{summary.master_cpu:.2f}"
    return (f"| {result.scenario} | {result.title} | {result.client.label} | {summary.wall:.2f} | {summary.cpu:.2f} "
            f"| {summary.sys:.2f} | {summary.rss:.0f} | {mbps} | {pps} | {master} | {shown} | {remark} |")  # fmt: skip


def render(results: Sequence[Result], limits: Mapping[str, Limit], *, runs: int, quick: bool, notes: Sequence[str],
           projection: Sequence[str] = ()) -> str:
    lines = [
        f"# bandersnatch benchmark ({'quick smoke' if quick else 'full'}, median of {runs} run(s))",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.python_implementation()} "
        f"{platform.python_version()}; {os.cpu_count()} CPUs; {platform.platform()}",
        "",
        "| # | scenario | client | wall s | CPU s | of it sys | peak RSS MiB | MB/s | projects/s | master CPU s "
        "| ours/this | remark |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for result in results:
        ratio = dict(_ratios(results, result.scenario)).get(result.client.label) if result.client.upstream else None
        variant = ""
        if result.client.key == "ours-html":  # the like-for-like variant: its own ratios in the remark
            found = [f"{r:.2f} of {label}" for label, r in _ratios(results, result.scenario, "ours-html") if r]
            variant = f"; {', '.join(found)}" if found else ""
        lines.append(_row(result, ratio, variant))
    lines.append("")
    for scenario, limit in sorted(limits.items()):
        lines.append(
            f"Machine limit for scenario {scenario} (the fastest of the runs; {limit.files} files, "
            f"{limit.bytes / 1e6:.0f} MB; "
            f"`curl --parallel` x4 "
            f"into files, then `{limit.hasher}` x2): **{limit.seconds:.2f} s = {limit.mb_per_s:.0f} MB/s** "
            f"(download {limit.download:.2f} s + hashing {limit.hashing:.2f} s; the `sync` that would make "
            f"them durable took another {limit.sync:.2f} s, not counted)."
        )  # fmt: skip
        ours = _ours(results, scenario)
        if ours and ours.summary:
            lines.append(f"Ours reaches {limit.seconds / ours.summary.wall:.0%} of it "
                         f"({ours.summary.wall / limit.seconds:.2f} x its time).")  # fmt: skip
        lines.append("")
    checks = targets(results, limits)
    if checks:
        lines += ["| # | target | result |", "| --- | --- | --- |"]
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}
        lines += [f"| {c.scenario} | {c.text} | {verdict[c.passed]} |" for c in checks]
        lines.append("")
    lines += projection
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
