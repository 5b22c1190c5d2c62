"""A DAG's `schedule` string judged the way Airflow 3 judges it, with Airflow's own cron parser.

`DAG(schedule="...")` turns `@once` and `@continuous` into their own timetables and any other string
into a `CronTriggerTimetable` (or `CronDataIntervalTimetable`), which replaces a preset by its cron
expression (`CRON_PRESETS`) and validates the result with `croniter(expression)`; the DagBag calls
that validation before it accepts a DAG. Doing the same here, with the same croniter Airflow
installs, accepts every schedule Airflow accepts (`0 0 L * *`, `0 9 * * 1#1`, `0 0 ? * *`, six and
seven fields, croniter's own `@midnight`) and refuses every one it refuses, without importing Airflow.
"""

from __future__ import annotations

import re

from croniter import croniter

# airflow.sdk.definitions.timetables._cron.CRON_PRESETS (and airflow.utils.dates.cron_presets) in Airflow 3.3.
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}
# Strings DAG() turns into a timetable of their own before any cron parsing.
SPECIAL_SCHEDULES = ("@once", "@continuous")
PRESETS = (*CRON_PRESETS, *SPECIAL_SCHEDULES)
# croniter's fields: the classic five, then seconds and year (`second_at_beginning=False`, as Airflow calls it).
CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week", "second", "year")
_EXPRESSION_PREFIX = re.compile(r"^\[[^\]]*\]\s*")


def normalise_schedule(schedule: str) -> str:
    """The schedule as the generated file writes it: words separated by one space."""
    return " ".join(schedule.split())


def schedule_problem(schedule: str) -> str | None:
    """Why Airflow would refuse `schedule` as a DAG's schedule string (None if it accepts it)."""
    if schedule in SPECIAL_SCHEDULES:
        return None
    expression = CRON_PRESETS.get(schedule, schedule)
    reason = _croniter_refusal(expression)
    if reason is None:
        return None
    if schedule.startswith("@"):
        return f"unknown preset {schedule!r} (Airflow knows {', '.join(PRESETS)})"
    fields = expression.split()
    if not 5 <= len(fields) <= len(CRON_FIELDS):
        count = f"{len(fields)} field{'' if len(fields) == 1 else 's'}"
        return (f"cron expression {schedule!r} has {count}; Airflow takes 5 "
                "(minute hour day-of-month month day-of-week), optionally followed by seconds and a year")
    culprits = [f"{CRON_FIELDS[i]} field {text!r}{' ' if why.startswith('is ') else ': '}{why}"
                for i, text in enumerate(fields)
                if (why := _croniter_refusal(" ".join(text if j == i else "*" for j in range(len(fields)))))]
    detail = "; ".join(culprits) if culprits else reason
    return f"cron expression {schedule!r} is refused by Airflow's cron parser (croniter): {detail}"


def _croniter_refusal(expression: str) -> str | None:
    """croniter's reason for refusing `expression`, without the expression it repeats, or None."""
    try:
        croniter(expression)
    except Exception as exc:  # Airflow's DagBag turns any exception of this validation into an import error
        return _EXPRESSION_PREFIX.sub("", str(exc)) or type(exc).__name__
    return None
