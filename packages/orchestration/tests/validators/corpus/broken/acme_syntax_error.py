from airflow.sdk import DAG

with DAG(dag_id="acme_syntax_error" schedule=None) as dag:
    pass
