"""Scoring against hand-computed values: normalisation, exact match, contains, token F1, ROUGE-L, max over answers."""

from __future__ import annotations

import pytest

from generator.evaluate import scoring
from generator.evaluate.scoring import contains, exact_match, mean_scores, normalize, rouge_l, score, token_f1


@pytest.mark.parametrize(
    "text,expected",
    [
        ("The  Red, apple!", "red apple"),
        ("  An owl; a Cat.  ", "owl cat"),
        ("theatre", "theatre"),  # articles only as whole words
        ("", ""),
        ("NAVY\n", "navy"),
    ],
)
def test_normalize_is_squad_style(text, expected):
    assert normalize(text) == expected


def test_exact_match_after_normalisation():
    assert exact_match("Red.", "red") == 1.0
    assert exact_match("a red", "red") == 1.0
    assert exact_match("red wine", "red") == 0.0
    assert exact_match("", "") == 1.0


def test_contains_needs_whole_words():
    assert contains("It is dark red, mostly.", "red") == 1.0
    assert contains("bored", "red") == 0.0
    assert contains("the deep blue sea", "Blue Sea") == 1.0
    assert contains("anything", "") == 0.0 and contains("", "") == 1.0


def test_token_f1_hand_computed():
    # pred [red, apple, pie], gold [red, apple]: common 2, P 2/3, R 1 -> F1 = 2 * (2/3) / (5/3) = 0.8
    assert token_f1("red apple pie", "red apple") == pytest.approx(0.8)
    # pred [red, red], gold [red]: common min(2, 1) = 1, P 1/2, R 1 -> 2/3
    assert token_f1("red red", "red") == pytest.approx(2 / 3)
    assert token_f1("blue", "red") == 0.0
    assert token_f1("", "red") == 0.0 and token_f1("", "") == 1.0


def test_rouge_l_hand_computed():
    # "cat sat on mat" vs "cat on mat" (article gone): LCS 3, P 3/4, R 1 -> 2 * 0.75 / 1.75 = 6/7
    assert rouge_l("the cat sat on mat", "cat on the mat") == pytest.approx(6 / 7)
    # same bag of words, reversed order: token F1 is 1, the LCS is one word -> P = R = 1/3
    assert token_f1("mat on cat", "cat on mat") == 1.0
    assert rouge_l("mat on cat", "cat on mat") == pytest.approx(1 / 3)
    assert rouge_l("blue", "red") == 0.0


def test_score_takes_the_best_answer():
    s = score("dark red", ["crimson", "red", "dark red wine"])
    assert s["exact_match"] == 0.0  # no answer is exactly "dark red"
    assert s["contains"] == 1.0  # "red" is in it
    # token F1: vs "red" P 1/2 R 1 -> 2/3; vs "dark red wine" P 1 R 2/3 -> 0.8 (best)
    assert s["token_f1"] == pytest.approx(0.8)
    assert s["rouge_l"] == pytest.approx(0.8)
    assert score("x", [])["exact_match"] == 0.0
    assert list(s) == list(scoring.METRICS)


def test_mean_scores_rounds_and_handles_empty():
    rows = [
        {"exact_match": 1.0, "contains": 1.0, "token_f1": 1.0, "rouge_l": 1.0},
        {"exact_match": 0.0, "contains": 1.0, "token_f1": 0.5, "rouge_l": 1 / 3},
        {"exact_match": 0.0, "contains": 0.0, "token_f1": 0.0, "rouge_l": 0.0},
    ]
    assert mean_scores(rows) == {"exact_match": 0.3333, "contains": 0.6667, "token_f1": 0.5, "rouge_l": 0.4444}
    assert mean_scores([]) == {m: 0.0 for m in scoring.METRICS}
