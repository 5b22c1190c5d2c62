"""The cluster policies: one source of the rules Airflow enforces when it parses a DAG and the
validator runs before a publish.

- `cluster_policy`: the rules and Airflow's `dag_policy`/`task_policy` hooks, self-contained
  (standard library, plus Airflow where a policy raises) because it is embedded verbatim into
  Airflow's `airflow_local_settings.py`;
- `package_list`: reads `infra/airflow/packages.yaml` into the data the rules need;
- `local_settings`: renders `airflow_local_settings.py` from both and writes it into the Helm
  values' `airflowLocalSettings` (`python -m airflow_dag_publisher.policy.local_settings`).
"""
