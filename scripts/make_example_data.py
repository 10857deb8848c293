"""Write the small synthetic datasets the example specs use (deterministic; re-run to regenerate)."""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "examples" / "data"

PRODUCTS = [
    "router",
    "thermostat",
    "doorbell",
    "camera",
    "speaker",
    "light strip",
    "smart plug",
    "hub",
    "lock",
    "sensor",
    "display",
    "vacuum",
]
ISSUES = {
    "will not turn on": "Hold the power button for 10 seconds, then plug it into a different outlet.",
    "keeps disconnecting": "Move it within 5 metres of the router and update its firmware from the app.",
    "shows a red light": "A red light means no network: re-run setup from the app and re-enter the Wi-Fi password.",
    "is not in the app": "Sign out of the app and back in; if it is still missing, add it again with the QR code.",
    "runs slowly": "Restart it from Settings > Device > Restart, then check for a firmware update.",
    "lost its settings": "Restore the last backup from Settings > Backups; backups are kept for 30 days.",
    "makes a clicking noise": "Clicking during updates is normal; if it lasts over an hour, contact support for a swap.",
    "needs a reset": "Press the reset pin for 15 seconds until the light blinks white, then set it up again.",
}
OPENERS = [
    "My {p} {i}.",
    "Help, the {p} {i}!",
    "Why does my {p} say it {i}?",
    "The {p} {i} since yesterday.",
    "Our office {p} {i}. What should we do?",
    "{p} {i} - any fix?",
]

# A task a tiny model can learn in a few CPU minutes: a fixed item -> colour mapping.
ITEMS = [
    "apple",
    "sky",
    "grass",
    "snow",
    "coal",
    "sun",
    "rose",
    "sea",
    "lemon",
    "plum",
    "mint",
    "rust",
    "sand",
    "ink",
    "milk",
    "lime",
]
COLOURS = [
    "red",
    "blue",
    "green",
    "white",
    "black",
    "yellow",
    "pink",
    "teal",
    "gold",
    "purple",
    "jade",
    "brown",
    "beige",
    "navy",
    "cream",
    "olive",
]


def _support_rows(n: int, rng: random.Random) -> list[dict]:
    rows = []
    issues = list(ISSUES.items())
    for _ in range(n):
        p = rng.choice(PRODUCTS)
        issue, fix = rng.choice(issues)
        rows.append(
            {
                "instruction": rng.choice(OPENERS).format(p=p, i=issue).capitalize(),
                "input": "",
                "output": f"Sorry about your {p}. {fix}",
            }
        )
    return rows


def _colour_rows(n: int, rng: random.Random) -> list[dict]:
    rows = []
    for _ in range(n):
        k = rng.randrange(len(ITEMS))
        rows.append({"instruction": f"colour of {ITEMS[k]}?", "input": "", "output": COLOURS[k]})
    return rows


def _write(name: str, rows: list[dict]) -> None:
    path = HERE / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {path} ({len(rows)} rows)")


def main() -> None:
    rng = random.Random(20261128)
    _write("support-train.jsonl", _support_rows(1500, rng))
    _write(
        "support-eval.jsonl",
        [
            {"id": f"s{i}", "prompt": r["instruction"], "answer": r["output"]}
            for i, r in enumerate(_support_rows(240, rng))
        ],
    )
    _write("colours-train.jsonl", _colour_rows(400, rng))
    _write(
        "colours-eval.jsonl",
        [{"id": f"c{i}", "prompt": f"colour of {item}?", "answer": COLOURS[i]} for i, item in enumerate(ITEMS)],
    )
    prefs = []
    for r in _support_rows(300, rng):
        prefs.append({"prompt": r["instruction"], "chosen": r["output"], "rejected": "Please contact support."})
    _write("support-prefs.jsonl", prefs)


if __name__ == "__main__":
    main()
