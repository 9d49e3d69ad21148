"""Configs of the judging layer: which back-end answers (`JudgeConfig`) and how the server runs (`ServeConfig`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from credo.config import Config


class JudgeConfig(Config):
    """A judge back-end. Defaults follow ONI's annotator (temperature 0.1, max_tokens 4096, lax parsing)."""

    backend: Literal["openai", "local", "embedding"] = Field(
        "embedding", description="openai: any OpenAI-compatible server; local: a transformers causal LM; "
                                 "embedding: the offline zero-shot sentence-embedding judge.")
    model: str = Field(
        "", description="openai: the served model name (empty: the server's first model); local: a checkpoint "
                        "folder or 'tiny' (credo's embedded default); embedding: a sentence-transformers folder "
                        "(empty: the packaged all-MiniLM-L6-v2).")
    base_url: str = Field("http://127.0.0.1:8000/v1", description="openai: the server's base URL, ending in /v1.")
    api_key: str = Field("EMPTY", description="openai: the API key sent upstream (local servers accept anything).")
    api: Literal["chat", "completions"] = Field(
        "chat", description="openai: chat completions (one prompt per request), or legacy completions "
                            "(many pre-rendered prompts per request, as ONI does).")
    prompt_format: Literal["llama3", "plain"] = Field(
        "llama3", description="Legacy completions: how chat messages become one prompt string; 'llama3' is ONI's "
                              "hand-rendered Llama-3 template (one newline after each header).")
    temperature: float = Field(0.1, ge=0.0, description="Sampling temperature for annotation (ONI: 0.1).")
    max_tokens: int = Field(4096, ge=1, description="Longest reply for annotation, in tokens (ONI: 4096).")
    strict: bool = Field(False, description="Strict reply parsing (answer only where the prompt asks for it); "
                                            "default lax, as ONI parses.")
    batch_size: int = Field(32, ge=1, description="Prompts per upstream request (legacy completions) or per "
                                                  "generate() call (local).")
    concurrency: int = Field(8, ge=1, description="openai: most requests in flight at once.")
    timeout_s: float = Field(120.0, gt=0, description="openai: seconds before one upstream request times out.")
    max_retries: int = Field(3, ge=0, description="openai: retries with exponential backoff on 429, 5xx, timeouts "
                                                  "and connection errors (the openai package's own retry logic).")
    device: str = Field("cpu", description="local/embedding: torch device.")
    margin: float = Field(0.0, description="embedding: a text gets the positive label when its similarity to the "
                                           "positive descriptions exceeds that to the negative ones by more than this "
                                           "(a rubric's own `margin` wins: the ONI rubrics set 0.07).")
    tie_margin: float = Field(0.02, ge=0.0, description="embedding, pair rubrics: score differences below this "
                                                        "are a tie (0.5).")


class ServeConfig(Config):
    """`credo judge serve`: the annotator server in front of one back-end."""

    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="The back-end behind the server.")
    host: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0 to serve other machines).")
    port: int = Field(8100, ge=0, le=65535, description="TCP port (0: any free port).")
    name: str = Field("judge", description="Run folder name: runs/<name>/ holds config.yaml and the label store.")
    store: str = Field("", description="SQLite label store path (empty: runs/<name>/labels.sqlite).")
    api_key: str = Field("", description="When set, every /v1 request needs `Authorization: Bearer <key>`.")
    served_model: str = Field("credo-judge", description="Model id listed by /v1/models and accepted by the "
                                                         "OpenAI endpoints.")
    rubrics_file: str = Field("", description="YAML file of user rubrics to load at start-up.")
    max_batch_size: int = Field(64, ge=1, description="Most items sent upstream together (items of many requests "
                                                      "are batched across requests).")
    max_wait_ms: float = Field(20.0, ge=0, description="How long the first queued item waits for others to fill a "
                                                       "batch.")
    max_concurrent_batches: int = Field(4, ge=1, description="Batches in flight upstream at once.")
    upstream_timeout_s: float = Field(300.0, gt=0, description="A batch not answered by the back-end within this "
                                                               "fails (its items can be asked again).")
    request_timeout_s: float = Field(30.0, gt=0, description="Longest an /v1/annotate request waits; items not "
                                                             "labelled by then come back as retryable errors.")
    retry_after_s: int = Field(5, ge=1, description="Retry-After seconds advertised with retryable errors.")
    max_items: int = Field(1024, ge=1, description="Most items in one /v1/annotate request.")
    max_item_chars: int = Field(8192, ge=1, description="Longest text of one item.")
    max_request_bytes: int = Field(4_000_000, ge=1024, description="Largest request body accepted.")
    cache_unparseable: bool = Field(False, description="Store 'no label' answers too (default: ask again next time).")
