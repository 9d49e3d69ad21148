"""ONI's three intrinsic reward models over captions (research/oni_lare.md §1.5-1.6), trained online on labels.

- `RetrievalModel` (ONI-Retrieval): the label table itself; r = label, 0 for a caption without a label.
- `ClassificationModel` (ONI-Classification): a character CNN trained by cross-entropy on every labelled
  caption; r = 1[p(helpful) > threshold].
- `RankingModel` (ONI-Ranking): the same CNN trunk with a scalar head r_phi, trained with the Bradley-Terry
  cross-entropy on pairwise preferences (a tie is a 0.5 target, never dropped). The paper's intended reward
  standardises r_phi with running statistics and zeroes it below `threshold` (in sigma units, -0.5); the
  released code feeds the raw r_phi to the learner (a bug: the standardised tensor is never read), kept behind
  `raw=True`.

All three share one interface (`add`, `train`, `score`, `state_dict`), so `credit/oni.py` only orchestrates.
None is thread-safe on its own: the ONI module serialises training and scoring with one lock.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MESSAGE_BYTES = 256
"""NLE's message array length: captions are cut to this many bytes, as ONI's reward models read them."""


def per_unique(captions: list[str], fn: Any) -> np.ndarray:
    """`fn` evaluated once per distinct caption, spread back over `captions` (batches repeat messages a lot)."""
    if not captions:
        return np.zeros(0)
    unique = list(dict.fromkeys(captions))
    values = dict(zip(unique, fn(unique), strict=True))
    return np.array([values[c] for c in captions], dtype=np.float64)


def encode_messages(messages: list[str]) -> torch.Tensor:
    """Captions -> [B, 256] byte ids (latin-1, as NLE decodes the message; 0 pads, unknown characters -> '?')."""
    out = np.zeros((len(messages), MESSAGE_BYTES), dtype=np.int64)
    for i, msg in enumerate(messages):
        raw = msg.encode("latin-1", errors="replace")[:MESSAGE_BYTES]
        out[i, :len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    return torch.from_numpy(out)


class CharCNN(nn.Module):
    """ONI's message trunk ("lt_cnn"): byte embedding 256->32, Conv(k7)+pool, Conv(k7)+pool, 4 x Conv(k3), pool:
    64 channels x 5 positions = 320 features for a 256-byte message."""

    out_features = 320

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(256, 32, padding_idx=0)
        convs: list[nn.Module] = [nn.Conv1d(32, 64, 7), nn.ReLU(), nn.MaxPool1d(3),
                                  nn.Conv1d(64, 64, 7), nn.ReLU(), nn.MaxPool1d(3)]
        for _ in range(4):
            convs += [nn.Conv1d(64, 64, 3), nn.ReLU()]
        self.convs = nn.Sequential(*convs, nn.MaxPool1d(3), nn.Flatten())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.convs(self.embed(ids).transpose(1, 2))


class ClassifierNet(nn.Module):
    """CharCNN -> Linear(320, 128) -> MLP [512, 512] (ReLU, dropout 0.1) -> 2 logits (ONI-Classification)."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = CharCNN()
        self.head = nn.Sequential(
            nn.Linear(CharCNN.out_features, 128), nn.ReLU(),
            nn.Linear(128, 512), nn.ReLU(), nn.Dropout(0.1),
            nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.1),
            nn.Linear(512, 2))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(ids))


class ScalarNet(nn.Module):
    """CharCNN -> FC 320->256->512 -> ReLU -> Linear(512, 1): the scalar r_phi of ONI-Ranking."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = CharCNN()
        self.head = nn.Sequential(nn.Linear(CharCNN.out_features, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                                  nn.Linear(512, 1))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(ids)).squeeze(-1)


class RunningMeanStd:
    """Mean and variance over every value seen, merged batch by batch (parallel-variance formula; the initial
    count 1e-4 keeps the first update well defined, as ONI's `RunningMeanStd`)."""

    def __init__(self, epsilon: float = 1e-4) -> None:
        self.mean, self.var, self.count = 0.0, 1.0, epsilon

    def update(self, x: np.ndarray) -> None:
        if x.size == 0:
            return
        b_mean, b_var, b_count = float(x.mean()), float(x.var()), x.size
        delta, total = b_mean - self.mean, self.count + b_count
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.mean, self.var, self.count = self.mean + delta * b_count / total, m2 / total, total

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]


