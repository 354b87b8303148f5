"""Loads every locality's policy file at start-up; one bad file stops start-up with a message naming it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from domain.figures import areas_of
from domain.policy import AppealChairList, LocalityPolicy, PolicyError, parse_chair_list, parse_policy

# Shared lists of people who may hear appeals, named by a policy's `[appeal] chair_list`.
CHAIR_LISTS = "appeal-chairs"


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
        policies[policy.key] = _with_chairs(policy, directory, path)
    if not policies:
        raise PolicyError(f"{directory}: no locality policy files (*.toml) found")
    try:
        areas_of(policies)  # the combined areas' councils must agree on the area's name and year
    except ValueError as error:
        raise PolicyError(f"{directory}: {error}") from error
    return policies


def _with_chairs(policy: LocalityPolicy, directory: Path, path: Path) -> LocalityPolicy:
    """The policy with its shared chair list added to the chairs it lists itself; every route needs
    someone who may hear its appeals."""
    appeal = policy.appeal
    chairs = list(appeal.chairs)
    if appeal.chair_list:
        list_path = directory / CHAIR_LISTS / f"{appeal.chair_list}.toml"
        if not list_path.is_file():
            raise PolicyError(f"{path}: appeal.chair_list: no file {list_path}")
        shared: AppealChairList = parse_chair_list(list_path.read_text(encoding="utf-8"), str(list_path))
        chairs += [chair for chair in shared.chairs if appeal.chair(chair.key) is None]
    keys = [chair.key for chair in chairs]
    if len(set(keys)) != len(keys):
        raise PolicyError(f"{path}: appeal.chairs: chair keys must be unique")
    policy = policy.model_copy(update={"appeal": appeal.model_copy(update={"chairs": tuple(chairs)})})
    if not policy.eligible_appeal_chairs():
        raise PolicyError(
            f"{path}: appeal: nobody listed may hear this area's appeals under route {appeal.route.value!r}"
        )
    return policy


@lru_cache
def policies_from(directory: Path) -> dict[str, LocalityPolicy]:
    """Cached `load_policies`, for processes that load the folder once at start-up."""
    return load_policies(directory)
