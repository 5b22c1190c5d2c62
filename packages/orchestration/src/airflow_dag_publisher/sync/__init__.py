"""`airflow-dag-sync`: mirrors one environment's published releases into an Airflow DAGs folder.

planner (pure decisions) -> fetch (S3 reads through storage) -> releases (local layout, symlink
swap) -> agent (the loop) -> main (flags, exit codes); metrics and state on the side.
"""
