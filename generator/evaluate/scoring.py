"""Answer scoring, pure Python: SQuAD-style normalisation, exact match, contains, token F1, ROUGE-L."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

METRICS = ("exact_match", "contains", "token_f1", "rouge_l")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answer: str) -> float:
    return float(normalize(prediction) == normalize(answer))


def contains(prediction: str, answer: str) -> float:
    """1.0 when the normalised answer appears in the normalised prediction as whole words."""
    pred, gold = normalize(prediction), normalize(answer)
    if not gold:
        return float(not pred)
    return float(f" {gold} " in f" {pred} ")


def token_f1(prediction: str, answer: str) -> float:
    """SQuAD token F1 over normalised whitespace tokens (both empty: 1.0; one empty: 0.0)."""
    pred, gold = normalize(prediction).split(), normalize(answer).split()
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, answer: str) -> float:
    """ROUGE-L F-measure (beta 1): longest common subsequence of normalised tokens."""
    pred, gold = normalize(prediction).split(), normalize(answer).split()
    if not pred or not gold:
        return float(pred == gold)
    lcs = _lcs(pred, gold)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(gold)
    return 2 * precision * recall / (precision + recall)


_FUNCS = {"exact_match": exact_match, "contains": contains, "token_f1": token_f1, "rouge_l": rouge_l}


def score(prediction: str, answers: Iterable[str]) -> dict[str, float]:
    """Every metric for one prediction: the best value over the accepted answers."""
    answers = [str(a) for a in answers] or [""]
    return {m: max(_FUNCS[m](prediction, a) for a in answers) for m in METRICS}


def mean_scores(rows: list[dict]) -> dict[str, float]:
    """Mean of each metric over scored rows (rounded to 4 places); empty input gives zeros."""
    n = len(rows)
    return {m: round(sum(r[m] for r in rows) / n, 4) if n else 0.0 for m in METRICS}
