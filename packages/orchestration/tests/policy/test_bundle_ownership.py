"""With one bundle per package, the shipped cluster policy reads a DAG's package from the bundle Airflow
is parsing (its name), not from the DAG's fileloc, which the module sets through `__file__`: Airflow's
own DagBag (what the dag-processor and a task run per file) over a release root of bundle `alpha`,
in a subprocess with the generated airflow_local_settings.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_dag_publisher.policy.local_settings import render
from airflow_dag_publisher.policy.package_list import cluster_from

from devstack.dagfiles import kpo_dag

pytestmark = pytest.mark.slow
CLUSTER = {"allowed_registries": ["registry.example.com"],
           "packages": [{"name": "alpha"}, {"name": "beta", "service_account": "beta-jobs"}]}

SCRIPT = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
root, name, rel = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
bag = BundleDagBag(dag_folder=str(root / rel), bundle_path=root, bundle_name=name, load_op_links=False)
print(json.dumps({"dags": sorted(bag.dags), "errors": bag.import_errors}))
"""


def parse(tmp_path: Path, bundle: str, files: dict[str, str], rel: str) -> dict[str, object]:
    home = tmp_path / "airflow-home"
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "airflow_local_settings.py").write_text(render(cluster_from(CLUSTER, "test")))
    root = tmp_path / "releases" / bundle / "20260101T000000Z-000000000001"  # a release root: <root>/<package>/
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__UNIT_TEST_MODE": "False"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(root), bundle, rel], env=env, capture_output=True,
                          text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


TRICK = ("import os\n__file__ = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "
         "'beta', 'alpha_trick.py')\n")


def test_a_file_of_bundle_alpha_cannot_say_it_is_betas(tmp_path: Path) -> None:
    dag = kpo_dag("beta", "stolen").replace("from __future__ import annotations\n", "")
    result = parse(tmp_path, "alpha", {"alpha/alpha_trick.py": TRICK + dag},
                   "alpha/alpha_trick.py")
    assert result["dags"] == []
    (error,) = dict(result["errors"]).values()  # type: ignore[call-overload]
    assert "cluster policy rule dag-id-prefix" in error
    assert "dag_id 'beta_stolen' does not start with 'alpha_', the prefix of package 'alpha'" in error


def test_a_bundles_own_dag_is_accepted(tmp_path: Path) -> None:
    result = parse(tmp_path, "alpha", {"alpha/alpha_daily.py": kpo_dag("alpha", "daily")}, "alpha/alpha_daily.py")
    assert result == {"dags": ["alpha_daily"], "errors": {}}
