"""Jobs: each module runs with `python -m pipeline_processing.jobs.<job>`."""
