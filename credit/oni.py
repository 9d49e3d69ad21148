"""`oni`: online intrinsic rewards distilled from LLM feedback (ONI, arXiv 2410.23022; research/oni_lare.md §1, §4).

Each iteration, for every step of every episode:

1. **Caption** c_t: a short text of the observation *at which the action was taken* (§1.4). NetHack/MiniHack:
   the game message (`Step.caption`, filled by the rollout from `info["state"]["message"]`; the empty message
   is a caption too). TextWorld: the first line of the feedback the action answered. WebShop: a page summary
   ("results page for 'red shoes', 50 results"). Any other family: `Step.caption`, else the observation's first
   line. Captions are cut to 256 characters (NLE's message length).
2. **Labels**: captions the reward model has no label for (classification, retrieval) or pairs of captions
   sampled from a pool of every `pair_subsample`-th caption (ranking) go to the judge through
   `llm_judges.client.JudgeClient`: a bounded backlog sent newest first, with an in-flight set so a caption
   waiting for its label is not sent again (§4.4). They are sent *before* the batch is scored, and the learner
   then waits at most `label_wait_s` (10 s) for the answers, so a caption is rewarded in the iteration that
   first shows it. ONI's learner never waits (`label_wait_s=0`): there a caption's label is asked for after its
   rewards were computed and counts from the next iteration on, which over 2e9 steps costs nothing but in a run
   of a few iterations costs everything (the first iteration always scored 0 and logged labels_received=0, a
   one-iteration run never saw a label, and the key pick-up was never rewarded the first time, when its count-
   decayed bonus is largest). Labels that come later are picked up by a background thread (`background=true`)
   or at the start of the next `assign`. With the judge down, the wait ends at the first failure, the client
   keeps retrying, the reward model keeps what it has, and training goes on with the extrinsic part (the
   metrics `label_backlog` and `unlabelled_frac` show what is missing). `shuffle_labels=true` permutes the
   labels across captions (`credit/oni_labels.py`): a control arm with the same labels and none of their meaning.
3. **Reward model** (`credit/oni_reward_models.py`): retrieval (the label table; 0 when unlabelled),
   classification (char CNN, 1[p > 0.5]) or ranking (Bradley-Terry scalar, standardised, thresholded at
   -0.5 sigma). Schedule (§1.1): `steps_per_label_batch` (32) gradient steps per batch of labels while the
   dataset is smaller than `dataset_switch` (25k), then `steps_per_iteration` (1) per iteration. Training and
   scoring hold one lock, so labels arriving in the background never race the scoring.
4. **Reward** (r_env = `Step.reward`, the env reward with the rollout's invalid-action penalty):
   r_t = extrinsic_coeff * clip(reward_scale * r_env, +-reward_clip) + llm_coeff * r_int(c_t) * N(c_t)^-beta
   where N counts c_t's occurrences in the episode so far, the current one included (reset every episode;
   §1.6), and r_int is scored by the *current* reward model at assign time (§4.1).

**How this maps onto credo's learner** (`signal = "intrinsic"`): the trainer adds the module's numbers to the env
rewards (r_env, the invalid-action penalty included) and every estimator works on that dense reward (returns,
gae; grpo/rloo/reinforce++ on its discounted returns-to-go with a group baseline). The module returns the
intrinsic term llm_coeff * r_int * N^-beta plus, when `rescale_extrinsic=true` (default), the correction
extrinsic_coeff * clip(reward_scale * r_env) - r_env, so the learner trains on exactly ONI's r_t (at the credit
spec's weight 1). The intrinsic part alone is written to each logged step as `step_rewards["oni/intrinsic"]`.

Defaults follow the paper: llm_coeff 0.4, beta 3, reward_clip 10, extrinsic_coeff per task (Score 0.1,
Staircase/Oracle 10; 1 elsewhere), Adam lr 1e-4, batch 256, grad clip 10. Deliberate differences from the
released code, each documented at its field: the in-flight set and bounded queues (cost only, not labels), the
learner's bounded wait for this batch's labels (`label_wait_s=0` is ONI's), the ranking reward standardised
(`ranking_raw=true` gives the released raw r_phi), and an optional label gate `min_labels` (off: 0, as in the
paper). Controls for comparisons: `shuffle_labels` (labels without meaning) and `extrinsic_coeff=0` (the
intrinsic reward alone, ONI's reward-free setting; needs `rescale_extrinsic=true`, the default).

Every label received is appended, as the judge gave it (before `shuffle_labels` permutes), to
`run_dir/credit/oni/labels.jsonl` (`LABELS_FILE`), so a run's labels can be read back (`credo runs serve` shows
their counts and the captions labelled helpful).
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections import Counter, deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from credit.base import CreditContext, CreditModule, CreditOutput, register_credit
from credit.oni_labels import LabelShuffler
from credit.oni_reward_models import MESSAGE_BYTES, ClassificationModel, RankingModel, RetrievalModel
from credo.config import Config, ConfigError
from llm_judges.config import JudgeConfig

if TYPE_CHECKING:
    from credo.trajectory import Episode, Step
    from llm_judges.base import Judge

log = logging.getLogger(__name__)

LABELS_FILE = "labels.jsonl"
"""Every label received, one JSON object a line: {"item": caption or [caption_a, caption_b], "label": value or
null (unparseable), "time": unix}; appended under `run_dir/credit/oni/` as labels arrive (a resumed run appends)."""

RewardModelName = Literal["retrieval", "classification", "ranking"]


class ONIConfig(Config):
    """ONI settings; defaults are the paper's (research/oni_lare.md §1.10) unless a description says otherwise."""

    reward_model: RewardModelName = Field(
        "retrieval", description="retrieval: the label table (0 when unlabelled); classification: char CNN "
                                 "trained on the labels, 1[p > classification_threshold]; ranking: Bradley-Terry "
                                 "scalar model on pairwise preferences.")
    goal: Literal["default", "gold", "combat", "stairs", "key", "door", "keyroom", "fountain"] = Field(
        "default", description="Goal the judge's rubric steers toward (ONI goal_key; key/door/keyroom/fountain are "
                               "MiniHack's sub-goals): oni-cls-<goal> or oni-rank-<goal>.")
    rubric: str = Field("", description="Judge rubric name overriding `goal` (a single-text rubric for "
                                        "retrieval/classification, a pair rubric for ranking).")
    rubrics_file: str = Field("", description="YAML file of your own rubrics to load (see llm_judges/README.md).")
    llm_coeff: float = Field(0.4, ge=0, description="llm_reward_coeff: weight of the intrinsic reward (paper: 0.4).")
    extrinsic_coeff: float | None = Field(
        None, ge=0, description="extrinsic_reward_coeff; None = the paper's per-task value from the env id: "
                                "0.1 for Score, 10 for Staircase and Oracle, 1 otherwise.")
    reward_scale: float = Field(1.0, description="reward_scale applied to the env reward before clipping (ONI: 1; "
                                                 "Motif used 0.1).")
    reward_clip: float = Field(10.0, gt=0, description="The scaled env reward is clipped to +-reward_clip before "
                                                       "extrinsic_coeff (ONI: 10).")
    rescale_extrinsic: bool = Field(
        True, description="Return extrinsic_coeff * clip(reward_scale * r_env) - r_env as well, so the learner "
                          "(which adds this module's numbers to r_env) trains on ONI's exact reward; false: the env "
                          "reward as it is plus the intrinsic term.")
    beta: float = Field(3.0, ge=0, description="Count-decay exponent: r_int * N(caption)^-beta, N counted per "
                                               "episode including the current step (paper: 3).")
    classification_threshold: float = Field(0.5, ge=0, le=1, description="classification: r = 1[p(helpful) > this] "
                                                                          "(paper: 0.5).")
    ranking_threshold: float = Field(-0.5, description="ranking: standardised rewards at or below this (sigma "
                                                       "units) become 0 (paper: -0.5).")
    ranking_raw: bool = Field(False, description="ranking: use the raw r_phi, as the released code does by a bug "
                                                 "(the paper intends standardise + threshold).")
    shuffle_labels: bool = Field(False, description="Control arm: the labels received are permuted across the "
                                                    "captions that have one (same labels and rate, no meaning); "
                                                    "retrieval/classification only.")
    label_wait_s: float = Field(10.0, ge=0, description="Longest the learner waits each iteration for the labels of "
                                                        "the captions it just sent before scoring them (0: ONI's fully "
                                                        "asynchronous learner, labels count from the next iteration).")
    min_labels: int = Field(0, ge=0, description="Score 0 until the reward model has this many labels (examples); "
                                                 "0 = score from the start, untrained, as the paper does.")
    lr: float = Field(1e-4, gt=0, description="Reward-model Adam learning rate (paper: 1e-4).")
    batch_size: int = Field(256, ge=1, description="Reward-model minibatch (paper: 256).")
    grad_clip: float = Field(10.0, gt=0, description="Reward-model gradient-norm clip (paper: 10).")
    steps_per_label_batch: int = Field(32, ge=0, description="Gradient steps per received batch of "
                                                             "`judge_batch_size` labels while the dataset is small "
                                                             "(paper: 32).")
    steps_per_iteration: int = Field(1, ge=0, description="Gradient steps per iteration once the dataset reaches "
                                                          "dataset_switch (paper: 1).")
    dataset_switch: int = Field(25_000, ge=0, description="Dataset size at which training switches from per-label-"
                                                          "batch to per-iteration steps (paper: 25,000).")
    pair_subsample: int = Field(10, ge=1, description="ranking: every Nth caption joins the pair pool (paper: 10).")
    pairs_per_iteration: int = Field(10, ge=0, description="ranking: pairs sampled uniformly from the pool and sent "
                                                           "per iteration while the judge's backlog is under two "
                                                           "batches (paper: 10 per learner minibatch).")
    dedup_pool: bool = Field(False, description="ranking: keep only captions not yet in the pool "
                                                "(remove_duplicated_obs; paper default off).")
    max_pool: int = Field(100_000, ge=2, description="ranking: most captions in the pair pool (oldest dropped; the "
                                                     "released code's grows without bound).")
    max_pairs: int = Field(100_000, ge=1, description="ranking: most labelled pairs kept for training (oldest "
                                                      "dropped).")
    judge: JudgeConfig = Field(default_factory=JudgeConfig,
                               description="The in-process judge when no --judge-url is given (default: the offline "
                                           "embedding judge); with judge_protocol=openai its model/api/sampling "
                                           "settings are used against the URL.")
    judge_protocol: Literal["openai", "credo"] = Field(
        "openai", description="How --judge-url is spoken to: 'openai' (any OpenAI-compatible server: the rubric "
                              "prompt is rendered and parsed here) or 'credo' (a `credo judge serve` server's "
                              "/v1/annotate, with its label store and batching).")
    judge_api_key: str = Field("", description="Bearer key for a credo judge server (openai protocol: judge.api_key).")
    judge_batch_size: int = Field(64, ge=1, description="Items per judge request (ONI sends 100).")
    max_backlog: int = Field(10_000, ge=1, description="Most items waiting for the judge; the oldest are dropped "
                                                       "when full (ONI caps the ranking backlog at 10k).")
    judge_timeout_s: float = Field(120.0, gt=0, description="Longest wait for one judge request.")
    judge_retry_s: float = Field(5.0, gt=0, description="Pause after the judge failed, when it does not say how long.")
    background: bool = Field(True, description="Ingest labels and train the reward model in a background thread "
                                               "(as ONI); false: at the start of each assign (deterministic order).")
    poll_interval_s: float = Field(0.5, gt=0, description="background: how often the thread looks for new labels.")
    seed: int | None = Field(None, description="Reward-model initialisation and sampling seed (None: the run's).")
    device: str = Field("cpu", description="Torch device of the reward model.")

    @model_validator(mode="after")
    def _check(self) -> ONIConfig:
        if self.shuffle_labels and self.reward_model == "ranking":
            raise ValueError("shuffle_labels permutes the labels of single captions; ranking's pair preferences are "
                             "not supported (use reward_model=retrieval or classification)")
        if not self.rescale_extrinsic and self.extrinsic_coeff is not None and self.extrinsic_coeff != 1.0:
            raise ValueError(f"extrinsic_coeff={self.extrinsic_coeff:g} has no effect with rescale_extrinsic=false "
                             "(the learner keeps the env reward as it is); set rescale_extrinsic=true for a "
                             "rescaled or intrinsic-only arm")
        return self


