"""One validation run of each corpus, shared by every test of this folder (an Airflow parse costs
seconds of worker start-up)."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_dag_publisher.validators import ValidationReport, validate_source

CORPUS = Path(__file__).parent / "corpus"
BROKEN = CORPUS / "broken"
GOOD = CORPUS / "good"
OTHER_PACKAGES = {"billing", "acme_ext"}
TEST_TIMEOUT = 1.5  # seconds per file: the hanging files of the corpus cost this, not Airflow's 30 s


@pytest.fixture(scope="session")
def broken_report() -> ValidationReport:
    return validate_source(BROKEN, "acme", other_packages=OTHER_PACKAGES, timeout=TEST_TIMEOUT, workers=2)


@pytest.fixture(scope="session")
def good_report() -> ValidationReport:
    return validate_source(GOOD, "acme", other_packages=OTHER_PACKAGES, timeout=TEST_TIMEOUT)
