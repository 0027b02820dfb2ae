"""One hierarchy map by relative depth: BASE-like (4 blocks) + LARGE-like (8) models."""

from __future__ import annotations

import numpy as np
import pytest

from brainscore_speech._layers import complete_layer_info, relative_depths
from brainscore_speech.containers import HierarchyMap, LayerScores, read_activation_meta

from ..conftest import run_cli

pytestmark = pytest.mark.filterwarnings("ignore:.*edge of the grid:UserWarning")
CONV = ["conv0", "conv3", "conv6"]  # extracted and scored (of the 7 blocks)
CONV_DEPTHS = [0.0, 0.5, 1.0]


@pytest.fixture(scope="module")
def two_depth_study(tmp_path_factory):
    """A simulated study, scored with a 4-block and an 8-block tiny wav2vec2."""
    from brainscore_speech.data.simulate import simulate_study
    from brainscore_speech.features import (
        extract_stimuli,
        make_random_model,
        make_tiny_config,
        save_hf_checkpoint,
    )
    from brainscore_speech.workflows.score import score_subject

    root = tmp_path_factory.mktemp("depth")
    study = simulate_study(root / "study", n_subjects=2, n_runs=2, scans_per_run=16,
                           seed=3)
    deriv = root / "deriv"
    acts = {}
    for model_id, n_layers in (("base4", 4), ("large8", 8)):
        ckpt = save_hf_checkpoint(make_random_model(make_tiny_config(
            num_hidden_layers=n_layers), seed=n_layers), root / model_id)
        acts[model_id] = root / "acts" / model_id
        layers = CONV + ["encoder_input"] + [f"transf{i}" for i in range(n_layers)]
        extract_stimuli(ckpt, study.bids_root / "stimuli", acts[model_id],
                        model_id=model_id, layers=layers)
        for sub in study.subjects:
            score_subject(study.bids_root, sub, acts[model_id], deriv)
    return study, deriv, acts, root


def test_relative_depths_of_names():
    d = relative_depths(["conv0", "conv3", "conv6", "encoder_input", "transf5",
                         "transf11", "stage1", "stage2"], n_conv=7, n_transformer=12)
    assert [d[n]["relative_depth"] for n in ("conv0", "conv3", "conv6")] == [0, 0.5, 1]
    assert d["encoder_input"] == {"stage": "transformer", "index": 0,
                                  "relative_depth": 0.0}
    assert d["transf5"]["relative_depth"] == 0.5
    assert d["transf11"]["relative_depth"] == 1
    assert d["stage2"] == {"stage": "other", "index": 1, "relative_depth": 1.0}
    deep = relative_depths(["transf11"], n_transformer=24)
    assert deep["transf11"]["relative_depth"] == 0.5
    with pytest.raises(ValueError, match="'transf12' needs at least 13 transformer"):
        relative_depths(["transf12"], n_transformer=12)
    with pytest.raises(ValueError, match="'conv7' needs at least 8 conv blocks"):
        relative_depths(["conv7"], n_conv=7)
    old = complete_layer_info(["conv0", "conv6", "transf1"], {})
    assert old["transf1"]["inferred"] and old["transf1"]["relative_depth"] == 1.0


@pytest.mark.slow  # shares a ~30-60 s simulated study + 2 models
def test_activation_files_and_layer_scores_record_depth_and_rate(two_depth_study):
    study, deriv, acts, _ = two_depth_study
    stages = read_activation_meta(study.activations / "story01.h5")["layer_info"]
    assert stages["stage1"] == {"stage": "other", "index": 0, "relative_depth": 0.0}
    assert stages[f"stage{len(stages)}"]["relative_depth"] == 1.0
    for model_id, n in (("base4", 4), ("large8", 8)):
        info = read_activation_meta(acts[model_id] / "story01.h5")["layer_info"]
        # depth counts the model's 7 conv blocks, not the 3 extracted
        assert [info[c]["relative_depth"] for c in CONV] == CONV_DEPTHS
        assert info["encoder_input"]["relative_depth"] == 0.0
        np.testing.assert_allclose([info[f"transf{i}"]["relative_depth"]
                                    for i in range(n)], np.arange(1, n + 1) / n,
                                   rtol=0, atol=1e-12)
        assert {info[k]["stage"] for k in info} == {"conv", "transformer"}
        # stored rates: conv0 and conv3 pooled to 100 Hz, conv6 (and on) at 50 Hz
        np.testing.assert_allclose([info[c]["rate_hz"] for c in CONV], [100, 100, 50],
                                   rtol=1e-12)
        assert info["conv0"]["native_rate_hz"] == 3200
        assert info[f"transf{n - 1}"]["rate_hz"] == 50
        ls = LayerScores.load(next((deriv / "sub-01").glob(
            f"*model-{model_id}_layerscores.npz")))
        assert ls.layer_info[f"transf{n - 1}"]["relative_depth"] == 1.0
        assert ls.layer_info[f"transf{n // 2 - 1}"]["relative_depth"] == 0.5


