"""LaRe's reward decoder: an MLP f(z) on the latent factors z = φ(s), trained by return decomposition.

Only the episode outcome R is a target: Σ_t f(z_t) ≈ R. Per-step env rewards never enter (pitfall 13).

Losses (T = episode length; research/oni_lare.md §2.4):
- `rd`: (Σ_t f(z_t)/T − R/T)², the paper's LaRe_RD.
- `rrd`: K steps sampled without replacement, (mean_k f(z_k) − R/T)² (LaRe_RRD).
- `rrdu`: `rrd` minus the variance correction (1 − K/T)·s²/K, with s² the sample variance of the K predictions
  (RRD-unbiased, the paper's main MuJoCo variant LaRe_RRDu). It is an unbiased estimate of the `rd` loss. K is
  min(K, T) per episode: the released code samples with replacement when K > T, where the (1 − K/T) factor turns
  negative; sampling without replacement keeps the estimator unbiased and equals `rd` when K ≥ T.
Scaling (pitfall 12): `rd_scale="mean"` regresses per-step means to R/T as in the MuJoCo code; `"sum"` multiplies
each episode's term by T², i.e. regresses Σ f to R as in the MPE code, which weighs long episodes more. In both
cases Σ_t f(z_t) ≈ R, so the step rewards are on the scale of the return.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from torch import nn

Loss = Literal["rd", "rrd", "rrdu"]


class RewardDecoder(nn.Module):
    """d → hidden → ... → 1, ReLU (the paper's MuJoCo decoder is d→256→256→1)."""

    def __init__(self, n_factors: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        dims = [n_factors] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            blocks += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(dims[-1], 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)


def decomposition_loss(pred: torch.Tensor, mask: torch.Tensor, target: torch.Tensor, loss: Loss = "rrdu",
                       k: int = 64, rd_scale: Literal["mean", "sum"] = "mean",
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """The return-decomposition loss of a batch: `pred` [B, T] step predictions, `mask` [B, T] (1 on real steps),
    `target` [B] episode outcomes."""
    lengths = mask.sum(dim=1).clamp(min=1)
    if loss == "rd":
        n_sel = lengths
        sel, sel_mask = pred, mask
    else:
        keys = torch.rand(pred.shape, generator=generator, device=pred.device).masked_fill(mask == 0, 2.0)
        width = min(k, pred.shape[1])
        idx = keys.argsort(dim=1)[:, :width]
        n_sel = lengths.clamp(max=k)
        sel_mask = (torch.arange(width, device=pred.device)[None, :] < n_sel[:, None]).to(pred.dtype)
        sel = pred.gather(1, idx) * sel_mask
    mean_k = (sel * sel_mask).sum(dim=1) / n_sel
    per_episode = (mean_k - target / lengths) ** 2
    if loss == "rrdu":
        var = ((sel - mean_k[:, None]) ** 2 * sel_mask).sum(dim=1) / (n_sel - 1).clamp(min=1)
        per_episode = per_episode - (1 - n_sel / lengths) * var / n_sel
    if rd_scale == "sum":
        per_episode = per_episode * lengths**2
    return per_episode.mean()


class DecoderTrainer:
    """The decoder, its optimiser, an episode buffer of (factors, outcome) and the factor normaliser.

    Factors are standardised with the buffer's mean and std before the MLP (an addition to the paper, whose
    MuJoCo factors are already on similar scales; text-env factors such as gold or turn counts are not): switch
    it off with `normalize=False`. Failed states (NaN rows) enter the MLP as the mean (0 after standardising)."""

    def __init__(self, n_factors: int, *, hidden: int = 256, layers: int = 2, lr: float = 3e-4,
                 weight_decay: float = 0.0, loss: Loss = "rrdu", k: int = 64,
                 rd_scale: Literal["mean", "sum"] = "mean", batch_episodes: int = 32, buffer_episodes: int = 2000,
                 normalize: bool = True, seed: int = 0) -> None:
        with torch.random.fork_rng(devices=[]):  # seed the decoder's init without resetting the trainer's global RNG
            torch.manual_seed(seed)
            self.decoder = RewardDecoder(n_factors, hidden, layers)
        self.optimizer = torch.optim.Adam(self.decoder.parameters(), lr=lr, weight_decay=weight_decay)
        self.loss, self.k, self.rd_scale = loss, k, rd_scale
        self.batch_episodes, self.buffer_episodes, self.normalize = batch_episodes, buffer_episodes, normalize
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.factors: list[np.ndarray] = []
        self.targets: list[float] = []
        self.mean = np.zeros(n_factors)
        self.std = np.ones(n_factors)

    def add(self, factors: list[np.ndarray], targets: list[float]) -> None:
        """Append episodes (factors [T, d] each, NaN rows allowed) and their outcomes; the oldest fall out."""
        self.factors += [np.asarray(f, dtype=np.float32) for f in factors]
        self.targets += [float(t) for t in targets]
        del self.factors[:-self.buffer_episodes], self.targets[:-self.buffer_episodes]
        if self.normalize and self.factors:
            allz = np.concatenate(self.factors)
            if np.isfinite(allz).any():
                self.mean = np.nan_to_num(np.nanmean(allz, axis=0))
                self.std = np.nan_to_num(np.nanstd(allz, axis=0), nan=1.0)
                self.std[self.std < 1e-6] = 1.0

    def _inputs(self, factors: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded, standardised [B, T, d] inputs and the [B, T] mask."""
        width = max(len(f) for f in factors)
        z = np.zeros((len(factors), width, len(self.mean)), dtype=np.float32)
        mask = np.zeros((len(factors), width), dtype=np.float32)
        for i, f in enumerate(factors):
            z[i, :len(f)] = np.nan_to_num((f - self.mean) / self.std)
            mask[i, :len(f)] = 1.0
        return torch.from_numpy(z), torch.from_numpy(mask)

    def update(self, steps: int) -> dict[str, float]:
        """`steps` gradient steps, each on `batch_episodes` episodes drawn from the buffer."""
        if not self.factors or steps <= 0:
            return {}
        self.decoder.train()
        losses = []
        for _ in range(steps):
            pick = self.rng.integers(0, len(self.factors), size=min(self.batch_episodes, len(self.factors)))
            z, mask = self._inputs([self.factors[i] for i in pick])
            target = torch.tensor([self.targets[i] for i in pick], dtype=torch.float32)
            loss = decomposition_loss(self.decoder(z) * mask, mask, target, self.loss, self.k, self.rd_scale,
                                      self.generator)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
        return {"decoder_loss": float(np.mean(losses)), "buffer_episodes": float(len(self.factors))}

    @torch.no_grad()
    def predict(self, factors: list[np.ndarray]) -> list[np.ndarray]:
        """Step rewards f(z_t) for each episode."""
        if not factors:
            return []
        self.decoder.eval()
        z, mask = self._inputs([np.asarray(f, dtype=np.float32) for f in factors])
        pred = (self.decoder(z) * mask).numpy().astype(np.float64)
        return [pred[i, :len(f)] for i, f in enumerate(factors)]

    def state_dict(self) -> dict[str, Any]:
        return {"decoder": self.decoder.state_dict(), "optimizer": self.optimizer.state_dict(),
                "mean": self.mean, "std": self.std, "factors": self.factors, "targets": self.targets,
                "rng": self.rng.bit_generator.state, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decoder.load_state_dict(state["decoder"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.mean, self.std = np.asarray(state["mean"]), np.asarray(state["std"])
        self.factors, self.targets = list(state["factors"]), list(state["targets"])
        self.rng.bit_generator.state = state["rng"]
        self.generator.set_state(state["generator"])
