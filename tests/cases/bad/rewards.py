"""Reward function for tests/cases/bad/16-grpo-on-llamafactory.yaml: the spec is bad for another reason."""


def ok(prompts, completions, **kwargs):
    return [1.0 for _ in completions]
