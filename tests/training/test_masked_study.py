"""HuBERT and WavLM checkpoints through extract -> score -> group (simulated study)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from brainscore_speech.training import make_config, train

pytestmark = pytest.mark.filterwarnings("ignore:.*edge of the grid:UserWarning")


@pytest.mark.slow
def test_hubert_and_wavlm_checkpoints_extract_score_group(chirp_manifest, chirp_targets,
                                                          tmp_path):
    from brainscore_speech.analysis import run_group
    from brainscore_speech.containers import LayerScores, read_activation_meta
    from brainscore_speech.data.simulate import simulate_study
    from brainscore_speech.features import extract_stimuli
    from brainscore_speech.workflows.score import score_subject

    study = simulate_study(tmp_path / "study", n_subjects=2, n_runs=2, scans_per_run=30,
                           seed=5)
    bids = study.bids_root
    deriv = tmp_path / "deriv"
    layers = ["conv6", "transf2"]
    for objective in ("hubert", "wavlm"):
        cfg = make_config(regime="speech-en", preset="tiny",
                          corpus=[str(chirp_manifest)],
                          out=str(tmp_path / objective), objective=objective,
                          targets=str(chirp_targets), max_steps=2, checkpoint_every=2,
                          batch_seconds=4.0, micro_batch_seconds=4.0, eval_seconds=4.0)
        ckpt = train(cfg)
        act = tmp_path / "act" / objective
        extract_stimuli(ckpt.path, bids / "stimuli", act, model_id=objective)
        h5 = sorted(act.glob("*.h5"))
        assert h5
        meta = read_activation_meta(h5[0])
        assert meta["model_meta"]["objective"] == objective
        assert meta["model_meta"]["model_type"] == objective
        for sub in ("01", "02"):
            score_subject(bids, sub, act, deriv, layers=layers)
    for objective in ("hubert", "wavlm"):
        ls = LayerScores.load(next(deriv.glob(f"sub-01/*model-{objective}_layerscores"
                                              ".npz")))
        assert ls.model_meta["objective"] == objective
        assert ls.model_meta["regime"] == "speech" and list(ls.layer_names) == layers
        assert np.isfinite(ls.scores).any()
        tsv = pd.read_csv(next(deriv.glob(f"sub-01/*model-{objective}_scores.tsv")),
                          sep="\t")
        assert set(tsv["objective"]) == {objective}
    res = run_group(deriv, tmp_path / "group", test="ttest", random_state=0)
    summary = pd.read_csv(tmp_path / "group" / "group_summary.tsv", sep="\t")
    assert {"hubert", "wavlm"} <= set(summary["model"])
    for objective in ("hubert", "wavlm"):
        prof = pd.read_csv(tmp_path / "group" / f"model-{objective}_layerprofile.tsv",
                           sep="\t")
        assert set(prof["objective"]) == {objective} and len(prof) == 2 * len(layers)
    assert json.loads((tmp_path / "group" / "group_provenance.json").read_text())
    assert res
