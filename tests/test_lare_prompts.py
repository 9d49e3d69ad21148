"""LaRe's prompt and reply parsing: what the LLM is told, and how lenient the parser is with real replies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from credit.lare_prompts import parse_reply, task_prompt, template_hash
from credit.lare_sandbox import Sandbox, SandboxLimits

CODE = "def evaluate(state):\n    return [1.0]\n"


@pytest.mark.parametrize("reply", [
    json.dumps({"understand": "u", "analyze": "a", "functions": CODE}),
    json.dumps({"Understand": "u", "Analyze": "a", "Functions": CODE}),  # the paper's capitalised keys
    "```json\n" + json.dumps({"functions": CODE}) + "\n```",
    "Here is my answer:\n" + json.dumps({"functions": CODE}) + "\nHope it helps.",
    json.dumps({"functions": "```python\n" + CODE + "```"}),
    json.dumps({"functions": [CODE]}),
])
def test_parse_reply_accepts_common_reply_shapes(reply: str) -> None:
    assert parse_reply(reply) == CODE


@pytest.mark.parametrize(("reply", "reason"), [
    ("I cannot help with that.", "not a JSON object"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({"understand": "u"}), 'no "functions" string'),
    (json.dumps({"functions": ""}), 'no "functions" string'),
])
def test_parse_reply_rejects_with_a_reason_for_the_repair_turn(reply: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_reply(reply)


def test_task_prompt_has_the_papers_sections_and_the_schema() -> None:
    schema = {"hp": "hit points (int)", "gold": "gold carried"}
    prompt = task_prompt("Survive and collect gold.", "descend to level 3", schema, {"hp": 7, "gold": 3})
    for part in ("TASK: Survive and collect gold.", "descend to level 3", "STATE FORM", "- hp: hit points (int)",
                 "- gold: gold carried", 'EXAMPLE STATE: {"hp": 7, "gold": 3}', "ROLE INSTRUCTION",
                 "evaluate(state)", '"functions"', "math, numpy, re, statistics"):
        assert part in prompt, part
    direct = task_prompt("t", "", schema, {}, mode="direct")
    assert "one-element list `[reward]`" in direct
    # the cache key changes with what the prompt says, not with the per-episode example
    assert template_hash("factors", "t", schema) != template_hash("direct", "t", schema)
    assert template_hash("factors", "t", schema) != template_hash("factors", "t", {"hp": "x"})


def test_numpy_values_in_states_reach_the_code_as_numbers() -> None:
    code = "def evaluate(state):\n    return [state['hp'] + 1, sum(state['pos'])]\n"
    with Sandbox(code, SandboxLimits(cpu_seconds=2)) as sandbox:
        result = sandbox.evaluate([{"hp": np.int64(3), "pos": np.array([1, 2])}])
    assert result.factors.tolist() == [[4.0, 3.0]]


def test_credit_readme_documents_every_lare_config_field() -> None:
    from pathlib import Path

    import credit
    from credit.lare import LaReConfig

    text = (Path(credit.__file__).parent / "README.md").read_text()
    for key, field in LaReConfig.model_fields.items():
        assert field.description, key
        assert f"| `{key}` | `{field.default!r}` | {field.description} |" in text, f"credit/README.md: lare.{key}"
