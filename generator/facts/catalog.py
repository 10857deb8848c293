"""The model catalog (generator/catalog/models.yaml): cards by hub id and their aliases. Apart from facts.models,
which resolves any model (the HF cache, the hub, the lock), so that `ftgen lint` reads the catalog alone."""

from __future__ import annotations

from dataclasses import fields
from functools import cache

from .._resources import catalog_dir
from .._yaml import load_trusted_file
from .types import ModelCard

_CARD_FIELDS = {f.name for f in fields(ModelCard)}
_CATALOG_ONLY = {"aliases"}


@cache
def _catalog() -> tuple[dict[str, ModelCard], dict[str, str]]:
    """Load the catalog once: cards by id, and lower-cased ids and aliases -> id."""
    data = load_trusted_file(catalog_dir() / "models.yaml")
    if data.get("schema_version") != 1:
        raise ValueError(f"models.yaml: unsupported schema_version {data.get('schema_version')!r}")
    cards: dict[str, ModelCard] = {}
    index: dict[str, str] = {}
    for entry in data["models"]:
        unknown = set(entry) - _CARD_FIELDS - _CATALOG_ONLY
        if unknown:
            raise ValueError(f"models.yaml: {entry.get('id')}: unknown keys {sorted(unknown)}")
        values = {k: v for k, v in entry.items() if k in _CARD_FIELDS}
        values["lora_targets"] = tuple(values.get("lora_targets", ModelCard.lora_targets))
        card = ModelCard(**values)
        if card.id in cards:
            raise ValueError(f"models.yaml: duplicate id {card.id}")
        cards[card.id] = card
        names = [card.id, card.id.split("/")[-1], *entry.get("aliases", ())]
        for name in dict.fromkeys(n.lower() for n in names):
            if index.get(name, card.id) != card.id:
                raise ValueError(f"models.yaml: alias {name!r} names both {index[name]} and {card.id}")
            index[name] = card.id
    return cards, index


def load_catalog() -> dict[str, ModelCard]:
    """Every catalog model card, by hub id (loaded once; a fresh dict per call)."""
    return dict(_catalog()[0])


def catalog_aliases() -> dict[str, str]:
    """Lower-cased ids and aliases -> catalog id."""
    return dict(_catalog()[1])


def canonical_id(ref: str) -> str | None:
    """The catalog id `ref` names (an id or alias, any case), or None."""
    return _catalog()[1].get(ref.lower()) if isinstance(ref, str) else None