@pytest.mark.slow  # shares a ~30-60 s simulated study + 2 models
def test_group_by_depth_gives_one_hierarchy_map(two_depth_study, tmp_path):
    from brainscore_speech.analysis import discover_layer_scores

    _, deriv, _, _ = two_depth_study
    out = tmp_path / "group"
    code, stdout, err = run_cli(["group", deriv, "--out", out, "--layer-axis", "depth",
                                 "--test", "ttest", "--n-permutations", "10"])
    assert code == 0, err
    hm = HierarchyMap.load(out / "model-bydepth_hierarchymap.npz")
    # the grid: the conv positions, then the coarser model's transformer positions
    assert hm.extra["layer_depth"] == CONV_DEPTHS + [0.0, 0.25, 0.5, 0.75, 1.0]
    assert hm.extra["layer_stage"] == ["conv"] * 3 + ["transformer"] * 5
    assert hm.layer_names[3:] == ("transformer@0.00", "transformer@0.25",
                                  "transformer@0.50", "transformer@0.75",
                                  "transformer@1.00")
    assert hm.extra["layer_axis_label"].startswith("relative depth")
    # LARGE-like layers that sit exactly on the grid are used as they are
    src = hm.extra["sources"]
    assert src["base4"]["transformer@0.25"] == ["transf0"]
    assert src["large8"]["transformer@0.25"] == ["transf1"]
    assert src["large8"]["transformer@1.00"] == ["transf7"]
    assert src["large8"]["conv@0.50"] == ["conv3"]
    # the map's scores are the subject-mean of the two models' matching layers
    by_model = discover_layer_scores(deriv)
    want = np.zeros_like(hm.mean_scores)
    pairs = [(c, c) for c in CONV] + [
        ("encoder_input", "encoder_input")] + [(f"transf{i}", f"transf{2 * i + 1}")
                                               for i in range(4)]
    for k, (b, lg) in enumerate(pairs):
        for m, name in (("base4", b), ("large8", lg)):
            want[k] += np.mean([ls.mean_scores[ls.layer_names.index(name)]
                                for ls in by_model[m]], axis=0) / 2
    np.testing.assert_allclose(hm.mean_scores, want, rtol=1e-6, atol=1e-7)
    assert (out / "space-fsaverage5_hemi-L_model-bydepth_desc-bestlayer_statmap"
                  ".func.gii").is_file()
    # without --layer-axis depth there is no such map
    code, _, err = run_cli(["group", deriv, "--out", tmp_path / "g2", "--test", "ttest",
                            "--n-permutations", "10"])
    assert code == 0, err and not (tmp_path / "g2" / "model-bydepth_hierarchymap.npz"
                                   ).exists()
    code, _, err = run_cli(["group", deriv, "--out", tmp_path / "g3", "--layer-axis",
                            "dpth"])
    assert code == 2 and "'layer_axis' must be one of" in err  # usage error


@pytest.mark.slow  # shares a ~30-60 s simulated study + 2 models
def test_interpolation_between_layers_and_errors(two_depth_study):
    from brainscore_speech.analysis import discover_layer_scores, stack_by_depth

    _, deriv, _, _ = two_depth_study
    by_model = discover_layer_scores(deriv)
    st = stack_by_depth({"large8": by_model["large8"]},
                        grid={"transformer": [0.1875]}, layers=["transf0", "transf1"])
    # 0.1875 lies halfway between transf0 (0.125) and transf1 (0.25)
    ls = by_model["large8"]
    want = np.mean([(x.mean_scores[x.layer_names.index("transf0")]
                     + x.mean_scores[x.layer_names.index("transf1")]) / 2 for x in ls],
                   axis=0)
    np.testing.assert_allclose(st.data.mean(0)[0], want, rtol=1e-6, atol=1e-7)
    assert st.model_meta[0]["sources"]["large8"]["transformer@0.19"] == [
        "transf0", "transf1", 0.5]
    with pytest.raises(ValueError, match=r"'grid\['transformer'\]' must lie in \[0, "
                                         r"1\]"):
        stack_by_depth(by_model, grid={"transformer": [1.5]})
    with pytest.raises(ValueError, match="share no layer stage"):
        stack_by_depth({"a": by_model["base4"], "b": by_model["large8"]},
                       layers=None, grid=None) if False else stack_by_depth(
            {"a": [_only(x, "conv0") for x in by_model["base4"]],
             "b": [_only(x, "transf0") for x in by_model["large8"]]})
    with pytest.raises(ValueError, match="No subject was scored with every model"):
        stack_by_depth({"a": by_model["base4"][:1], "b": by_model["large8"][1:]})


