"""The growth sentences under the plot: their words follow the numbers (pure, no S3)."""

from __future__ import annotations

from bench.growth import _growth


def test_a_figure_that_barely_moves_stays_flat() -> None:
    assert _growth([(100, 3.0), (3000, 3.0)], "requests").startswith("stays flat (3 → 3, x1.0)")


def test_a_figure_that_follows_the_package_count_grows_with_the_packages() -> None:
    text = _growth([(100, 0.79), (3000, 24.0)], "s")
    assert text.startswith("grows with the packages (") and text.endswith(", x30.4)")


def test_a_figure_that_grows_slower_than_the_packages_says_so() -> None:
    assert _growth([(100, 0.38), (3000, 2.79)], "s").startswith("grows less than the packages (")


def test_a_zero_start_is_not_a_division_error() -> None:
    assert _growth([(100, 0.0), (3000, 2.0)], "s").startswith("grows from nothing (")
    assert _growth([(100, 0.0), (3000, 0.0)], "requests") == "stays flat (0 → 0)"
