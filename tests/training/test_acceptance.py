"""The tiny preset learns real speech (3 seeds) and stays at chance on white noise."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from brainscore_speech.exceptions import CollapseError
from brainscore_speech.training import CollapseWarning, make_config, read_metrics, train

STEPS = 300  # FINDINGS §10: 300 steps of the tiny recipe on the EN + FR clips
CHANCE = math.log(20 + 1)  # ln(K+1), K = 20 negatives (tiny preset)


def _run(manifests, out, seed, **kw):
    kw = {"max_steps": STEPS, "checkpoint_every": STEPS, **kw}
    cfg = make_config(regime="speech-en", preset="tiny",
                      corpus=[str(m) for m in manifests], out=str(out), seed=seed, **kw)
    train(cfg)
    recs = read_metrics(out)
    return float(np.mean([r["loss"] for r in recs[-10:]])), recs[-1]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiny_learns_real_speech(speech_manifests, tmp_path, seed):
    loss, last = _run(speech_manifests, tmp_path / "ck", seed)
    # per masked frame, mean of the last 10 updates, below chance by a margin
    assert loss < CHANCE - 0.1, (seed, loss)
    # far from collapse: full collapse is perplexity G = 2 of G*V = 64
    assert last["code_perplexity"] > 8.0 and last["prob_perplexity"] > 8.0, last
    assert last["neg_is_pos"] < 0.5


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiny_stays_at_chance_on_white_noise(noise_manifest, tmp_path, seed):
    """Control: the very same run on white noise has nothing to predict.

    Same preset, steps and seeds as the speech test; only the corpus differs.
    Measured on this machine (noise = 8 x 10 s, 8 x 2 s crops per update,
    300 steps): 3.043 on all 3 seeds, code perplexity 59-60 of 64.

    History of the tiny default diversity weight (see ``PRESET_DEFAULTS``):

    - A masking bug (span count drawn per row instead of once per batch, as
      fairseq's ``all_num_mask``) left 46 % of masked frames next to an unmasked
      one, whose overlapping receptive field leaks the target; noise then
      collapsed by step ~60 at diversity 0.02. Fixed.
    - After the fix, diversity 0.02 and 0.05 still collapse on noise for 1 seed
      in 3 (seed 1 at 0.05: code perplexity 2.4 by step 34, loss 1.6 through
      -inf masking of equal negatives): with a weak diversity term and nothing
      to learn, codebook collapse is a stochastic attractor.
    - Diversity 0.1 (fairseq / HF default): noise at chance on 3/3 seeds and
      speech below chance on 3/3 seeds (2.32 / 2.55 / 2.44) in 300 steps.
    """
    loss, last = _run([noise_manifest], tmp_path / "ck", seed)
    assert loss >= CHANCE - 0.1, (seed, loss)
    assert last["code_perplexity"] > 8.0 and last["neg_is_pos"] < 0.1, last


@pytest.mark.slow
def test_degenerate_setting_collapses_and_is_stopped(noise_manifest, tmp_path):
    # No diversity term on white noise: the known degenerate solution (code
    # perplexity -> 2 of 64, every negative equal to its positive, loss -> 0 by
    # -inf masking, FINDINGS 1a). The health monitor must stop such a run rather
    # than let a "trained" model through.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapseWarning)
        with pytest.raises(CollapseError, match=r"Training collapsed at step \d+: code "
                                                r"perplexity"):
            _run([noise_manifest], tmp_path / "ck", 0, diversity_loss_weight=0.0)
    recs = read_metrics(tmp_path / "ck")
    assert len(recs) < STEPS
    # no update showed speech-like learning: below chance with a healthy codebook
    assert not [r for r in recs if r["loss"] < CHANCE - 0.1
                and r["code_perplexity"] > 8.0 and r["neg_is_pos"] < 0.1]
