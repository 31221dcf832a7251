"""``web/_status/index.html``: where the mirror stands, for a person with a browser or a phone.

Pure: the status document (what ``web/_status/status.json`` holds: the keys of ``status --json``
and a few more) and the last runs in, HTML out. Static and self-contained: inline CSS and inline
SVG plots, no JavaScript, no external asset, a viewport meta and fluid widths for phones. Every
plot names itself (``<title>``, ``<desc>``, ``aria-labelledby``) and has a text summary beside it.
Every text and attribute goes through ``html.escape``.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from ..history import RunPoint

__all__ = ["Plot", "plots", "render_status_page", "svg_plot"]

WIDTH, HEIGHT, PAD, LEFT = 600, 200, 28, 96  # the plots' viewBox (LEFT: the axis labels); scaled to the page
FONT = 18  # in viewBox units: about 12 px when a phone shows the plot 400 px wide

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;padding:1rem;max-width:60rem;
color:#1b1b1b;background:#fff;line-height:1.4}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.15rem;margin-top:1.6rem}
.state{display:inline-block;padding:.15rem .6rem;border-radius:.3rem;font-weight:bold}
.healthy{background:#d7f5dd;color:#0b5d1e}.unhealthy{background:#fde0df;color:#8a1c14}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dt{font-weight:600}dd{margin:0}
#owed{padding-left:1.2rem}#owed li{margin-bottom:.6rem}.error{font-size:.9rem;color:#5a1a14;overflow-wrap:anywhere}
figure{margin:1rem 0}svg{width:100%;height:auto;display:block;background:#fafafa;border:1px solid #e3e3e3}
figcaption{font-size:.9rem;color:#444}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));
gap:0 1.5rem}
"""


def _count(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _bytes(value: Optional[float]) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size < 1000 or unit == "PB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    if value < 172800:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} days"


class Plot:
    """One plot: its id, title, what it shows, the values (one per run) and how to show one."""

    def __init__(
        self, key: str, title: str, desc: str, values: list[Optional[float]], show: Callable[[Optional[float]], str],
        span: tuple[str, str] = ("", ""),
    ) -> None:  # fmt: skip
        self.key, self.title, self.desc, self.values, self.show = key, title, desc, values, show
        self.span = span  # when the first and the last run finished, under the plot's ends


def plots(runs: Sequence[RunPoint]) -> list[Plot]:
    """The four plots over the last runs: lag, bytes per run, duration, size of the mirror."""
    span = (runs[0].finished[:16].replace("T", " "), runs[-1].finished[:16].replace("T", " ")) if runs else ("", "")
    return [
        Plot("lag", "Lag behind the master (serials)", "serials the mirror was behind after each run",
             [point.lag for point in runs], _count, span),
        Plot("bytes", "Downloaded per run", "bytes each run downloaded", [point.bytes for point in runs], _bytes, span),
        Plot("duration", "Run duration", "seconds each run took", [point.duration for point in runs], _seconds, span),
        Plot("size", "Size of the mirror", "bytes of release files on the mirror after each run",
             [point.mirror_bytes for point in runs], _bytes, span),
    ]  # fmt: skip


def svg_plot(plot: Plot) -> str:
    """An inline SVG line plot with a circle per known value (runs left to right, oldest first)."""
    known = [(index, value) for index, value in enumerate(plot.values) if value is not None]
    title_id, desc_id = f"plot-{plot.key}-title", f"plot-{plot.key}-desc"
    low = min((value for _, value in known), default=0.0)
    high = max((value for _, value in known), default=0.0)
    low = min(low, 0.0)
    span = (high - low) or 1.0
    steps = max(len(plot.values) - 1, 1)

    def x(index: int) -> float:
        return LEFT + (WIDTH - LEFT - PAD / 2) * (index / steps if len(plot.values) > 1 else 0.5)

    def y(value: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value - low) / span

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in known)
    circles = "".join(
        f'<circle class="point" cx="{x(i):.1f}" cy="{y(v):.1f}" r="4" fill="#1f5fbf" data-value="{escape(repr(v))}"/>'
        for i, v in known
    )
    desc = f"{plot.desc}, over the last {len(plot.values)} runs"
    top = (  # the highest value's label, unless it is the lowest's too
        f'<text x="{LEFT - 6}" y="{y(high) + FONT / 3:.0f}" font-size="{FONT}" fill="#444" text-anchor="end">'
        f"{escape(plot.show(high))}</text>"
    ) if high != low else ""
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{title_id} {desc_id}" '
        f'data-plot="{escape(plot.key)}" data-points="{len(known)}">'
        f'<title id="{title_id}">{escape(plot.title)}</title><desc id="{desc_id}">{escape(desc)}</desc>'
        f'<line x1="{LEFT}" y1="{y(low):.1f}" x2="{WIDTH - PAD / 2}" y2="{y(low):.1f}" stroke="#999"/>'
        f'<line x1="{LEFT}" y1="{y(high):.1f}" x2="{WIDTH - PAD / 2}" y2="{y(high):.1f}" stroke="#ddd"/>'
        f"{top}"
        f'<text x="{LEFT - 6}" y="{y(low) + FONT / 3:.0f}" font-size="{FONT}" fill="#444" text-anchor="end">'
        f"{escape(plot.show(low))}</text>"
        f'<text x="{LEFT}" y="{HEIGHT - 6}" font-size="{FONT}" fill="#444">{escape(plot.span[0])}</text>'
        f'<text x="{WIDTH - PAD / 2}" y="{HEIGHT - 6}" font-size="{FONT}" fill="#444" text-anchor="end">'
        f"{escape(plot.span[1])}</text>"
        f'<polyline fill="none" stroke="#1f5fbf" stroke-width="3" points="{points}"/>{circles}</svg>'
    )


