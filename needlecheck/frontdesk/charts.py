"""The Overview page's plots as SVG, drawn on the server: no script, nothing to vendor.

Each plot is an `<svg role="img">` named by its `<title>` and described by its `<desc>`
(what it shows and its largest numbers, in words); the page puts its numbers in a table
beside it. Colours keep 3:1 or more against the white background (WCAG 1.4.11), and the
outcomes differ by pattern as well as by colour, with a legend (1.4.1). Only SVG
presentation attributes are used, never a `style` attribute, so the front desk's
Content-Security-Policy (no inline styles or scripts) holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

# (colour, pattern) per outcome; contrast against white in the comment.
OUTCOME_STYLES: dict[str, tuple[str, str]] = {
    "urgent_care": ("#b3261e", "lines"),  # 6.5:1
    "not_suitable": ("#6a1b9a", "stripes"),  # 9.5:1
    "defer": ("#1d4ed8", "dots"),  # 6.7:1
    "clinician_review": ("#a14a00", "cross"),  # 6.0:1
    "eligible": ("#15803d", "solid"),  # 5.0:1
    "unfinished": ("#5b6478", "backslash"),  # 6.0:1
}
BAR = "#2457c5"  # 6.3:1
INK = "#1d2433"
GRID = "#6b7386"  # 4.8:1
WIDTH = 720


def outcome_label(outcome: str) -> str:
    return outcome.replace("_", " ")


def _defs(prefix: str) -> str:
    """One <pattern> per outcome: its colour, and white marks that tell it apart."""
    marks = {
        "solid": "",
        "lines": '<path d="M0,2 h8 M0,6 h8" stroke="#fff" stroke-width="1.3"/>',
        "stripes": '<path d="M-1,1 l2,-2 M0,8 l8,-8 M7,9 l2,-2" stroke="#fff" stroke-width="2"/>',
        "dots": '<circle cx="4" cy="4" r="1.6" fill="#fff"/>',
        "cross": '<path d="M0,4 h8 M4,0 v8" stroke="#fff" stroke-width="1.4"/>',
        "backslash": '<path d="M-1,7 l2,2 M0,0 l8,8 M7,-1 l2,2" stroke="#fff" stroke-width="2"/>',
    }
    parts = []
    for outcome, (colour, mark) in OUTCOME_STYLES.items():
        parts.append(
            f'<pattern id="{prefix}-{outcome}" patternUnits="userSpaceOnUse" width="8" '
            f'height="8"><rect width="8" height="8" fill="{colour}"/>{marks[mark]}</pattern>'
        )
    return "<defs>" + "".join(parts) + "</defs>"


def _svg(chart_id: str, title: str, description: str, height: int, body: str) -> Markup:
    return Markup(
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'preserveAspectRatio="xMinYMin meet" font-family="system-ui, sans-serif" '
        f'font-size="13">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>{body}</svg>'
    )


def _ticks(top: int) -> list[int]:
    """Up to five round gridline values from 0 to at least `top`."""
    if top <= 0:
        return [0]
    step = 1
    for candidate in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        step = candidate
        if top / candidate <= 5:
            break
    else:
        step = -(-top // 5)
    return list(range(0, top + step, step))


def stacked_days(
    chart_id: str,
    title: str,
    days: Sequence[date],
    outcomes: Sequence[str],
    per_day: dict[date, dict[str, int]],
    description: str,
) -> Markup:
    """A column per day, stacked by outcome (in `outcomes`' order from the bottom)."""
    left, right, top, plot_height, legend = 48, 12, 12, 200, 44
    height = top + plot_height + 28 + legend
    totals = [sum(per_day[day].values()) for day in days]
    ticks = _ticks(max(totals, default=0))
    scale = plot_height / max(ticks[-1], 1)
    width = WIDTH - left - right
    slot = width / max(len(days), 1)
    bar = max(slot * 0.7, 1.0)
    body = [_defs(chart_id)]
    for tick in ticks:
        y = top + plot_height - tick * scale
        body.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="0.5"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">{tick}</text>'
        )
    # Label at most about 14 days along the axis, so that the dates never overlap.
    every = max(1, -(-len(days) // 14))
    for index, day in enumerate(days):
        x = left + index * slot + (slot - bar) / 2
        y = top + plot_height
        for outcome in outcomes:
            count = per_day[day].get(outcome, 0)
            if not count:
                continue
            h = count * scale
            y -= h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="url(#{chart_id}-{outcome})" stroke="#fff" stroke-width="0.75">'
                f"<title>{day.isoformat()}: {count} {escape(outcome_label(outcome))}</title>"
                f"</rect>"
            )
        if index % every == 0:
            body.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_height + 18}" text-anchor="middle" '
                f'fill="{INK}">{day.strftime("%d %b")}</text>'
            )
    body.append(
        f'<line x1="{left}" x2="{WIDTH - right}" y1="{top + plot_height}" '
        f'y2="{top + plot_height}" stroke="{INK}"/>'
    )
    # The legend: a swatch with its pattern, then the name.
    x, y = left, top + plot_height + 40
    for outcome in outcomes:
        label = outcome_label(outcome)
        body.append(
            f'<rect x="{x}" y="{y - 11}" width="14" height="14" fill="url(#{chart_id}-{outcome})" '
            f'stroke="{INK}" stroke-width="0.5"/><text x="{x + 19}" y="{y}" fill="{INK}">'
            f"{escape(label)}</text>"
        )
        x += 28 + len(label) * 7.2
        if x > WIDTH - 120:
            x, y = left, y + 20
    return _svg(chart_id, title, description, height, "".join(body))


def bars(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, int]],
    description: str,
    note: Sequence[str] | None = None,
    label_width: int = 240,
) -> Markup:
    """Horizontal bars, one per row, each labelled with its name and its number."""
    row_height, top = 24, 6
    height = top + max(len(rows), 1) * row_height + 6
    most = max((value for _, value in rows), default=0)
    width = WIDTH - label_width - 90
    body = []
    for index, (label, value) in enumerate(rows):
        y = top + index * row_height
        w = (value / most * width) if most else 0
        extra = f" {note[index]}" if note else ""
        body.append(
            f'<text x="{label_width - 8}" y="{y + 16}" text-anchor="end" fill="{INK}">'
            f"{escape(label)}</text>"
            f'<rect x="{label_width}" y="{y + 4}" width="{w:.1f}" height="{row_height - 8}" '
            f'fill="{BAR}"/>'
            f'<text x="{label_width + w + 6:.1f}" y="{y + 16}" fill="{INK}">'
            f"{value}{escape(extra)}</text>"
        )
    if not rows:
        body.append(f'<text x="8" y="22" fill="{INK}">Nothing in this range.</text>')
    body.append(
        f'<line x1="{label_width}" x2="{label_width}" y1="{top}" y2="{height - 6}" stroke="{INK}"/>'
    )
    return _svg(chart_id, title, description, height, "".join(body))
