"""Tell which framework a config is for by its keys."""

from __future__ import annotations

from functools import cache

from .. import frameworks
from ..configschema import load_schema


@cache
def _own_keys() -> dict[str, frozenset[str]]:
    """Top-level keys only one framework knows."""
    keys = {fw.name: frozenset(load_schema(fw.name).get("properties", {})) for fw in frameworks.all_frameworks()}
    return {name: own - frozenset().union(*(k for n, k in keys.items() if n != name)) for name, own in keys.items()}


def detect(cfg: object) -> tuple[str | None, str]:
    """(framework or None, how it was decided)."""
    if not isinstance(cfg, dict) or not cfg:
        return None, "not a mapping of keys"
    keys = {k for k in cfg if isinstance(k, str)}
    if {"name", "base_model", "data"} <= keys and "datasets" not in keys:
        return None, "this is an ftgen spec, not a framework config (`ftgen check` checks specs)"
    every = frameworks.all_frameworks()
    model_keys = {fw.name: fw.key_of("base_model") for fw in every}
    named = [fw for fw in every if model_keys[fw.name] in keys]
    if len(named) == 1:
        fw = named[0]
        return fw.name, f"{model_keys[fw.name]} is {fw.label}'s model key"
    for fw in every:
        other_format = [k for k in fw.v1_markers if k in keys]
        if len(other_format) >= 2:
            return fw.name, f"{fw.label} v1 keys ({', '.join(other_format)})"
    own = {fw.name: len(keys & _own_keys()[fw.name]) for fw in every}
    score = {fw.name: 2 * len([k for k in fw.markers if k in keys]) + own[fw.name] for fw in every}
    ranked = sorted(score, key=lambda name: -score[name])
    best = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else None
    if score[best] == 0 or (runner_up is not None and score[best] == score[runner_up]):
        return None, "no key says which framework this config is for"
    return best, f"{own[best]} keys only {best} knows (vs {own[runner_up] if runner_up else 0})"
