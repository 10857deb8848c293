"""Write the small synthetic datasets the example specs use: deterministic, deduplicated, eval disjoint from train.

Re-run to regenerate (`python scripts/make_example_data.py`); `--check` exits 1 when the committed files differ.
Every row is unique (exact JSON, and by normalised prompt), and no eval prompt is a training prompt (the check
FT173 makes: Unicode NFKC, case and whitespace folded), so the example plans count what they claim: FT101 and
FT174 see as many unique examples as rows.

- support-train.jsonl / support-eval.jsonl: every product x issue x opener prompt once (16 x 8 x 12 = 1,536),
  shuffled with a fixed seed; 240 held out for the eval set, the other 1,296 train (the 1K-10K branch). The
  answer depends on the product and the issue only, so the eval set measures whether a model answers a phrasing
  it has not seen for a product and issue it has.
- support-prefs.jsonl: 300 preference pairs on training prompts only (the DPO example shares the eval set).
- colours-train.jsonl / colours-eval.jsonl: the CPU demo. 16 item -> colour facts, each asked 5 ways in training
  (80 rows) and a 6th way in the eval set. A random-initialised tiny model can only memorise these facts: the eval
  asks whether it recalls them under an unseen phrasing, nothing more.
"""

from __future__ import annotations

import json
import random
import sys
import unicodedata
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
    "garage opener",
    "smoke alarm",
    "baby monitor",
    "water heater",
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
    "Since the update my {p} {i}.",
    "Hi, our new {p} {i}.",
    "What do I do when the {p} {i}?",
    "Urgent: the {p} {i}.",
    "Every morning the {p} {i}.",
    "Quick question: my {p} {i}, why?",
]

# The CPU demo: a fixed item -> colour mapping a tiny model can memorise in a few CPU minutes.
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


#: Five ways the demo asks for a colour in training; the eval set asks a sixth.
COLOUR_TRAIN_ASKS = [
    "colour of {x}?",
    "what colour is {x}?",
    "{x}: which colour?",
    "name the colour of {x}.",
    "tell me the colour of {x}.",
]
COLOUR_EVAL_ASK = "which colour is {x}?"
REJECTED = [
    "Please contact support.",
    "I cannot help with that.",
    "Have you tried turning it off and on again?",
    "That is not something we support.",
]
SUPPORT_EVAL_ROWS = 240
PREF_ROWS = 300


def norm(prompt: str) -> str:
    """The prompt as FT173 compares it: Unicode NFKC, case folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", prompt).casefold().split())


def _support_rows() -> list[dict]:
    rows, seen = [], set()
    for p in PRODUCTS:
        for issue, fix in ISSUES.items():
            for opener in OPENERS:
                text = opener.format(p=p, i=issue)
                text = text[0].upper() + text[1:]
                if norm(text) in seen:
                    continue
                seen.add(norm(text))
                rows.append({"instruction": text, "input": "", "output": f"Sorry about your {p}. {fix}"})
    return rows


def datasets() -> dict[str, list[dict]]:
    """Every example file name -> its rows."""
    rng = random.Random(20261202)
    support = _support_rows()
    rng.shuffle(support)
    eval_rows, train = support[:SUPPORT_EVAL_ROWS], support[SUPPORT_EVAL_ROWS:]
    prefs = [
        {"prompt": r["instruction"], "chosen": r["output"], "rejected": rng.choice(REJECTED)} for r in train[:PREF_ROWS]
    ]
    colours_train = [
        {"instruction": ask.format(x=item), "input": "", "output": COLOURS[k]}
        for ask in COLOUR_TRAIN_ASKS
        for k, item in enumerate(ITEMS)
    ]
    rng.shuffle(colours_train)
    return {
        "support-train.jsonl": train,
        "support-eval.jsonl": [
            {"id": f"s{i}", "prompt": r["instruction"], "answer": r["output"]} for i, r in enumerate(eval_rows)
        ],
        "support-prefs.jsonl": prefs,
        "colours-train.jsonl": colours_train,
        "colours-eval.jsonl": [
            {"id": f"c{i}", "prompt": COLOUR_EVAL_ASK.format(x=item), "answer": COLOURS[i]}
            for i, item in enumerate(ITEMS)
        ],
    }


def _text(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    stale = []
    for name, rows in datasets().items():
        path = HERE / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != _text(rows):
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(_text(rows), encoding="utf-8")
        tmp.replace(path)
        print(f"wrote {path} ({len(rows)} rows)")
    if stale:
        print("would regenerate: " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
