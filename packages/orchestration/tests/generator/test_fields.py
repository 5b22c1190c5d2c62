"""Single-value checks: Kubernetes quantities, labels, images, durations (schedules: test_schedule.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from airflow_dag_publisher.generator import fields
from airflow_dag_publisher.policy.cluster_policy import image_problem


@pytest.mark.parametrize(("text", "value"), [("250m", Decimal("0.25")), ("1", Decimal(1)), ("1.5", Decimal("1.5")),
                                             ("512Mi", Decimal(512 * 2**20)), ("2Gi", Decimal(2 * 2**30)),
                                             ("1e3", Decimal(1000)), ("128M", Decimal(128 * 10**6)),
                                             (".5", Decimal("0.5"))])
def test_quantities_parse_to_their_value(text: str, value: Decimal) -> None:
    assert fields.parse_quantity(text) == value


@pytest.mark.parametrize(("text", "resource", "message"), [
    ("abc", "cpu", "is not a Kubernetes quantity"),
    ("1 Gi", "memory", "is not a Kubernetes quantity"),
    ("-1", "cpu", "is not a Kubernetes quantity"),
    ("0", "cpu", "must be greater than zero"),
    ("0.5m", "cpu", "less than the smallest CPU amount"),
    ("512m", "memory", "did you mean '512Mi'?"),
    ("1000", "memory", "is less than 1Mi"),
    ("1GB", "memory", "is not a Kubernetes quantity"),
])
def test_bad_quantities_are_explained(text: str, resource: str, message: str) -> None:
    problem = fields.quantity_problem(text, resource)
    assert problem is not None and message in problem


@pytest.mark.parametrize("key", ["team", "app.kubernetes.io/name", "a", "x_y-z.1"])
def test_valid_label_keys_pass(key: str) -> None:
    assert fields.label_key_problem(key) is None


@pytest.mark.parametrize("key", ["", "-team", "team-", "a" * 64, "Bad_Prefix/x", "/x", "a/b/c", "sp ace"])
def test_invalid_label_keys_are_refused(key: str) -> None:
    assert fields.label_key_problem(key) is not None


@pytest.mark.parametrize(("value", "ok"), [("", True), ("gold", True), ("a" * 63, True), ("a" * 64, False),
                                           ("-x", False), ("x y", False)])
def test_label_values_follow_kubernetes_rules(value: str, ok: bool) -> None:
    assert (fields.label_value_problem(value) is None) is ok


@pytest.mark.parametrize(("image", "message"), [
    ("registry.example.com/team/app:1.2.3", None),
    ("localhost:5000/app:dev-1", None),
    ("app@sha256:" + "0" * 64, None),
    ("registry.example.com/team/app", "is untagged"),
    ("registry.example.com/team/app:latest", "uses the tag 'latest'"),
    ("Registry/App:1", "is not a container image reference"),
    ("app:1 2", "is not a container image reference"),
    ("app@sha256:abc", "malformed digest"),
    ("app:", "empty tag"),
])
def test_images_must_be_pinned_references(image: str, message: str | None) -> None:
    problem = image_problem(image)  # the cluster policy's rule: generator, validator and Airflow agree
    assert problem is None if message is None else (problem is not None and message in problem)


@pytest.mark.parametrize(("value", "seconds"), [(90, 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("2d", 172800),
                                                ("", None), ("5x", None), (-1, None), (True, None), (1.5, None)])
def test_durations_accept_seconds_or_units(value: object, seconds: int | None) -> None:
    assert fields.parse_duration(value) == seconds


@pytest.mark.parametrize(("name", "ok"), [("load", True), ("job_01", True), ("class", False), ("k8s", False),
                                          ("timedelta", False), ("1job", False), ("Job", False)])
def test_job_names_must_be_safe_python_names(name: str, ok: bool) -> None:
    assert (fields.job_name_problem(name) is None) is ok
