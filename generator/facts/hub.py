"""A hub model's config.json from the local Hugging Face cache or the hub (huggingface_hub, imported only here)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .._io import read_text
from .._offline import offline_reason
from ..errors import FtgenError

#: huggingface_hub's rule for repo ids (validate_repo_id): [org/]name, letters, digits, - _ . ; no -- or ..
_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][\w.\-]{0,95}/)?[A-Za-z0-9][\w.\-]{0,95}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
MAX_CONFIG_BYTES = 4 * 1024 * 1024


def is_repo_id(ref: str) -> bool:
    """Whether `ref` is shaped like a hub model id (org/name or a legacy bare name)."""
    return bool(_REPO_ID.match(ref)) and "--" not in ref and ".." not in ref and not ref.endswith((".", "-"))


def endpoint() -> str:
    """The hub's address: HF_ENDPOINT, else huggingface.co (read at call time, not at import)."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, $HF_HOME/hub, else ~/.cache/huggingface/hub."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


@dataclass(frozen=True)
class Found:
    """A hub model's config.json at one commit, and where it was found."""

    id: str  # the hub's own spelling of the id
    revision: str  # commit hash
    config: dict
    source: str  # cache | hub
    gated: bool | None = None  # None: not known (the cache does not say)
    where: str = ""  # the file or URL read
    chat_format: str | None = None  # what the tokenizer's chat template writes (_arch.chat_format); None: not known


# where a tokenizer keeps its chat template, in the order transformers prefers them
TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json", "tokenizer_config.json")


def tokenizer_chat_template(folder: Path) -> str | bool | None:
    """The chat template the tokenizer files in `folder` ship (named templates joined), False when they ship none,
    None when `folder` holds none of those files."""
    seen = False
    for name in TEMPLATE_FILES:
        path = folder / name
        if not path.is_file():
            continue
        seen = True
        try:
            text = read_text(path, str(path), MAX_CONFIG_BYTES)[0]
            value = text if name.endswith(".jinja") else json.loads(text).get("chat_template")
        except (FtgenError, ValueError, AttributeError):
            continue
        if isinstance(value, list):  # named templates: [{"name": "default", "template": "..."}, ...]
            value = "\n".join(
                t["template"] for t in value if isinstance(t, dict) and isinstance(t.get("template"), str)
            )
        if isinstance(value, str) and value:
            return value
    return False if seen else None


def folder_chat_format(folder: Path) -> str | None:
    """What the chat template the tokenizer files in `folder` ship writes (_arch.chat_format; "none": they ship
    none), None when `folder` holds none of those files."""
    from ._arch import chat_format

    template = tokenizer_chat_template(folder)
    if template is None:
        return None
    return chat_format(template) if template else "none"


class Miss(Exception):
    """The cache or the hub could not answer; the message says why (shown when nothing else answered)."""


