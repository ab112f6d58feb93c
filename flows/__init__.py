"""Prefect flows and tasks that wire the rooms together. Thin: the logic lives in flows.steps and below."""
