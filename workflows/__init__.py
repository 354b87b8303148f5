"""Temporal workflows: one per Community Trigger case (and, later, per appeal). Orchestration only."""
