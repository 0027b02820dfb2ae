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


NOISE_STEPS = 150


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_tiny_stays_at_chance_on_white_noise(noise_manifest, tmp_path, seed):
    """Control: nothing to predict in white noise, so the loss stays at chance.

    Measured on this machine (noise = 8 x 10 s z-scored crops, 8 x 2 s per update):

    - Root cause of the earlier collapse: ``sample_masks`` drew the span count per
      row instead of once per batch (fairseq ``all_num_mask``); rows then differed
      by a whole span and the equalisation thinned ~5 random frames per row,
      leaving 46 % (vs 30 %) of masked frames next to an unmasked one, whose
      overlapping receptive field (80 of 400 samples) leaks the target. With that
      bug the tiny recipe (diversity 0.02) collapsed on noise by step ~60 (code
      perplexity 2 of 64, loss -> 0 through -inf masking). In the pure HF recipe
      the same per-row masks gave 2 of 3 seeds below chance in 80 steps.
    - With the fix, diversity 0.02 still collapses on noise for some seeds
      (seed 0: 3.02 after 100 steps, code perplexity 15; seed 1: collapse at
      ~step 80, loss 1.79, perplexity 2). The HF recipe with a per-batch span
      count also dropped for 2 of 7 seeds in 80 steps: with a weak diversity
      term and nothing to learn, codebook collapse is a stochastic attractor.
    - FINDINGS 1a: diversity 0.1 stays at chance on noise (600 steps). Ours:
      seed 1, 150 steps: 3.03, code perplexity 22. That is the weight this
      control uses; the speech acceptance keeps the tiny default 0.02, which
      learns within 300 steps (0.1 plateaus at chance for ~250 steps).
    """
    loss, last = _run([noise_manifest], tmp_path / "ck", seed, max_steps=NOISE_STEPS,
                      checkpoint_every=NOISE_STEPS, diversity_loss_weight=0.1)
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