def _only(ls: LayerScores, name: str) -> LayerScores:
    i = ls.layer_names.index(name)
    return LayerScores(scores=ls.scores[i:i + 1], best_alphas=ls.best_alphas[i:i + 1],
                       layer_names=(name,), subject=ls.subject, model_id=ls.model_id,
                       space=ls.space, hemi_sizes=ls.hemi_sizes,
                       layer_info={name: ls.layer_info[name]})


@pytest.mark.slow  # shares a ~30-60 s simulated study + 2 models
def test_figure_colour_bar_names_the_axis(two_depth_study, tmp_path):
    from brainscore_speech.analysis import (
        compute_depth_hierarchy,
        discover_layer_scores,
    )
    from brainscore_speech.plotting.surface import plot_hierarchy

    _, deriv, _, _ = two_depth_study
    hm = compute_depth_hierarchy(discover_layer_scores(deriv), test="ttest",
                                 n_bootstrap=5)
    fig = plot_hierarchy(hm)
    labels = [ax.get_ylabel() for ax in fig.axes] + [ax.get_xlabel() for ax in fig.axes]
    assert any(lbl.startswith("relative depth") for lbl in labels), labels


def test_depth_axis_does_not_import_torch():
    """analysis (and its depth axis) stays free of torch (ARCHITECTURE layers)."""
    import subprocess
    import sys

    code = ("import sys, brainscore_speech.analysis, brainscore_speech._layers; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


TRANSFORMER_4 = ["encoder_input"] + [f"transf{i}" for i in range(4)]
TRANSFORMER_8 = ["encoder_input"] + [f"transf{i}" for i in range(8)]


def _two_models(effect, seed=0):
    from brainscore_speech.analysis import make_synthetic_layer_scores

    base, truth = make_synthetic_layer_scores(
        8, effect=effect, layer_names=TRANSFORMER_4, model_id="base4",
        n_vertices_per_hemi=600, random_state=seed)
    large, _ = make_synthetic_layer_scores(
        8, effect=effect, layer_names=TRANSFORMER_8, model_id="large8",
        n_vertices_per_hemi=600, rois=truth["rois"], random_state=seed + 100)
    return {"base4": base, "large8": large}, truth


def test_planted_relative_depth_is_recovered_across_depths():
    """ROIs tuned to the same relative depth in a 4- and an 8-block model (A1 -> first
    position ... IFG -> last) land on that depth in the joint map."""
    from brainscore_speech.analysis import (
        compute_depth_hierarchy,
        roi_order_correlation,
    )

    by_model, truth = _two_models("hierarchy")
    hm = compute_depth_hierarchy(by_model, test="ttest", n_bootstrap=10)
    depth = np.asarray(hm.extra["layer_depth"])
    assert list(depth) == [0.0, 0.25, 0.5, 0.75, 1.0]
    for k, roi in enumerate(truth["roi_order"]):
        best = hm.best_layer[truth["rois"][roi]]
        best = best[best >= 0]
        # peak_r 0.15 vs noise 0.05 over 8 subjects: nearly every ROI vertex is
        # significant and at its planted depth k / 4
        assert best.size >= 0.9 * truth["rois"][roi].size, roi
        assert np.mean(depth[best] == k / 4) >= 0.95, roi
    assert roi_order_correlation(hm, truth["rois"])["rho"] > 0.99


def test_null_scores_give_no_joint_hierarchy():
    """Global null in both models: FDR + best-layer correction keep the joint map empty
    (at most alpha of the vertices; 0 expected)."""
    from brainscore_speech.analysis import compute_depth_hierarchy

    by_model, _ = _two_models("null", seed=5)
    hm = compute_depth_hierarchy(by_model, test="ttest", n_bootstrap=0)
    assert np.mean(hm.best_layer >= 0) <= 0.05
