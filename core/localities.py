"""Loads every locality's policy file at start-up; one bad file stops start-up with a message naming it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from domain.policy import LocalityPolicy, PolicyError, parse_policy


def load_policies(directory: Path) -> dict[str, LocalityPolicy]:
    """Every `*.toml` in `directory`, keyed by locality; raises PolicyError on the first bad file."""
    if not directory.is_dir():
        raise PolicyError(f"{directory}: the localities folder does not exist")
    policies: dict[str, LocalityPolicy] = {}
    codes: dict[str, str] = {}
    for path in sorted(directory.glob("*.toml")):
        policy = parse_policy(path.read_text(encoding="utf-8"), source=str(path))
        if policy.key != path.stem:
            raise PolicyError(f"{path}: key: must be the file's name {path.stem!r}, not {policy.key!r}")
        if policy.code in codes:
            raise PolicyError(f"{path}: code: {policy.code!r} is already used by {codes[policy.code]!r}")
        codes[policy.code] = policy.key
        policies[policy.key] = policy
    if not policies:
        raise PolicyError(f"{directory}: no locality policy files (*.toml) found")
    return policies


@lru_cache
def policies_from(directory: Path) -> dict[str, LocalityPolicy]:
    """Cached `load_policies`, for processes that load the folder once at start-up."""
    return load_policies(directory)