def default_extrinsic_coeff(env_id: str) -> float:
    """The paper's extrinsic_reward_coeff for a task: 0.1 for Score, 10 for Staircase and Oracle, else 1."""
    if "Score" in env_id:
        return 0.1
    if "Staircase" in env_id or "Oracle" in env_id:
        return 10.0
    return 1.0


def family_of(env_id: str) -> str:
    """The env family of an id ("" when it is not a registered credo env, e.g. in unit tests)."""
    try:
        import envs

        return envs.card(env_id).family
    except (KeyError, ImportError):
        return ""


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def caption(step: Step, family: str) -> str:
    """The text the judge and the reward model see for a step (see the module docstring, point 1)."""
    state = step.state or {}
    if family in ("nethack", "minihack"):
        text = step.caption or str(state.get("message", ""))
    elif family == "textworld":
        text = _first_line(step.observation)
    elif family == "webshop":
        text = f"{state.get('page', '')} page"
        if state.get("query"):
            text += f" for '{state['query']}'"
        if state.get("page") == "results":
            text += f", {state.get('num_results', 0)} results"
        if state.get("asin"):
            text += f", item {state['asin']}"
        if state.get("options"):
            text += ", chosen " + ", ".join(f"{k}: {v}" for k, v in state["options"].items())
    else:
        text = step.caption or _first_line(step.observation)
    return text[:MESSAGE_BYTES]


