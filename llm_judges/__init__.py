"""LLM judges: back-ends (openai, local, embedding), rubrics, the annotator server and its client.

Start with README.md in this folder; `base.py` is the interface, `backends.make_judge(JudgeConfig(...))` builds
a back-end, `client.JudgeClient` is what training loops use.
"""
