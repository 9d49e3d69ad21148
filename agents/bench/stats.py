"""Interval estimates for few-seed RL comparisons, as rliable recommends (Agarwal et al., NeurIPS 2021).

- Point estimate: the interquartile mean (IQM, the mean of the middle 50% of runs; `scipy.stats.trim_mean`
  with 25% cut from each end), robust to one outlier seed yet less noisy than the median.
- Interval: the 95% percentile bootstrap over runs (`scipy.stats.bootstrap`, 10,000 resamples, fixed seed so a
  report is reproducible). With several tasks the bootstrap is *stratified*: runs are resampled within each task
  (scipy resamples each sample independently), which is rliable's stratified bootstrap.
- Differences between two arms resample each arm's runs independently (runs of different arms share a seed
  number, not a trajectory).

Why not rliable itself: rliable 1.2.0 (the current release) fails with the arch 7.x it installs
(`TypeError: Only NumPy arrays ... Input random_state has type NoneType` from arch's bootstrap, checked on
numpy 2.4 / scipy 1.17), and it would add pandas, statsmodels, seaborn and arch; scipy (already a dependency)
implements the same estimator.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

RESAMPLES = 10_000
CONFIDENCE = 0.95
TRIM = 0.25


def iqm(values: Sequence[float] | np.ndarray, axis: int = -1) -> float | np.ndarray:
    """Interquartile mean (with fewer than 4 values nothing is trimmed: the plain mean)."""
    from scipy.stats import trim_mean

    return trim_mean(np.asarray(values, dtype=float), TRIM, axis=axis)


def _interval(samples: list[np.ndarray], statistic) -> tuple[float, float] | None:
    from scipy.stats import bootstrap

    if any(len(s) < 2 for s in samples):
        return None
    flat = np.concatenate(samples)
    if np.all(flat == flat[0]) and len(samples) == 1:
        return (float(flat[0]), float(flat[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples (all equal) are fine: the interval is a point
        res = bootstrap(samples, statistic, n_resamples=RESAMPLES, confidence_level=CONFIDENCE, method="percentile",
                        vectorized=True, paired=False, rng=np.random.default_rng(0))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if math.isnan(lo) or math.isnan(hi):
        point = float(statistic(*[s[None, :] for s in samples], axis=-1)[0])
        return (point, point)
    return (lo, hi)


def iqm_ci(values: Sequence[float]) -> tuple[float | None, tuple[float, float] | None]:
    """(IQM, 95% CI) of one arm's runs on one task; (None, None) without values, CI None with one value."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0:
        return None, None
    return float(iqm(x)), _interval([x], lambda a, axis: iqm(a, axis=axis))


def mean_ci(values: Sequence[float]) -> tuple[float | None, tuple[float, float] | None]:
    """(mean, 95% percentile bootstrap CI): for bounded quantities such as correlations, whose t interval can
    leave their range."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0:
        return None, None
    return float(x.mean()), _interval([x], lambda a, axis: np.mean(a, axis=axis))


def difference_ci(arm: Sequence[float], baseline: Sequence[float]) -> tuple[float | None, tuple[float, float] | None]:
    """IQM(arm) - IQM(baseline) with a 95% CI, each arm's runs resampled independently."""
    x = np.asarray([v for v in arm if v is not None and np.isfinite(v)], dtype=float)
    y = np.asarray([v for v in baseline if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0 or y.size == 0:
        return None, None
    return float(iqm(x) - iqm(y)), _interval([x, y], lambda a, b, axis: iqm(a, axis=axis) - iqm(b, axis=axis))


def stratified_iqm_ci(per_task: Sequence[Sequence[float]]) -> tuple[float | None, tuple[float, float] | None]:
    """IQM over the runs of several tasks, with the stratified bootstrap (runs resampled within their task)."""
    samples = [np.asarray(list(t), dtype=float) for t in per_task if len(t)]
    if not samples:
        return None, None
    point = float(iqm(np.concatenate(samples)))
    return point, _interval(samples, lambda *a, axis: iqm(np.concatenate(a, axis=axis), axis=axis))


def excludes_zero(ci: tuple[float, float] | None) -> bool:
    return ci is not None and (ci[0] > 0 or ci[1] < 0)
