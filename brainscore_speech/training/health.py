"""Collapse checks for wav2vec 2.0 pretraining (METHODS §14.3 failure modes).

The known degenerate solution: the codebook collapses (code perplexity -> G, one
code per group), every distractor equals its target and is masked to -inf, the
contrastive loss drops to 0 and the gradient vanishes. A model trained that way
would later be scored as if it were real, so the run is stopped.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

from .._logging import logger
from ..exceptions import BrainscoreWarning, CollapseError

__all__ = ["CollapseWarning", "HealthMonitor", "check_health"]


class CollapseWarning(BrainscoreWarning):
    """Training shows a sign of collapse (it is stopped if the sign persists)."""


def check_health(metrics: dict, *, num_groups: int, collapse_perplexity: float,
                 grad_norm_band: tuple[float, float]) -> tuple[list[str], list[str]]:
    """Classify one update's metrics.

    Parameters
    ----------
    metrics : dict
        Needs ``loss`` (contrastive per masked frame), ``accuracy``,
        ``code_perplexity``, ``neg_is_pos`` (fraction of distractors equal to the
        target) and ``grad_norm`` (before clipping).
    num_groups : int
        G (the code perplexity of a fully collapsed codebook).
    collapse_perplexity : float
    grad_norm_band : (low, high)

    Returns
    -------
    collapse : list of str
        Signs of collapse (count towards stopping the run).
    warnings : list of str
        Other anomalies (logged and warned only).
    """
    collapse, other = [], []
    ppl, loss = metrics["code_perplexity"], metrics["loss"]
    gnorm = metrics["grad_norm"]
    if ppl < collapse_perplexity:
        collapse.append(f"code perplexity {ppl:.2f} < {collapse_perplexity:g} "
                        f"(full collapse = {num_groups})")
    if metrics["neg_is_pos"] > 0.5:
        collapse.append(f"{100 * metrics['neg_is_pos']:.0f}% of negatives equal "
                        "their positive")
    if math.isfinite(loss) and loss < 1e-3 and metrics["accuracy"] > 0.999:
        collapse.append(f"contrastive loss {loss:.4f} ~ 0 with accuracy ~ 1")
    grad_norm_checks(loss, gnorm, grad_norm_band, collapse, other)
    return collapse, other


def grad_norm_checks(loss: float, gnorm: float, grad_norm_band: tuple[float, float],
                     collapse: list[str], other: list[str]) -> None:
    """Append the loss / gradient-norm findings shared by every objective.

    A non-finite loss or gradient norm, or a norm below the band, is a collapse
    sign (``collapse``); a norm above the band is a warning only (``other``).
    """
    if not math.isfinite(loss) or not math.isfinite(gnorm):
        collapse.append(f"non-finite loss {loss} or grad norm {gnorm}")
    elif gnorm < grad_norm_band[0]:
        collapse.append(f"grad norm {gnorm:.2e} below {grad_norm_band[0]:g}")
    elif gnorm > grad_norm_band[1]:
        other.append(f"grad norm {gnorm:.2e} above {grad_norm_band[1]:g}")


@dataclass
class HealthMonitor:
    """Track health over updates; warn once, raise after ``patience`` bad updates.

    Parameters
    ----------
    num_groups : int
    collapse_perplexity : float
    grad_norm_band : (low, high)
    patience : int
        Consecutive updates with a sign of collapse before :class:`CollapseError`.
    streak : int, default=0
        Consecutive bad updates so far (state).
    _warned : set
        Warnings already given (state; each is given once).
    """

    num_groups: int
    collapse_perplexity: float
    grad_norm_band: tuple[float, float]
    patience: int
    streak: int = 0
    _warned: set = field(default_factory=set)

    def update(self, step: int, metrics: dict, *, last_good: str = "") -> list[str]:
        """Check one update; return the issues found (also logged).

        Raises
        ------
        CollapseError
            When signs of collapse persisted for ``patience`` updates.
        """
        collapse, other = check_health(
            metrics, num_groups=self.num_groups,
            collapse_perplexity=self.collapse_perplexity,
            grad_norm_band=self.grad_norm_band)
        self.streak = self.streak + 1 if collapse else 0
        issues = collapse + other
        for msg in issues:
            logger.warning("step %d: %s", step, msg)
        new = {m.split(" ")[0] for m in issues} - self._warned
        if new:  # one warning per update, and only for kinds not seen before
            self._warned |= new
            warnings.warn(f"Training health at step {step}: {'; '.join(issues)}.",
                          CollapseWarning, stacklevel=3)
        if self.streak >= self.patience:
            raise CollapseError(
                f"Training collapsed at step {step}: {'; '.join(collapse)} for "
                f"{self.streak} consecutive updates. {last_good}Try a lower --lr, a "
                "larger --batch-seconds (effective batch) or more data; a higher "
                "diversity_loss_weight also counters codebook collapse.")
        return issues