def episode_counts(captions: list[str]) -> np.ndarray:
    """N_t: how often captions[t] occurred in the episode up to and including step t."""
    seen: Counter[str] = Counter()
    out = np.zeros(len(captions))
    for t, c in enumerate(captions):
        seen[c] += 1
        out[t] = seen[c]
    return out


@register_credit("oni")
class ONI(CreditModule):
    """Online intrinsic rewards from LLM labels of captions (see the module docstring)."""

    Config = ONIConfig
    signal = "intrinsic"

    def __init__(self, config: ONIConfig | None = None, context: CreditContext | None = None,
                 judge: Judge | None = None) -> None:
        """`judge`: an in-process judge to ask instead of the context's URL or the embedded default."""
        super().__init__(config, context)
        c: ONIConfig = self.config
        self.family = family_of(self.context.env_id)
        self.extrinsic_coeff = c.extrinsic_coeff if c.extrinsic_coeff is not None else \
            default_extrinsic_coeff(self.context.env_id)
        seed = self.context.seed if c.seed is None else c.seed
        self.model = self._build_model(seed)
        self.rubric = c.rubric or f"oni-{'rank' if c.reward_model == 'ranking' else 'cls'}-{c.goal}"
        self._check_rubric()
        self.client = self._build_client(judge)
        self.lock = threading.Lock()  # reward-model training vs scoring
        self._merging = threading.Lock()  # the learner's wait-and-merge vs the background thread's merge
        self.shuffler = LabelShuffler(seed) if c.shuffle_labels else None
        self.rng = random.Random(seed)
        self.pool: deque[str] = deque(maxlen=c.max_pool)
        self._pool_set: set[str] = set()
        self._captions_seen = 0
        self.counts = {"labels_received": 0, "labels_unparseable": 0}
        self._rm_metrics: dict[str, float] = {}
        self._last_time, self._last_labels = time.monotonic(), 0
        self._last_error = ""
        self.labels_file = Path(self.context.run_dir) / "credit" / "oni" / LABELS_FILE if self.context.run_dir else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if c.background:
            self._thread = threading.Thread(target=self._ingest_loop, name="oni-labels", daemon=True)
            self._thread.start()

    # -- construction ----------------------------------------------------------------------------------------
    def _build_model(self, seed: int) -> RetrievalModel | ClassificationModel | RankingModel:
        c: ONIConfig = self.config
        common = {"lr": c.lr, "batch_size": c.batch_size, "grad_clip": c.grad_clip, "seed": seed, "device": c.device}
        if c.reward_model == "classification":
            return ClassificationModel(threshold=c.classification_threshold, **common)
        if c.reward_model == "ranking":
            return RankingModel(threshold=c.ranking_threshold, raw=c.ranking_raw, max_pairs=c.max_pairs, **common)
        return RetrievalModel()

    def _check_rubric(self) -> None:
        from llm_judges.rubrics import get_rubric, load_rubrics

        c: ONIConfig = self.config
        if c.rubrics_file:
            load_rubrics(c.rubrics_file)
        try:
            rubric = get_rubric(self.rubric)
        except KeyError as err:
            if c.judge_protocol == "credo" and self.context.judge_url:
                return  # a credo server may know rubrics this process does not
            raise ConfigError(f"credit_config.oni.rubric: {err.args[0]}") from None
        if rubric.kind != self.model.kind:
            raise ConfigError(f"credit_config.oni.rubric: {self.rubric!r} judges {rubric.kind} items, the "
                              f"{c.reward_model} reward model needs a {self.model.kind} rubric")

    def _build_client(self, judge: Judge | None) -> Any:
        from llm_judges.backends import make_judge
        from llm_judges.base import JudgeError
        from llm_judges.client import JudgeClient

        c: ONIConfig = self.config
        url = self.context.judge_url
        target: Any = judge
        if target is None and url and c.judge_protocol == "credo":
            target = url
        elif target is None:
            jc = c.judge
            if url:
                base = url.rstrip("/")
                jc = jc.model_copy(update={"backend": "openai", "base_url": base if base.endswith("/v1") else base + "/v1"})
            try:
                target = make_judge(jc)
            except JudgeError as err:
                raise ConfigError(f"credit_config.oni.judge: {err}") from None
        return JudgeClient(target, self.rubric, api_key=c.judge_api_key, max_queue=c.max_backlog,
                           batch_size=c.judge_batch_size, timeout_s=c.judge_timeout_s, retry_s=c.judge_retry_s)

    # -- labels ------------------------------------------------------------------------------------------------
    def _merge(self) -> int:
        """Move the labels that arrived into the reward model (permuted first with `shuffle_labels`); returns how
        many could be read."""
        labels = self.client.poll()
        if not labels:
            return 0
        self._record(labels)
        good = {item: lab.value for item, lab in labels.items() if lab.value is not None}
        self.counts["labels_received"] += len(labels)
        self.counts["labels_unparseable"] += len(labels) - len(good)
        if good:
            with self.lock:
                self.model.add(self.shuffler.add(good) if self.shuffler is not None else good)
        return len(good)

    def _train_on_new(self, n: int) -> None:
        """The early schedule: `steps_per_label_batch` steps per `judge_batch_size` new labels (paper: 32 per
        batch while the dataset is under 25k)."""
        c: ONIConfig = self.config
        if n and len(self.model) < c.dataset_switch:
            self._train(c.steps_per_label_batch * math.ceil(n / c.judge_batch_size))

    def _ingest(self) -> None:
        """Merge the labels that arrived and train on them (the background thread; `background=false`: assign)."""
        if not self._merging.acquire(blocking=False):
            return  # the learner is merging them itself (`_await_labels`)
        try:
            n = self._merge()
        finally:
            self._merging.release()
        self._train_on_new(n)

    def _await_labels(self) -> None:
        """Wait at most `label_wait_s` for the judge to answer what is in flight (stop early when the judge
        fails), then merge and train on what came, so this iteration's new captions are scored with their labels.

        Why: ONI's learner never waits, and a caption earns nothing before the iteration after the one that first
        showed it (its label is asked for after the iteration's rewards are computed). Over the paper's 2e9 steps
        that lag is nothing; in a run of a few iterations it is everything: the first iteration always scores 0
        and logs labels_received=0, a one-iteration run never sees a label, and a rare sub-goal caption (the key
        pick-up), whose first sighting carries nearly all of its count-decayed bonus, is never rewarded when it
        first happens. With the embedded judge the wait is a fraction of a second.
        """
        c: ONIConfig = self.config
        if c.label_wait_s <= 0:
            return
        with self._merging:
            start = self.client.stats()
            deadline = time.monotonic() + c.label_wait_s
            while time.monotonic() < deadline:
                now = self.client.stats()
                if not now["in_flight"] or now["retries"] > start["retries"] or now["errors"] > start["errors"]:
                    break
                time.sleep(0.01)
            n = self._merge()
        self._train_on_new(n)

    def _record(self, labels: dict[Any, Any]) -> None:
        """Append the received labels to `run_dir/credit/oni/labels.jsonl` (what `credo runs serve` shows)."""
        if self.labels_file is None:
            return
        self.labels_file.parent.mkdir(parents=True, exist_ok=True)
        now = time.time()
        with open(self.labels_file, "a") as fh:
            for item, lab in labels.items():
                fh.write(json.dumps({"item": item if isinstance(item, str) else list(item), "label": lab.value,
                                     "time": now}) + "\n")

    def _train(self, steps: int) -> None:
        """`steps` reward-model updates, taking the lock for one update at a time so scoring waits at most one."""
        results = []
        for _ in range(steps):
            if self._stop.is_set():
                break
            with self.lock:
                results.append(self.model.train(1))
        results = [r for r in results if r]
        if results:
            self._rm_metrics = {k: float(np.mean([r[k] for r in results if k in r])) for k in results[-1]}

    def _ingest_loop(self) -> None:
        while not self._stop.wait(self.config.poll_interval_s):
            try:
                self._ingest()
            except Exception:  # the thread must outlive any bad batch: the learner relies on it
                log.exception("oni: label ingestion failed; continuing")

    def _request_labels(self, captions: list[str]) -> None:
        """Send what the reward model needs labelled: unknown captions, or pairs sampled from the pool."""
        c: ONIConfig = self.config
        if self.model.kind == "single":
            with self.lock:
                unknown = [m for m in dict.fromkeys(captions) if not self.model.knows(m)]
            self.client.submit(unknown)  # batch order: the newest steps are sent first
            return
        for m in captions:
            self._captions_seen += 1
            if self._captions_seen % c.pair_subsample or (c.dedup_pool and m in self._pool_set):
                continue
            if c.dedup_pool:
                if len(self.pool) == self.pool.maxlen:
                    self._pool_set.discard(self.pool[0])
                self._pool_set.add(m)
            self.pool.append(m)
        if self.pool and self.client.stats()["queued"] < 2 * c.judge_batch_size:
            n = len(self.pool)
            self.client.submit([(self.pool[self.rng.randrange(n)], self.pool[self.rng.randrange(n)])
                                for _ in range(c.pairs_per_iteration)])

    # -- the credit API ----------------------------------------------------------------------------------------
    def assign(self, episodes: list[Episode]) -> CreditOutput:
        c: ONIConfig = self.config
        if self._thread is None:
            self._ingest()
        caps = [[caption(s, self.family) for s in ep.steps] for ep in episodes]
        flat = [m for ep_caps in caps for m in ep_caps]
        self._request_labels(flat)
        self._await_labels()
        if len(self.model) >= c.dataset_switch:
            self._train(c.steps_per_iteration)
        with self.lock:
            r_int = self.model.score(flat) if len(self.model) >= c.min_labels else np.zeros(len(flat))
            known = np.array([self.model.knows(m) for m in flat], dtype=bool)
            dataset = len(self.model)
        out, intrinsic_all, start = [], [], 0
        for ep, ep_caps in zip(episodes, caps, strict=True):
            r = r_int[start:start + ep.length]
            start += ep.length
            intrinsic = c.llm_coeff * r * episode_counts(ep_caps) ** -c.beta
            rewards = intrinsic.copy()
            if c.rescale_extrinsic:
                env = np.array([s.reward for s in ep.steps], dtype=np.float64)
                rewards += self.extrinsic_coeff * np.clip(c.reward_scale * env, -c.reward_clip, c.reward_clip) - env
            for step, m, v in zip(ep.steps, ep_caps, intrinsic, strict=True):
                step.step_rewards["oni/intrinsic"] = float(v)
                if not step.caption:
                    step.caption = m
            out.append(rewards)
            intrinsic_all.append(intrinsic)
        return CreditOutput(out, metrics=self._metrics(np.concatenate(intrinsic_all) if intrinsic_all else
                                                       np.zeros(0), r_int, known, dataset))

    def _metrics(self, intrinsic: np.ndarray, r_int: np.ndarray, known: np.ndarray, dataset: int) -> dict[str, float]:
        now = time.monotonic()
        received = self.counts["labels_received"]
        stats = self.client.stats()
        rate = (received - self._last_labels) / max(now - self._last_time, 1e-9)
        self._last_time, self._last_labels = now, received
        error = getattr(self.client, "last_error", "")
        if error and error != self._last_error:
            log.warning("oni: judge: %s; training continues on what is labelled (%d labels so far)", error, received)
        self._last_error = error
        out = {
            "labels_received": float(received), "label_rate": rate,
            "labels_unparseable": float(self.counts["labels_unparseable"]),
            "unlabelled_frac": float(1.0 - known.mean()) if known.size else 0.0,
            "label_backlog": float(stats["in_flight"]),  # awaiting a label: queued here or sent
            "labels_dropped": float(stats["dropped"]), "judge_errors": float(stats["errors"]),
            "judge_retries": float(stats["retries"]),
            "intrinsic_mean": float(intrinsic.mean()) if intrinsic.size else 0.0,
            "intrinsic_nonzero_frac": float((intrinsic != 0).mean()) if intrinsic.size else 0.0,
            "r_int_mean": float(r_int.mean()) if r_int.size else 0.0,
            "dataset_size": float(dataset), "extrinsic_coeff": self.extrinsic_coeff,
        }
        if isinstance(self.model, ClassificationModel | RankingModel):
            out["rm_updates"] = float(self.model.updates)
        out.update(self._rm_metrics)
        return out

    # -- checkpointing -----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        with self.lock:
            state = {"model": self.model.state_dict(), "pool": list(self.pool), "captions_seen": self._captions_seen,
                     "counts": dict(self.counts), "rng": self.rng.getstate()}
            if self.shuffler is not None:
                state["shuffler"] = self.shuffler.state_dict()
            return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.model.load_state_dict(state["model"])
            self.pool = deque(state["pool"], maxlen=self.config.max_pool)
            self._pool_set = set(self.pool) if self.config.dedup_pool else set()
            self._captions_seen = int(state["captions_seen"])
            self.counts.update(state["counts"])
            self.rng.setstate(state["rng"])
            if self.shuffler is not None and "shuffler" in state:
                self.shuffler.load_state_dict(state["shuffler"])
        self._last_labels = self.counts["labels_received"]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.client.close()
