"""Hierarchy maps: planted hierarchy recovered; ROI order; stacking errors."""

import numpy as np
import pytest

from brainscore_speech.analysis import (
    best_layer_by_roi,
    compute_hierarchy,
    make_synthetic_layer_scores,
    preference_index,
    roi_order_correlation,
    stack_layer_scores,
)
from brainscore_speech.containers import LayerScores


@pytest.fixture(scope="module")
def planted():
    return make_synthetic_layer_scores(10, n_vertices_per_hemi=1000, random_state=3)


def test_planted_hierarchy_recovered(planted):
    scores, truth = planted
    h = compute_hierarchy(scores, n_bootstrap=50)
    sig = h.best_layer >= 0
    planted_layer = truth["planted_layer"]
    assert sig[planted_layer >= 0].mean() > 0.9  # power on planted vertices
    # acceptance: best layer == planted on >= 90% of significant vertices
    assert (h.best_layer[sig] == planted_layer[sig]).mean() >= 0.90
    corr = roi_order_correlation(h, truth["rois"])
    assert corr["rho"] > 0.9 and corr["n_rois"] == 5
    assert h.n_subjects == 10 and h.hemi_sizes == {"L": 1000, "R": 1000}
    # stable where planted, in [0, 1]
    assert h.stability[planted_layer >= 0].mean() > 0.8
    assert np.all((h.stability >= 0) & (h.stability <= 1))
    table = best_layer_by_roi(h, truth["rois"])
    a1 = table[(table.roi == "A1")].set_index("layer")["proportion"]
    assert a1["stage1"] > 0.9


def test_reversed_hierarchy_gives_negative_order_correlation():
    scores, truth = make_synthetic_layer_scores(
        12, n_vertices_per_hemi=500, roi_order=("IFG", "STS", "STG", "belt", "A1"),
        random_state=4)
    h = compute_hierarchy(scores, n_bootstrap=10)
    assert roi_order_correlation(h, truth["rois"])["rho"] < -0.9


def test_null_hierarchy_has_few_significant_vertices():
    scores, _ = make_synthetic_layer_scores(10, effect="null",
                                            n_vertices_per_hemi=500, random_state=5)
    h = compute_hierarchy(scores, n_bootstrap=0)
    # argmax over 5 layers biases the best score upwards, so a few null vertices
    # may pass FDR; we only require that almost none do
    assert (h.best_layer >= 0).mean() < 0.02
    assert np.isnan(h.stability).all()


def test_preference_index_ground_truth():
    r = np.array([[1.0, 0.0, -1.0], [0.0, 0.0, -1.0], [1.0, 1.0, -1.0]])
    np.testing.assert_allclose(preference_index(r)[:2], [0.5, 1.0], rtol=1e-12)
    assert np.isnan(preference_index(r)[2])
    with pytest.raises(ValueError, match=r"'mean_scores' must have shape"):
        preference_index(np.zeros(3))


def _ls(sub, space="fsaverage5", n=20, hemi=None, model="m", layers=("a", "b")):
    s = np.zeros((len(layers), 2, n), np.float32)
    return LayerScores(scores=s, best_alphas=s, layer_names=layers, subject=sub,
                       model_id=model, space=space, hemi_sizes=hemi)


def test_stack_errors():
    with pytest.raises(ValueError, match="Subjects do not share a space: sub-01 is in "
                                         "'fsaverage5' but sub-02 is in 'fsaverage6'"):
        stack_layer_scores([_ls("01"), _ls("02", space="fsaverage6")])
    with pytest.raises(ValueError, match="Subjects do not share a mesh: sub-01 has 20"):
        stack_layer_scores([_ls("01"), _ls("02", n=30)])
    with pytest.raises(ValueError, match="different models"):
        stack_layer_scores([_ls("01"), _ls("02", model="x")])
    with pytest.raises(ValueError, match="Layer 'c' is missing from sub-02"):
        stack_layer_scores([_ls("01", layers=("a", "c")), _ls("02")],
                           layers=["a", "c"])
    with pytest.raises(ValueError, match="Duplicate subjects"):
        stack_layer_scores([_ls("01"), _ls("01")])
    with pytest.raises(ValueError, match="'scores' is empty"):
        stack_layer_scores([])
    with pytest.raises(TypeError, match=r"'scores\[0\]' must be a LayerScores"):
        stack_layer_scores([np.zeros(3)])
    with pytest.raises(ValueError, match="'test' must be one of"):
        compute_hierarchy([_ls("01"), _ls("02")], test="cluster")


@pytest.mark.filterwarnings("ignore:With n_subjects")
def test_roi_errors(planted):
    scores, truth = planted
    h = compute_hierarchy(scores[:4], n_bootstrap=0)
    with pytest.raises(ValueError, match="atlas does not match the mesh"):
        best_layer_by_roi(h, {"A1": np.array([5000])})
    with pytest.raises(ValueError, match="atlas does not match the mesh"):
        best_layer_by_roi(h, {"A1": np.ones(10, bool)})
    with pytest.raises(ValueError, match="needs at least 3 ROIs"):
        roi_order_correlation(h, {"A1": truth["rois"]["A1"]})


def test_synthetic_errors():
    with pytest.raises(ValueError, match="'effect' must be one of"):
        make_synthetic_layer_scores(2, effect="big")
    with pytest.raises(ValueError, match="'n_subjects' must be >= 1"):
        make_synthetic_layer_scores(0)
    with pytest.raises(ValueError, match="'n_folds' must be >= 1"):
        make_synthetic_layer_scores(2, n_folds=0)
    with pytest.raises(ValueError, match=r"'roi_order' names ROIs \['X'\]"):
        make_synthetic_layer_scores(2, n_vertices_per_hemi=50, roi_order=("A1", "X"))
    with pytest.raises(ValueError, match="'subjects' has 1 labels"):
        make_synthetic_layer_scores(2, n_vertices_per_hemi=50, subjects=["a"])
