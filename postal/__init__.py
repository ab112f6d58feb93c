"""Roster, routing, replies and paper: the program's rules. No Prefect, no web app."""
