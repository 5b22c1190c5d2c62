"""Jobs: each module runs with `python -m reporting_seeder.jobs.<job>`."""
