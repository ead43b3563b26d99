"""Prefect flows: thin, they call tasks. ``deployments.py`` holds the schedules."""
