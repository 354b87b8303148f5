"""Temporal workflows: one per Community Trigger case (and, later, per appeal). Orchestration only."""

from typing import Any

ALL_WORKFLOWS: list[type[Any]] = []