def _summary(plot: Plot) -> str:
    known = [value for value in plot.values if value is not None]
    if not known:
        return f"{plot.title}: no runs recorded yet."
    return (
        f"{plot.title}: last {plot.show(known[-1])}, lowest {plot.show(min(known))}, "
        f"highest {plot.show(max(known))} over {len(known)} runs."
    )


def _fact(key: str, label: str, value: str) -> str:
    return f'<dt>{escape(label)}</dt><dd data-fact="{escape(key)}">{escape(value)}</dd>'


def _shown(value: Any) -> str:
    return "-" if value is None else str(value)


def _facts(document: dict[str, Any]) -> str:
    last = document.get("last_run") or {}
    mirror = document.get("mirror") or {}
    rows = [
        _fact("serial", "Serial", _shown(document.get("serial"))),
        _fact("master_serial", "Master serial", _shown(document.get("master_serial"))),
        _fact("lag", "Lag (serials)", _shown(document.get("lag"))),
        _fact("last_run.result", "Last run", _shown(last.get("result"))),
        _fact("last_run.started", "Started", _shown(last.get("started"))),
        _fact("last_run.finished", "Finished", _shown(last.get("finished"))),
        _fact("last_success", "Last success", _shown(document.get("last_success"))),
        _fact("owed", "Owed projects", str(len(document.get("owed") or []))),
        _fact("mirror.projects", "Projects", _count(mirror.get("projects"))),
        _fact("mirror.files", "Files", _count(mirror.get("files"))),
        _fact("mirror.bytes", "Size", _bytes(mirror.get("bytes"))),
    ]
    if last.get("error"):
        rows.append(_fact("last_run.error", "Error", str(last["error"])))
    return "<dl>" + "".join(rows) + "</dl>"


def _owed(owed: list[dict[str, Any]]) -> str:
    """One item per project (a table's five columns would not fit a phone's width)."""
    if not owed:
        return "<p>None: every project is at its serial.</p>"
    items = "".join(
        f'<li><strong>{escape(_shown(entry.get("project")))}</strong> (serial {escape(_shown(entry.get("serial")))}, '
        f'{escape(_shown(entry.get("attempts")))} attempts, failing since {escape(_shown(entry.get("first_failure")))})'
        f'<br><span class="error">{escape(_shown(entry.get("error") or "not attempted yet"))}</span></li>'
        for entry in owed
    )
    return f'<ul id="owed">{items}</ul>'


def render_status_page(document: dict[str, Any], runs: Sequence[RunPoint]) -> str:
    """The whole page: the facts, the owed projects, the plots with their summaries."""
    healthy = bool(document.get("healthy"))
    state = '<span class="state healthy">Healthy</span>' if healthy else '<span class="state unhealthy">NOT healthy</span>'
    figures = "".join(
        f'<figure>{svg_plot(plot)}<figcaption>{escape(_summary(plot))}</figcaption></figure>' for plot in plots(runs)
    )
    generated = escape(_shown(document.get("generated")))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>PyPI mirror status</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>PyPI mirror status</h1><p>{state} "
        f'<small>written <time data-fact="generated">{generated}</time> by bandersnatch '
        f"{escape(_shown(document.get('version')))}</small></p></header>"
        f"<main><section><h2>Where the mirror stands</h2>{_facts(document)}</section>"
        f"<section><h2>Owed projects</h2>{_owed(list(document.get('owed') or []))}</section>"
        f'<section><h2>The last runs</h2><div class="grid">{figures}</div></section></main>'
        '<footer><p><a href="status.json">status.json</a></p></footer></body></html>\n'
    )
