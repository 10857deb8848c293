"""The one place that decides what looks like a secret and masks it: names, values, text, argv, env, byte streams."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

MASK = "***"

# A name is secret-looking when one of these words is in it (HF_TOKEN, hub_token, WANDB_API_KEY, PGPASSWORD,
# AWS_SECRET_ACCESS_KEY, swanlab_lark_secret, GOOGLE_APPLICATION_CREDENTIALS, OPENAI_KEY, ...).
_SECRET_WORDS = re.compile(
    r"secret|passw(or)?d|api_?key|access_?key|private_?key|credential|auth_?token|(^|[_.-])token$",
    re.IGNORECASE,
)
# environment variables (upper case) ending in _KEY are keys too (OPENAI_KEY); config keys such as
# template_thinking_key name a field, not a credential
_ENV_KEY = re.compile(r"(^|_)KEY$")
# ... except the names of special tokens, whose values are text the model sees, not credentials
_TOKEN_CONTENT = re.compile(
    r"(^|[_.-])(pad|eos|bos|unk|sep|cls|mask|eot|eom|special|stop|start|end|image|video|audio|boi|eoi|sot|think)_token$",
    re.IGNORECASE,
)
# Values that are credentials whatever key holds them: Hugging Face, OpenAI/Anthropic-style, GitHub, GitLab,
# Slack, AWS access key ids, JWTs, PEM private keys.
_TOKEN_VALUES = re.compile(
    r"\bhf_[A-Za-z0-9]{20,}"
    r"|\bsk-[A-Za-z0-9_-]{16,}"
    r"|\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"
    r"|\bglpat-[A-Za-z0-9_-]{16,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"
    r"|\b(AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*(-----END [A-Z ]*PRIVATE KEY-----)?"
)
# NAME=value, "name": "value", name: value inside free text (an environment dump, a JSON line, a log line)
_PAIR = re.compile(
    r"""(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)(?P<q1>["']?)(?P<sep>\s*[=:]\s*)(?P<q2>["']?)(?P<value>[^\s"',;}\]\x00]+)"""
)


def is_secret_name(name: Any) -> bool:
    """Whether a key or variable name looks like it holds a credential (hf_token yes, pad_token no)."""
    if not isinstance(name, str) or not name:
        return False
    last = re.split(r"[.\[\]]", name.strip("[]."))[-1] if ("." in name or "[" in name) else name
    if _TOKEN_CONTENT.search(last):
        return False
    return bool(_SECRET_WORDS.search(last) or (last.isupper() and _ENV_KEY.search(last)))


def mask_text(text: str) -> str:
    """`text` with credential-shaped values and the values of secret-looking NAME=value pairs masked."""
    if not isinstance(text, str) or not text:
        return text
    text = _TOKEN_VALUES.sub(MASK, text)

    def pair(m: re.Match) -> str:
        if not is_secret_name(m.group("name")) or m.group("value") == MASK:
            return m.group(0)
        return m.group(0)[: m.start("value") - m.start(0)] + MASK

    return _PAIR.sub(pair, text)


def mask_value(key: str, value: Any) -> Any:
    """A value as it may be shown: masked whole under a secret-looking key, else with secrets inside masked."""
    if value is None or isinstance(value, bool):
        return value
    if is_secret_name(key) and value not in ("", MASK):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, (dict, list, tuple)):
        return mask_data(value)
    return value


def mask_data(data: Any, key: str = "") -> Any:
    """A copy of plain data (mappings, lists, scalars) with every secret-looking key's value masked."""
    if isinstance(data, Mapping):
        return {
            k: mask_data(v, str(k)) if isinstance(v, (Mapping, list, tuple)) else mask_value(str(k), v)
            for k, v in data.items()
        }
    if isinstance(data, (list, tuple)):
        return [mask_data(v, key) if isinstance(v, (Mapping, list, tuple)) else mask_value(key, v) for v in data]
    return mask_value(key, data)


def mask_env(variables: Mapping[str, str]) -> dict[str, str]:
    """A copy of environment variables safe to log: values of secret-looking variables masked."""
    return {k: (MASK if is_secret_name(k) and v else v) for k, v in variables.items()}


def mask_argv(argv: list[str]) -> list[str]:
    """A command line as it may be recorded: `--hf_token X`, `--hf_token=X`, `HF_TOKEN=X` and token values masked."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        arg = str(arg)
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        flag = arg.lstrip("-")
        if arg.startswith("-") and "=" not in flag and is_secret_name(flag.replace("-", "_")):
            out.append(arg)
            hide_next = True
            continue
        name, eq, _ = flag.partition("=")
        if eq and is_secret_name(name.replace("-", "_")):
            out.append(arg[: len(arg) - len(flag)] + name + "=" + MASK)
            continue
        out.append(mask_text(arg))
    return out


def value_masker(env: Mapping[str, str], min_len: int = 6) -> Callable[[bytes], bytes]:
    """A function masking, in a byte stream (a trainer's output), the values of env's secret-looking variables and
    credential-shaped values."""
    values = sorted(
        {v.encode() for k, v in env.items() if is_secret_name(k) and v and len(v) >= min_len}, key=len, reverse=True
    )
    shaped = re.compile(_TOKEN_VALUES.pattern.encode())

    def apply(data: bytes) -> bytes:
        for s in values:
            if s in data:
                data = data.replace(s, MASK.encode())
        return shaped.sub(MASK.encode(), data)

    return apply
