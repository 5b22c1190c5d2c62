"""The reports this package maintains: each a pure function from the seed data to rows."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]

# The seed data: (day, customer, product, quantity, unit price in cents). A real job would query a
# warehouse; the example keeps it in the package so its pod runs without any service.
SALES: tuple[tuple[str, str, str, int, int], ...] = (
    ("2026-01-01", "acme", "widget", 3, 1250),
    ("2026-01-01", "globex", "gadget", 1, 9900),
    ("2026-01-02", "acme", "gadget", 2, 9900),
    ("2026-01-02", "initech", "widget", 10, 1200),
    ("2026-01-03", "globex", "widget", 5, 1250),
    ("2026-01-03", "acme", "gizmo", 1, 45000),
)


def daily_revenue(sales: tuple[tuple[str, str, str, int, int], ...]) -> list[Row]:
    totals: dict[str, int] = defaultdict(int)
    for day, _customer, _product, quantity, price in sales:
        totals[day] += quantity * price
    return [{"day": day, "revenue_cents": cents} for day, cents in sorted(totals.items())]


def top_products(sales: tuple[tuple[str, str, str, int, int], ...]) -> list[Row]:
    units: Counter[str] = Counter()
    for _day, _customer, product, quantity, _price in sales:
        units[product] += quantity
    ranked = sorted(units.items(), key=lambda item: (-item[1], item[0]))
    return [{"rank": i, "product": p, "units": n} for i, (p, n) in enumerate(ranked, start=1)]


def active_customers(sales: tuple[tuple[str, str, str, int, int], ...]) -> list[Row]:
    days: dict[str, set[str]] = defaultdict(set)
    for day, customer, _product, _quantity, _price in sales:
        days[customer].add(day)
    return [{"customer": c, "active_days": len(d), "last_day": max(d)} for c, d in sorted(days.items())]


@dataclass(frozen=True)
class Report:
    name: str
    build: Callable[[tuple[tuple[str, str, str, int, int], ...]], list[Row]]


REPORTS: dict[str, Report] = {
    r.name: r
    for r in (
        Report("daily_revenue", daily_revenue),
        Report("top_products", top_products),
        Report("active_customers", active_customers),
    )
}