def _load_config(text: str, where: str) -> dict:
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise Miss(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise Miss(f"{where} is not a JSON object")
    return config


def from_cache(repo_id: str, cache: Path | None = None) -> Found:
    """config.json at the commit refs/main names, from models--org--name/ in the hub cache; Miss otherwise."""
    cache = hub_cache_dir() if cache is None else cache
    folder = cache / ("models--" + repo_id.replace("/", "--"))
    ref = folder / "refs" / "main"
    if not ref.is_file():
        raise Miss(f"not in the Hugging Face cache ({ref} not found)")
    try:
        commit = read_text(ref, str(ref), max_bytes=4096)[0].strip()
    except FtgenError as exc:
        raise Miss(exc.problems[0].render()) from None
    if not _COMMIT.match(commit):
        raise Miss(f"{ref} does not hold a commit hash (found {commit[:60]!r})")
    path = folder / "snapshots" / commit / "config.json"
    if not path.is_file():
        raise Miss(f"the Hugging Face cache has no config.json at {commit[:12]} ({path} not found)")
    try:
        text = read_text(path, str(path), max_bytes=MAX_CONFIG_BYTES)[0]
    except FtgenError as exc:
        raise Miss(exc.problems[0].render()) from None
    config = _load_config(text, str(path))
    return Found(repo_id, commit, config, "cache", None, str(path), folder_chat_format(path.parent))


def from_hub(repo_id: str) -> Found:
    """Ask the hub (HF_ENDPOINT, HF_TOKEN honoured) for the model's current commit, its config.json and the one
    tokenizer file that holds its chat template (no weights)."""
    reason = offline_reason()
    if reason:
        raise Miss(f"not asked: {reason} turns the hub off")
    try:  # imported here: only a spec naming a model outside the catalog, lock and cache needs it
        from huggingface_hub import HfApi, hf_hub_download
        from huggingface_hub import errors as hf_errors
    except ImportError as exc:  # pragma: no cover - a dependency of ftgen
        raise Miss(f"huggingface_hub is not installed ({exc}): pip install huggingface_hub") from None
    url = endpoint()
    try:
        info = HfApi(endpoint=url).model_info(repo_id)
        canonical, commit = info.id or repo_id, info.sha
        if not is_repo_id(canonical):
            raise Miss(f"the hub at {url} answered an id that is not a model id: {canonical!r}")
        if not commit or not _COMMIT.match(commit):
            raise Miss(f"the hub at {url} gave no commit hash for {repo_id}")
        path = hf_hub_download(
            repo_id=canonical, filename="config.json", revision=commit, endpoint=url, cache_dir=hub_cache_dir()
        )
        text = read_text(path, str(path), max_bytes=MAX_CONFIG_BYTES)[0]
        fmt = _hub_chat_format(info, canonical, commit, url, hf_hub_download)
    except Miss:
        raise
    except FtgenError as exc:
        raise Miss(exc.problems[0].render()) from None
    except Exception as exc:  # the hub's answer, or no answer: say which, never a traceback
        raise Miss(_hub_error(exc, hf_errors, url, repo_id)) from None
    gated = getattr(info, "gated", False)
    return Found(
        canonical,
        commit,
        _load_config(text, f"{url}/{canonical}/blob/{commit}/config.json"),
        "hub",
        bool(gated),
        f"{url}/{canonical}",
        fmt,
    )


def _hub_chat_format(info, repo_id: str, commit: str, url: str, download) -> str | None:
    """What the tokenizer's chat template writes, from the one file of the repo's listing that holds it (None
    when the listing is not known or the file cannot be had: the lock then says nothing of it)."""
    siblings = getattr(info, "siblings", None)
    if siblings is None:
        return None
    files = {getattr(s, "rfilename", None) for s in siblings}
    name = next((n for n in TEMPLATE_FILES if n in files), None)
    if name is None:
        return "none"
    try:
        path = download(repo_id=repo_id, filename=name, revision=commit, endpoint=url, cache_dir=hub_cache_dir())
    except Exception:  # the template is a refinement: the model's facts stand without it
        return None
    return folder_chat_format(Path(path).parent)


def _hub_error(exc: Exception, hf_errors, url: str, repo_id: str) -> str:
    gated = getattr(hf_errors, "GatedRepoError", ())
    missing = getattr(hf_errors, "RepositoryNotFoundError", ())
    no_file = getattr(hf_errors, "EntryNotFoundError", ())
    revision = getattr(hf_errors, "RevisionNotFoundError", ())
    offline = getattr(hf_errors, "OfflineModeIsEnabled", ())
    http = getattr(hf_errors, "HfHubHTTPError", ())
    if isinstance(exc, gated):
        return f"gated on the hub: set HF_TOKEN to a token of an account that accepted the license at {url}/{repo_id}"
    if isinstance(exc, missing):
        return f"the hub at {url} has no model {repo_id} (or it is private: set HF_TOKEN)"
    if isinstance(exc, no_file):
        return f"{repo_id} on the hub has no config.json (not a transformers model)"
    if isinstance(exc, revision):
        return f"the hub at {url} has no such revision of {repo_id}"
    if isinstance(exc, offline):
        return "not asked: huggingface_hub is in offline mode (HF_HUB_OFFLINE)"
    if isinstance(exc, http):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        return f"the hub at {url} answered {status or 'an error'}: {str(exc).splitlines()[0] if str(exc) else ''}"
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"cannot reach the hub at {url} ({type(exc).__name__}: {first})"