class RetrievalModel:
    """ONI-Retrieval: r(caption) = its label, 0 when unlabelled. Nothing to train."""

    kind = "single"

    def __init__(self) -> None:
        self.labels: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def knows(self, caption: str) -> bool:
        """Whether `caption` has a label (labelled captions are not sent to the judge again)."""
        return caption in self.labels

    def add(self, labels: dict[Any, float]) -> int:
        """Merge {caption: label}; returns how many were new."""
        new = sum(k not in self.labels for k in labels)
        self.labels.update(labels)
        return new

    def train(self, steps: int) -> dict[str, float]:
        return {}

    def score(self, captions: list[str]) -> np.ndarray:
        return np.array([self.labels.get(c, 0.0) for c in captions], dtype=np.float64)

    def state_dict(self) -> dict[str, Any]:
        return {"labels": dict(self.labels)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.labels = dict(state["labels"])


class _Trained:
    """What the two trained models share: the network, Adam, minibatch sampling and gradient clipping."""

    def __init__(self, net: nn.Module, lr: float, batch_size: int, grad_clip: float, seed: int, device: str) -> None:
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()  # train() switches to training mode only while it runs
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.batch_size, self.grad_clip = batch_size, grad_clip
        self.rng = random.Random(seed)
        self.updates = 0

    def _step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), self.grad_clip)
        self.optimizer.step()
        self.updates += 1

    def _ids(self, captions: list[str]) -> torch.Tensor:
        return encode_messages(captions).to(self.device)

    def _net_state(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "updates": self.updates,
                "rng": self.rng.getstate()}

    def _load_net_state(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
        self.rng.setstate(state["rng"])


class ClassificationModel(_Trained, RetrievalModel):
    """ONI-Classification: the char CNN trained on every labelled caption; r = 1[p(helpful) > threshold]."""

    def __init__(self, *, lr: float = 1e-4, batch_size: int = 256, grad_clip: float = 10.0,
                 threshold: float = 0.5, seed: int = 0, device: str = "cpu") -> None:
        RetrievalModel.__init__(self)
        torch.manual_seed(seed)
        _Trained.__init__(self, ClassifierNet(), lr, batch_size, grad_clip, seed, device)
        self.threshold = threshold
        self._keys: list[str] = []  # labelled captions in insertion order, for O(1) minibatch sampling

    def add(self, labels: dict[Any, float]) -> int:
        self._keys += [k for k in labels if k not in self.labels]
        return RetrievalModel.add(self, labels)

    def train(self, steps: int) -> dict[str, float]:
        """`steps` Adam steps of cross-entropy on minibatches of the labelled captions (labels > 0.5 -> class 1)."""
        if not self._keys or steps <= 0:
            return {}
        self.net.train()
        losses, accs = [], []
        for _ in range(steps):
            batch = self.rng.sample(self._keys, min(self.batch_size, len(self._keys)))
            target = torch.tensor([int(self.labels[k] > 0.5) for k in batch], device=self.device)
            logits = self.net(self._ids(batch))
            loss = F.cross_entropy(logits, target)
            self._step(loss)
            losses.append(loss.item())
            accs.append((logits.argmax(-1) == target).float().mean().item())
        self.net.eval()
        return {"rm_loss": float(np.mean(losses)), "rm_accuracy": float(np.mean(accs))}

    @torch.no_grad()
    def probability(self, captions: list[str]) -> np.ndarray:
        """p(helpful | caption) under the current network."""
        return per_unique(captions, lambda u: torch.softmax(self.net(self._ids(u)), -1)[:, 1].double().cpu().numpy())

    def score(self, captions: list[str]) -> np.ndarray:
        return (self.probability(captions) > self.threshold).astype(np.float64)

    def state_dict(self) -> dict[str, Any]:
        return {"labels": dict(self.labels), "keys": list(self._keys), **self._net_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.labels, self._keys = dict(state["labels"]), list(state["keys"])
        self._load_net_state(state)


class RankingModel(_Trained):
    """ONI-Ranking: scalar r_phi trained by Bradley-Terry on labelled caption pairs (see the module docstring).

    Pair labels: 0 = the first caption is better, 1 = the second, 0.5 = tie (a soft target). The pair dataset is
    bounded (`max_pairs`, oldest dropped first), unlike the released code's.
    """

    kind = "pair"

    def __init__(self, *, lr: float = 1e-4, batch_size: int = 256, grad_clip: float = 10.0,
                 threshold: float = -0.5, raw: bool = False, max_pairs: int = 100_000, seed: int = 0,
                 device: str = "cpu") -> None:
        torch.manual_seed(seed)
        super().__init__(ScalarNet(), lr, batch_size, grad_clip, seed, device)
        self.threshold, self.raw = threshold, raw
        self.pairs: deque[tuple[str, str, float]] = deque(maxlen=max_pairs)
        self.stats = RunningMeanStd()
        self.seen: set[str] = set()  # captions that appear in some labelled pair

    def __len__(self) -> int:
        return len(self.pairs)

    def knows(self, caption: str) -> bool:
        return caption in self.seen

    def add(self, labels: dict[Any, float]) -> int:
        """Merge {(first, second): label}; every labelled pair is a new training example."""
        for (first, second), y in labels.items():
            self.pairs.append((first, second, float(y)))
            self.seen.update((first, second))
        return len(labels)

    def train(self, steps: int) -> dict[str, float]:
        """`steps` Adam steps of the Bradley-Terry loss -sum(target * log_softmax([r1, r2])), target [1-y, y]."""
        if not self.pairs or steps <= 0:
            return {}
        self.net.train()
        losses, accs = [], []
        for _ in range(steps):
            batch = [self.pairs[i] for i in self.rng.sample(range(len(self.pairs)), min(self.batch_size, len(self.pairs)))]
            first, second, y = zip(*batch, strict=True)
            r = self.net(self._ids([*first, *second])).view(2, -1).T  # [B, 2] = (r1, r2)
            y_t = torch.tensor(y, dtype=r.dtype, device=self.device)
            target = torch.stack([1 - y_t, y_t], dim=1)
            loss = -(target * F.log_softmax(r, dim=1)).sum(1).mean()
            self._step(loss)
            losses.append(loss.item())
            decided = y_t != 0.5
            if decided.any():
                accs.append(((r[:, 1] > r[:, 0]).float() == y_t)[decided].float().mean().item())
        self.net.eval()
        out = {"rm_loss": float(np.mean(losses))}
        if accs:
            out["rm_accuracy"] = float(np.mean(accs))
        return out

    @torch.no_grad()
    def raw_reward(self, captions: list[str]) -> np.ndarray:
        """r_phi(caption), unnormalised."""
        return per_unique(captions, lambda u: self.net(self._ids(u)).double().cpu().numpy())

    def score(self, captions: list[str]) -> np.ndarray:
        """Standardise by the running statistics (updated with this batch first), then zero below `threshold`;
        `raw=True`: the released code's raw r_phi (the statistics still update)."""
        r = self.raw_reward(captions)
        self.stats.update(r)
        if self.raw:
            return r
        z = (r - self.stats.mean) / np.sqrt(self.stats.var + 1e-8)
        return z * (z > self.threshold)

    def state_dict(self) -> dict[str, Any]:
        return {"pairs": list(self.pairs), "stats": self.stats.state_dict(), "seen": sorted(self.seen),
                **self._net_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pairs = deque((tuple(p) for p in state["pairs"]), maxlen=self.pairs.maxlen)
        self.stats.load_state_dict(state["stats"])
        self.seen = set(state["seen"])
        self._load_net_state(state)
