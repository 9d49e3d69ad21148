"""LaRe's reward decoder: return decomposition recovers per-step rewards from latent factors, and RRD-u is unbiased."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from credit.lare_decoder import DecoderTrainer, decomposition_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def synthetic(n: int, seed: int) -> tuple[list[np.ndarray], list[float], list[np.ndarray]]:
    """Episodes of 5-39 steps; factors (distance walked, a bad-event flag, pure noise); the true reward of a step
    is 0.5 * walked - 2 * bad, nonlinear-free; only the episode's sum is given to the decoder."""
    rng = np.random.default_rng(seed)
    factors, returns, true = [], [], []
    for _ in range(n):
        t = int(rng.integers(5, 40))
        z = np.stack([rng.uniform(0, 10, t), rng.integers(0, 2, t).astype(float), rng.normal(0, 1, t)], axis=1)
        r = 0.5 * z[:, 0] - 2.0 * z[:, 1]
        factors.append(z)
        returns.append(float(r.sum()))
        true.append(r)
    return factors, returns, true


@pytest.mark.parametrize(("loss", "rd_scale"), [("rd", "mean"), ("rrdu", "mean"), ("rrdu", "sum")])
def test_decoder_recovers_per_step_rewards_from_episode_returns(loss: str, rd_scale: str) -> None:
    trainer = DecoderTrainer(3, hidden=64, lr=3e-3, loss=loss, k=8, rd_scale=rd_scale, seed=0)
    factors, returns, _ = synthetic(200, seed=1)
    trainer.add(factors, returns)
    before = trainer.predict(synthetic(40, seed=2)[0])
    trainer.update(200)
    test_factors, test_returns, test_true = synthetic(40, seed=2)
    pred = trainer.predict(test_factors)
    corr = np.corrcoef(np.concatenate(pred), np.concatenate(test_true))[0, 1]
    corr_before = np.corrcoef(np.concatenate(before), np.concatenate(test_true))[0, 1]
    assert corr > 0.9 > abs(corr_before) + 0.3, (corr, corr_before)
    # step rewards are on the return's scale: they sum to about the episode return
    sums = np.array([p.sum() for p in pred])
    assert np.corrcoef(sums, test_returns)[0, 1] > 0.95
    assert np.median(np.abs(sums - np.array(test_returns))) < 0.2 * np.std(test_returns)


def test_rrd_unbiased_loss_is_an_unbiased_estimate_of_the_rd_loss() -> None:
    torch.manual_seed(0)
    pred = torch.randn(3, 12)
    mask = torch.ones(3, 12)
    mask[1, 7:] = 0  # episode lengths 12, 7, 12
    mask[2, 4:] = 0
    target = torch.tensor([1.0, -2.0, 0.5])
    pred = pred * mask
    exact = decomposition_loss(pred, mask, target, "rd").item()
    gen = torch.Generator().manual_seed(0)
    draws = 20000  # the batch mean over many copies of the batch = the expectation over the K-step samples
    copies = (pred.repeat(draws, 1), mask.repeat(draws, 1), target.repeat(draws))
    unbiased = decomposition_loss(*copies, "rrdu", k=3, generator=gen).item()
    biased = decomposition_loss(*copies, "rrd", k=3, generator=gen).item()
    assert unbiased == pytest.approx(exact, rel=0.03)
    assert biased > exact * 1.05  # without the correction the sampled loss is biased upwards
    # K at least T: every step is taken, so all three losses coincide
    full = [decomposition_loss(pred, mask, target, name, k=64, generator=gen).item() for name in ("rrd", "rrdu")]
    np.testing.assert_allclose(full, [exact, exact], rtol=1e-5)
    # "sum" weighs each episode by T^2: the same minimiser, on the scale of the return
    lengths = mask.sum(1)
    per_mean = ((pred.sum(1) / lengths - target / lengths) ** 2)
    np.testing.assert_allclose(decomposition_loss(pred, mask, target, "rd", rd_scale="sum").item(),
                               (per_mean * lengths**2).mean().item(), rtol=1e-5)


def test_failed_states_and_normalisation() -> None:
    trainer = DecoderTrainer(2, hidden=8, seed=0)
    z = np.array([[1000.0, 1.0], [np.nan, np.nan], [3000.0, 0.0]])
    trainer.add([z], [1.0])
    np.testing.assert_allclose(trainer.mean, [2000.0, 0.5])
    np.testing.assert_allclose(trainer.std, [1000.0, 0.5])
    (pred,) = trainer.predict([z])
    assert pred.shape == (3,) and np.isfinite(pred).all()
    # a NaN row (evaluate failed there) enters as the mean: the prediction at the all-zero input
    zero = trainer.decoder(torch.zeros(1, 2)).item()
    assert pred[1] == pytest.approx(zero, abs=1e-6)


def test_buffer_keeps_the_newest_episodes() -> None:
    trainer = DecoderTrainer(1, hidden=4, buffer_episodes=3, seed=0)
    for i in range(5):
        trainer.add([np.full((2, 1), float(i))], [float(i)])
    assert trainer.targets == [2.0, 3.0, 4.0] and len(trainer.factors) == 3
