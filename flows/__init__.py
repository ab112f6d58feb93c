"""Prefect only: the flows, tasks and deployments that call `letters` and `intake`; thin wiring."""
