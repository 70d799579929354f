"""The Overview page (clinicians): the clinic's screenings, funnel, channels, time to
first contact and rules over a date range, as SVG plots with their numbers, and a CSV of
each plot."""

from __future__ import annotations

import csv
import io
import time
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from needlecheck.config import Settings
from needlecheck.frontdesk import charts, clock
from needlecheck.frontdesk.deps import Clinician, DatabaseDep, SettingsDep, render
from needlecheck.store import overview as overview_store

router = APIRouter()

DEFAULT_DAYS = 7
# A year and a day: the longest range the page draws (a column per day).
LONGEST_RANGE = 366
PLOTS = ("per_day", "funnel", "channels", "first_contact", "rules")


def date_range(settings: Settings, start: date | None, end: date | None) -> tuple[date, date]:
    """From/to as asked; by default the last 7 days up to today where the clinic is."""
    end = end or (start + timedelta(days=DEFAULT_DAYS - 1) if start else settings.today())
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise HTTPException(422, "the range starts after it ends")
    if (end - start).days + 1 > LONGEST_RANGE:
        raise HTTPException(422, f"the range is longer than {LONGEST_RANGE} days")
    return start, end


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "no follow-up yet"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours / 24:.1f} days"


def tables(numbers: overview_store.Overview) -> dict[str, dict[str, Any]]:
    """Each plot's numbers: a caption, column names and rows (the tables and the CSVs)."""
    outcomes = numbers.outcomes
    started = next((n for key, _, n in numbers.funnel if key == "started"), 0)
    return {
        "per_day": {
            "caption": "Screenings per day by outcome",
            "columns": ["date", *outcomes, "total"],
            "rows": [
                [
                    day.isoformat(),
                    *(numbers.per_day[day][o] for o in outcomes),
                    sum(numbers.per_day[day].values()),
                ]
                for day in numbers.days
            ],
        },
        "funnel": {
            "caption": "Where people drop off (conversations reaching each step)",
            "columns": ["step", "conversations", "percent_of_started"],
            "rows": [
                [label, n, f"{100 * n / started:.0f}" if started else ""]
                for _, label, n in numbers.funnel
            ],
        },
        "channels": {
            "caption": "Screenings by channel",
            "columns": ["channel", "screenings"],
            "rows": [[channel, n] for channel, n in numbers.channels],
        },
        "first_contact": {
            "caption": "Time from a screening to the staff's first follow-up",
            "columns": ["time to first follow-up", "screenings"],
            "rows": [[label, n] for label, n in numbers.contact_times],
        },
        "rules": {
            "caption": f"The {overview_store.TOP_RULES} rules that fired most",
            "columns": ["rule", "findings"],
            "rows": [[rule, n] for rule, n in numbers.rules],
        },
    }


def _top(rows: list[tuple[str, int]], what: str) -> str:
    if not rows:
        return f"No {what} in this range."
    named = ", ".join(f"{label} {n}" for label, n in rows[:3])
    return f"Most: {named}."


def plots(numbers: overview_store.Overview) -> dict[str, Any]:
    outcomes = numbers.outcomes
    totals = {o: sum(numbers.per_day[d][o] for d in numbers.days) for o in outcomes}
    busiest = max(numbers.days, key=lambda d: sum(numbers.per_day[d].values()))
    started = next((n for key, _, n in numbers.funnel if key == "started"), 0)
    percent = [f"({100 * n / started:.0f}%)" if started else "" for _, _, n in numbers.funnel]
    return {
        "per_day": charts.stacked_days(
            "plot-per-day",
            "Screenings per day by outcome",
            numbers.days,
            outcomes,
            numbers.per_day,
            f"{numbers.screenings} screenings from {numbers.start} to {numbers.end}; "
            + ", ".join(f"{charts.outcome_label(o)} {totals[o]}" for o in outcomes)
            + f". The busiest day was {busiest} with "
            f"{sum(numbers.per_day[busiest].values())}.",
        ),
        "funnel": charts.bars(
            "plot-funnel",
            "Where people drop off",
            [(label.replace("Reached: ", ""), n) for _, label, n in numbers.funnel],
            f"{started} conversations started; "
            + "; ".join(f"{label} {n}" for _, label, n in numbers.funnel[1:2])
            + "; "
            + "; ".join(f"{label} {n}" for _, label, n in numbers.funnel[-3:])
            + ". The table below has every step.",
            note=percent,
            label_width=300,
        ),
        "channels": charts.bars(
            "plot-channels",
            "Screenings by channel",
            numbers.channels,
            _top(numbers.channels, "screenings"),
            label_width=160,
        ),
        "first_contact": charts.bars(
            "plot-first-contact",
            "Time from a screening to the staff's first follow-up",
            numbers.contact_times,
            f"Median {duration(numbers.median_contact_seconds)} over "
            f"{numbers.contacted} screenings followed up; "
            + ", ".join(f"{label} {n}" for label, n in numbers.contact_times)
            + ".",
            label_width=200,
        ),
        "rules": charts.bars(
            "plot-rules",
            "The rules that fire most",
            numbers.rules,
            _top(numbers.rules, "findings"),
            label_width=200,
        ),
    }


def _numbers(
    db: DatabaseDep, settings: Settings, start: date | None, end: date | None
) -> overview_store.Overview:
    first, last = date_range(settings, start, end)
    with db.transaction() as session:
        return overview_store.overview(session, first, last, clock.clinic_zone(settings))


@router.get("/overview", response_class=HTMLResponse, include_in_schema=False)
def overview_page(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    who: Clinician,
    start: date | None = Query(None, alias="from"),
    end: date | None = Query(None, alias="to"),
) -> Response:
    began = time.perf_counter()
    numbers = _numbers(db, settings, start, end)
    queried = time.perf_counter()
    response = render(
        request,
        "overview.html",
        who=who,
        numbers=numbers,
        plots=plots(numbers),
        tables=tables(numbers),
        median=duration(numbers.median_contact_seconds),
        query=f"from={numbers.start.isoformat()}&to={numbers.end.isoformat()}",
    )
    done = time.perf_counter()
    # What the page cost on the server, for the browser's devtools and the tests.
    response.headers["Server-Timing"] = (
        f"db;dur={1000 * (queried - began):.1f}, render;dur={1000 * (done - queried):.1f}"
    )
    return response


@router.get("/overview/{plot}.csv", include_in_schema=False)
def overview_csv(
    plot: str,
    db: DatabaseDep,
    settings: SettingsDep,
    who: Clinician,
    start: date | None = Query(None, alias="from"),
    end: date | None = Query(None, alias="to"),
) -> Response:
    if plot not in PLOTS:
        raise HTTPException(404, "no such plot")
    numbers = _numbers(db, settings, start, end)
    table = tables(numbers)[plot]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table["columns"])
    writer.writerows(table["rows"])
    name = f"overview-{plot}-{numbers.start.isoformat()}-{numbers.end.isoformat()}.csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
