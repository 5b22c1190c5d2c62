"""The static layer and the pure conventions, without Airflow."""

from __future__ import annotations

import pytest
from airflow_dag_publisher.policy.cluster_policy import dag_id_problem, image_problem, operator_allowed
from airflow_dag_publisher.validators.static import StaticContext, check_source
from hypothesis import given
from hypothesis import strategies as st

CTX = StaticContext("acme", frozenset({"billing"}), frozenset({"helpers"}))


def rules(source: str) -> set[tuple[str, str]]:
    return {(f.rule, f.severity) for f in check_source("f.py", source.encode(), CTX).findings}


@pytest.mark.parametrize("image", [
    "registry.example.com/acme/jobs:1.2.3",
    "registry.example.com:5000/acme/jobs:2026-11-27",
    "acme@sha256:" + "a" * 64,
    "registry.example.com/acme:1.0@sha256:" + "b" * 64,
])
def test_pinned_images_pass(image: str) -> None:
    assert image_problem(image) is None


@pytest.mark.parametrize("image, words", [
    ("registry.example.com/acme/jobs", "untagged"),
    ("registry.example.com:5000/acme/jobs", "untagged"),
    ("acme:latest", "latest"),
    ("acme@sha256:abc", "malformed digest"),
    ("", "no image"),
    (None, "no image"),
])
def test_unpinned_images_fail(image: object, words: str) -> None:
    problem = image_problem(image)
    assert problem is not None and words in problem


@given(st.from_regex(r"[a-z0-9]+(/[a-z0-9]+){0,2}", fullmatch=True),
       st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True))
def test_any_non_latest_tag_pins_an_image(name: str, tag: str) -> None:
    assert (image_problem(f"{name}:{tag}") is None) == (tag != "latest")


def test_dag_id_with_a_longer_package_prefix_belongs_to_that_package() -> None:
    assert dag_id_problem("acme_load", "acme", {"acme_ext"}) is None
    assert "acme_ext" in (dag_id_problem("acme_ext_load", "acme", {"acme_ext"}) or "")
    assert dag_id_problem("acme_ext_load", "acme_ext", {"acme"}) is None


def test_operator_allow_list_takes_class_names_or_paths() -> None:
    path = "airflow.providers.standard.operators.empty.EmptyOperator"
    assert operator_allowed(path, {"EmptyOperator"})
    assert operator_allowed(path, {path})
    assert not operator_allowed("x.PythonOperator", {path})


def test_module_level_airflow_access_is_an_error_and_other_work_a_warning() -> None:
    found = rules("from airflow.sdk import Variable\nimport time, requests\n"
                  "X = Variable.get('x')\ntime.sleep(1)\nR = requests.get('http://x')\n"
                  "def task():\n    Variable.get('fine inside a function')\n")
    assert found == {("module-level-variable", "error"), ("module-level-work", "warning")}


def test_hooks_built_at_module_level_are_errors_but_not_inside_tasks() -> None:
    assert ("module-level-hook", "error") in rules("h = S3Hook(aws_conn_id='x')\n")
    assert rules("def f():\n    return S3Hook(aws_conn_id='x')\n") == set()


def test_literal_kpo_arguments_are_checked() -> None:
    found = rules("KubernetesPodOperator(task_id='t', namespace='default', image='a:latest', "
                  "on_finish_action='keep_pod', get_logs=False, container_resources=None)\n")
    assert {r for r, _ in found} == {"kpo-namespace", "kpo-image", "kpo-on-finish-action", "kpo-get-logs",
                                     "kpo-resources"}


def test_missing_kpo_arguments_are_left_to_the_airflow_parse() -> None:
    # default_args may supply them: only the built operator tells
    assert rules("KubernetesPodOperator(task_id='t')\n") == set()


def test_decorated_dag_function_name_is_its_dag_id() -> None:
    result = check_source("f.py", b"@dag(schedule=None)\ndef nightly():\n    pass\n", CTX)
    assert result.dag_ids == ["nightly"]
    assert [f.rule for f in result.findings] == ["dag-id-prefix"]


def test_imports_of_other_packages_and_source_folder_modules_are_errors() -> None:
    found = rules("import billing.jobs\nfrom helpers import x\nfrom acme.helpers import y\nimport json\n")
    assert found == {("cross-package-import", "error"), ("source-relative-import", "error")}


def test_syntax_error_stops_the_file_with_one_error() -> None:
    result = check_source("f.py", b"def (:\n", CTX)
    assert [(f.rule, f.severity) for f in result.findings] == [("syntax", "error")]
    assert not result.parsed


def test_null_bytes_are_a_syntax_error() -> None:
    assert rules("x = 1\x00\n") == {("syntax", "error")}
