from __future__ import annotations

import pytest
from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.names import check_bucket, check_env, check_package, dag_id_belongs_to, path_problem


@pytest.mark.parametrize("path", ["a.py", "sub/helper.py", "a/b/c/d/e/f/g/h.py", ".airflowignore"])
def test_safe_paths_are_accepted(path: str) -> None:
    assert path_problem(path) is None


@pytest.mark.parametrize(
    "path",
    ["", "/etc/passwd", "../x.py", "a/../b.py", "a//b.py", "./a.py", "a\\b.py", "a\x00b.py", "a\nb.py",
     "a/b/c/d/e/f/g/h/i.py", "a/"],
)
def test_unsafe_paths_are_refused(path: str) -> None:
    assert path_problem(path) is not None


def test_names_are_checked_with_the_option_named() -> None:
    with pytest.raises(UsageError, match="--env 'Prod'"):
        check_env("Prod")
    with pytest.raises(UsageError, match="--package 'my-pkg'"):
        check_package("my-pkg")
    with pytest.raises(UsageError, match="PACKAGE_NAME"):
        check_package(None)


def test_longer_package_prefix_wins_dag_id_ownership() -> None:
    assert dag_id_belongs_to("alpha_job", "alpha", {"alpha", "alpha_ext"})
    assert not dag_id_belongs_to("alpha_ext_job", "alpha", {"alpha", "alpha_ext"})
    assert dag_id_belongs_to("alpha_ext_job", "alpha_ext", {"alpha", "alpha_ext"})
    assert not dag_id_belongs_to("beta_job", "alpha")


def test_a_missing_bucket_names_the_environment_variable_of_the_tool() -> None:
    with pytest.raises(UsageError, match=r"--bucket is required \(or set DAG_BUCKET\)"):
        check_bucket(None)
    with pytest.raises(UsageError, match=r"--bucket is required \(or set DAGSYNC_BUCKET\)"):
        check_bucket("", "--bucket", "DAGSYNC_BUCKET")
