"""The text LaRe sends the LLM, and the parsing of its JSON replies (research/oni_lare.md §2.2–2.3).

Layout follows the paper's "environment prompting": one user message = TASK + STATE FORM + ROLE INSTRUCTION, no
system message, reply as JSON `{"understand": ..., "analyze": ..., "functions": "<python>"}`. Differences, for
text envs: the input is one `info["state"]` dict (not a `(batch, dim)` array), so the function returns a flat list
of floats; the state form lists named keys (the family's `state_schema`, less the outcome keys, plus `action` with
`include_action`: credit/lare_state.py) instead of vector indices; and one real example state is shown, because key
names alone do not tell value formats (strings, lists, nesting).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from credit.lare_sandbox import ALLOWED_MODULES, ENTRY

Mode = Literal["factors", "direct"]

_ROLE_FACTORS = f"""ROLE INSTRUCTION: You are good at understanding tasks and writing Python code. Fully understand \
the task and the exact state form above. Analyse which behaviours of the agent are positive and which are negative for \
the task, then write a Python function `{ENTRY}(state)` that returns a list of evaluation factors: numbers that \
measure, for one state, how well the task is going (the "latent reward"). Each factor should be interpretable.
Notes:
1. Use only the information given in the state; use as few keys as possible.
2. Write generic, complete code: handle missing keys, empty strings and empty lists, and avoid division by zero.
3. The input is one state (a Python dict as described above); the output is a flat list of floats whose length \
is the same for every state.
4. You may import only {", ".join(sorted({m.split(".")[0] for m in ALLOWED_MODULES}))}. Do not read or write \
files, print, use the network, define classes, or access private (underscore) attributes.
Think step by step. Reply with a JSON object only: {{"understand": "<your understanding of the task and the \
state form>", "analyze": "<positive and negative behaviours>", "functions": "<the Python source code defining \
{ENTRY}(state)>"}}"""

_ROLE_DIRECT = f"""ROLE INSTRUCTION: You are good at understanding tasks and writing Python code. Fully understand the \
task and the exact state form above. Analyse which behaviours of the agent are positive and which are negative for \
the task, then write a Python function `{ENTRY}(state)` that returns a one-element list `[reward]`: a dense reward \
for reaching this state.
Notes:
1. Use only the information given in the state; use as few keys as possible.
2. Write generic, complete code: handle missing keys, empty strings and empty lists, and avoid division by zero.
3. The input is one state (a Python dict as described above); the output is a list holding one float.
4. You may import only {", ".join(sorted({m.split(".")[0] for m in ALLOWED_MODULES}))}. Do not read or write \
files, print, use the network, define classes, or access private (underscore) attributes.
Think step by step. Reply with a JSON object only: {{"understand": "<your understanding of the task and the \
state form>", "analyze": "<positive and negative behaviours>", "functions": "<the Python source code defining \
{ENTRY}(state)>"}}"""

MERGE = f"""Above are several candidate answers. Merge their evaluation functions into one new function \
`{ENTRY}(state)` that covers all their factors, and add any important factor they miss. Reply with a JSON object \
in the same format: {{"understand": ..., "analyze": ..., "functions": ...}}."""

REPAIR = """There is an error in your previous answer. Error: {error}
Fix it and reply with a JSON object in the same format: {{"understand": ..., "analyze": ..., "functions": ...}}."""

_EXAMPLE_CHARS = 3000


def task_prompt(task: str, instruction: str, schema: dict[str, str], example_state: dict[str, Any],
                mode: Mode = "factors") -> str:
    """The first user message: TASK, STATE FORM (one line per key) and the ROLE INSTRUCTION."""
    lines = [f"TASK: {task.strip()}"]
    if instruction:
        lines.append(f"The agent's instruction in this episode, for example: {instruction.strip()}")
    lines.append("STATE FORM: the function receives `state`, a Python dict with these keys:")
    lines += [f"- {key}: {doc}" for key, doc in schema.items()]
    example = json.dumps(example_state, default=str)
    if len(example) > _EXAMPLE_CHARS:
        example = example[:_EXAMPLE_CHARS] + " ...(cut)"
    lines.append(f"EXAMPLE STATE: {example}")
    lines.append(_ROLE_DIRECT if mode == "direct" else _ROLE_FACTORS)
    return "\n".join(lines)


def candidates_turn(replies: list[str]) -> str:
    """The assistant turn that shows the sampled candidates before the merge request (as the paper does)."""
    return "\n\n".join(f"Candidate {i + 1}:\n{r}" for i, r in enumerate(replies))


def template_hash(mode: Mode, task: str, schema: dict[str, str]) -> str:
    """A short fingerprint of what the prompt says apart from the per-episode example (instruction, example
    state): part of the cache key, so editing the prompt text, the task or the state schema (as shown: outcome
    keys left out, the action added, see credit/lare_state.py) regenerates the code."""
    role = _ROLE_DIRECT if mode == "direct" else _ROLE_FACTORS
    text = json.dumps([role, MERGE, REPAIR, task, schema], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


_FENCE = re.compile(r"```(?:json|python)?\s*(.*?)```", re.DOTALL)


def parse_reply(reply: str) -> str:
    """The Python source in a JSON reply's `functions` field; `ValueError` with a one-line reason otherwise.

    Lenient in the ways LLMs slip: code fences around the JSON, text before or after it, capitalised keys
    (the paper's `Functions`), a list of code strings."""
    text = reply.strip()
    fenced = _FENCE.search(text)
    for candidate in (text, fenced.group(1) if fenced else "", text[text.find("{"):text.rfind("}") + 1]):
        try:
            data = json.loads(candidate)
        except (json.JSONDecodeError, TypeError):
            continue
        if isinstance(data, dict):
            break
    else:
        raise ValueError("the reply is not a JSON object")
    fields = {str(k).strip().lower(): v for k, v in data.items()}
    code = fields.get("functions", fields.get("function", fields.get("code")))
    if isinstance(code, list) and all(isinstance(c, str) for c in code):
        code = "\n\n".join(code)
    if not isinstance(code, str) or not code.strip():
        raise ValueError('the JSON reply has no "functions" string holding the Python code')
    inner = _FENCE.search(code)
    return (inner.group(1) if inner else code).strip() + "\n"
