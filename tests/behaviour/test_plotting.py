"""Figures of the behaviour stage (Agg backend)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from brainscore_speech.plotting import (
    plot_abx_profile,
    plot_human_agreement,
    plot_model_vs_humans,
)


def test_plot_abx_profile(tmp_path):
    scores = pd.DataFrame({"model": ["m"] * 3 + ["r"] * 3,
                           "layer": ["conv0", "conv1", "transf0"] * 2,
                           "error": [0.3, 0.2, 0.25, 0.4, 0.35, 0.38],
                           "accuracy": [0.7, 0.8, 0.75, 0.6, 0.65, 0.62],
                           "convention": "millet-dunbar"})
    fig = plot_abx_profile(scores, baselines={"MFCC": 0.22},
                           output_file=tmp_path / "p.png")
    assert isinstance(fig, Figure) and (tmp_path / "p.png").stat().st_size > 5000
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == \
        ["conv0", "conv1", "transf0"]
    with pytest.raises(ValueError, match=r"'scores' lacks columns \['error'\]"):
        plot_abx_profile(scores.drop(columns="error"))


def test_plot_model_vs_humans_and_agreement(rng, tmp_path):
    contrasts = pd.DataFrame({"answer": rng.standard_normal(20),
                              "stimulus_language": ["EN", "FR"] * 10,
                              "a": rng.standard_normal(20),
                              "b": rng.standard_normal(20)})
    fig = plot_model_vs_humans(contrasts, ["a", "b"], output_file=tmp_path / "c.png")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    summary = pd.DataFrame({"model": ["a", "b"] * 3,
                            "metric": ["accuracy"] * 2 + ["loglik"] * 2
                            + ["spearman"] * 2,
                            "value": [0.7, 0.6, -10.0, -12.0, 0.5, 0.4],
                            "ci_low": [0.69, 0.58, -11, -13, 0.45, 0.35],
                            "ci_high": [0.72, 0.61, -9, -11, 0.55, 0.45]})
    fig = plot_human_agreement(summary, output_file=tmp_path / "a.png")
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert np.isfinite(fig.axes[1].get_xlim()).all()


def test_report_behaviour_section(tmp_path):
    from brainscore_speech.plotting.report import _behaviour_section

    assert _behaviour_section(tmp_path) == []
    scores = pd.DataFrame({"model": ["m", "m", "mfcc"],
                           "layer": ["conv0", "conv1", "mfcc"],
                           "error": [0.3, 0.2, 0.1], "accuracy": [0.7, 0.8, 0.9],
                           "convention": "millet-dunbar"})
    scores.to_csv(tmp_path / "abx_scores.tsv", sep="\t", index=False)
    plot_abx_profile(scores, output_file=tmp_path / "abx_profile.png")
    html = "\n".join(_behaviour_section(tmp_path))
    assert "Behaviour: ABX phone discrimination" in html
    assert "millet-dunbar" in html and "data:image/png;base64" in html
    assert "<td>20.0</td>" in html  # conv1 error of model m, in percent
    assert "held-out error" not in html  # no per-triplet deltas here


def test_report_behaviour_section_held_out_layer_table(tmp_path):
    from brainscore_speech.behaviour import held_out_best_layer
    from brainscore_speech.plotting.report import _behaviour_section

    from .test_abx import _layer_deltas

    deltas = _layer_deltas(np.random.default_rng(0), [0.0, 1.0, 0.2])
    n = len(deltas)
    deltas = deltas.assign(model="ckpt", triplet_id=np.arange(n) % (n // 3),
                           tgt_item="a", oth_item="b", x_item="x",
                           d_tgt_x=1.0, d_oth_x=1.0 + deltas["delta"])
    (tmp_path / "ckpt").mkdir()
    deltas.to_csv(tmp_path / "ckpt" / "abx_deltas.tsv", sep="\t", index=False)
    pd.DataFrame({"model": "ckpt", "layer": ["L0", "L1", "L2"],
                  "error": [0.5, 0.1, 0.3], "accuracy": [0.5, 0.9, 0.7],
                  "convention": "millet-dunbar"}).to_csv(
        tmp_path / "abx_scores.tsv", sep="\t", index=False)
    html = "\n".join(_behaviour_section(tmp_path))
    held = held_out_best_layer(deltas)[0]["error"].iloc[0]
    assert "held-out error (%)" in html and "<td>L1</td>" in html
    assert f"<td>{100 * held:.1f}</td>" in html
