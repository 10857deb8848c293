"""When ftgen and the frameworks it runs stay off the network: only when the user's environment says so."""

from __future__ import annotations

import os
from collections.abc import Mapping

#: what huggingface_hub accepts as true (its constants._is_true)
_TRUE = {"1", "ON", "YES", "TRUE"}

#: the variables that tell huggingface_hub, datasets and transformers not to download
OFFLINE_VARS = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

#: the variables a user sets to go offline (FTGEN_OFFLINE is also what `ftgen run --offline` sets)
SWITCHES = ("HF_HUB_OFFLINE", "FTGEN_OFFLINE")


def offline_reason(environ: Mapping[str, str] | None = None) -> str | None:
    """The variable that turns the hub off (HF_HUB_OFFLINE or FTGEN_OFFLINE set to 1/true/yes/on), else None."""
    env = os.environ if environ is None else environ
    for name in SWITCHES:
        if str(env.get(name, "")).strip().upper() in _TRUE:
            return f"{name}={env[name]}"
    return None
