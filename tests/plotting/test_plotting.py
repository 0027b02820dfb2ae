"""Surface figures, profiles and HTML views (figures returned, saved on request)."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from brainscore_speech.analysis import (
    best_layer_by_roi,
    compute_hierarchy,
    group_test,
    make_synthetic_layer_scores,
    roi_layer_profiles,
)
from brainscore_speech.containers import GroupMap
from brainscore_speech.plotting import (
    plot_best_layer_distribution,
    plot_brain_score,
    plot_hierarchy,
    plot_layer_profiles,
    plot_regime_map,
    plot_surface_map,
    to_fsaverage5,
    view_surface_html,
)

# small synthetic groups: the Wilcoxon floor warning is expected here
pytestmark = pytest.mark.filterwarnings("ignore:With n_subjects")

HS = {"L": 10242, "R": 10242}


@pytest.fixture(scope="module")
def synth():
    scores, truth = make_synthetic_layer_scores(4, random_state=0)
    return scores, truth, compute_hierarchy(scores, n_bootstrap=0)


def test_surface_maps(tmp_path, synth):
    scores, truth, h = synth
    fig = plot_hierarchy(h, output_file=tmp_path / "h.png", dpi=50)
    assert isinstance(fig, Figure) and (tmp_path / "h.png").stat().st_size > 1000
    assert isinstance(plot_hierarchy(h, kind="stability"), Figure)
    gm = group_test(h.mean_scores.T[None].repeat(3, 0)[:, :, 0] +
                    np.random.default_rng(0).normal(0, 0.01, (3, 20484)), hemi_sizes=HS)
    assert isinstance(plot_brain_score(gm), Figure)
    regime = GroupMap(statistic=np.tile([0.0, 1.0, 2.0, np.nan], 5121),
                      p_values=np.zeros(20484), p_fdr=np.zeros(20484),
                      mask=np.ones(20484, bool), n_subjects=3, test="wilcoxon",
                      hemi_sizes=HS, extra={"labels": ["sound", "nonnative", "native"]})
    assert isinstance(plot_regime_map(regime), Figure)
    with pytest.raises(ValueError, match="is not a best-regime map"):
        plot_regime_map(gm)
    with pytest.raises(ValueError, match="'kind' must be one of"):
        plot_hierarchy(h, kind="x")


def test_to_fsaverage5_decimates_higher_resolutions():
    vals = np.arange(2 * 40962, dtype=float)
    out = to_fsaverage5(vals, {"L": 40962, "R": 40962})
    np.testing.assert_array_equal(out["R"], np.arange(40962, 40962 + 10242))
    with pytest.raises(ValueError, match="support fsaverage5/6/7"):
        to_fsaverage5(np.zeros(20), {"L": 10, "R": 10})
    with pytest.raises(ValueError, match="need 'hemi_sizes'"):
        to_fsaverage5(np.zeros(20), None)
    with pytest.raises(ValueError, match="need both hemispheres"):
        to_fsaverage5(np.zeros(10242), {"L": 10242})
    with pytest.raises(ValueError, match="adds up to 20484"):
        to_fsaverage5(np.zeros(20485), HS)
    assert isinstance(plot_surface_map(vals, {"L": 40962, "R": 40962},
                                       symmetric_cbar=True), Figure)


def test_profiles(tmp_path, synth):
    scores, truth, h = synth
    prof = roi_layer_profiles(scores, truth["rois"])
    fig = plot_layer_profiles(prof, output_file=tmp_path / "p.png", dpi=50)
    assert isinstance(fig, Figure) and (tmp_path / "p.png").is_file()
    assert isinstance(plot_best_layer_distribution(best_layer_by_roi(h, truth["rois"])),
                      Figure)
    with pytest.raises(ValueError, match=r"'profiles' lacks columns \['roi'\]"):
        plot_layer_profiles(prof.drop(columns="roi"))
    with pytest.raises(ValueError, match="'table' lacks columns"):
        plot_best_layer_distribution(prof)


def test_view_surface_html_is_offline(tmp_path, synth):
    _, _, h = synth
    view_surface_html(h.preference_index, HS, hemi="R", output_file=tmp_path / "v.html")
    text = (tmp_path / "v.html").read_text()
    assert "<html" in text.lower() and 'src="http' not in text
    with pytest.raises(ValueError, match="'hemi' must be one of"):
        view_surface_html(h.preference_index, HS, hemi="both")


@pytest.fixture
def svg_backend():
    """The user's backend is 'svg' (any non-Agg one); restored afterwards."""
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("svg")
    try:
        yield
    finally:
        plt.close("all")
        plt.switch_backend(before)


def test_plotting_keeps_the_users_backend(tmp_path, synth, svg_backend):
    import matplotlib
    import pandas as pd

    from brainscore_speech.plotting import plot_abx_profile

    scores, truth, h = synth
    prof = roi_layer_profiles(scores, truth["rois"])
    abx = pd.DataFrame({"model": ["m"] * 2, "layer": ["conv0", "transf0"],
                        "error": [0.3, 0.2], "accuracy": [0.7, 0.8],
                        "convention": "millet-dunbar"})
    calls = [lambda: plot_layer_profiles(prof, output_file=tmp_path / "p.png", dpi=30),
             lambda: plot_hierarchy(h, output_file=tmp_path / "h.png", dpi=30),
             lambda: plot_abx_profile(abx, output_file=tmp_path / "a.png")]
    for call in calls:
        assert isinstance(call(), Figure)
        assert matplotlib.get_backend() == "svg"
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("p.png", "h.png",
                                                              "a.png"))


def test_cli_selects_agg_only_without_a_user_choice(monkeypatch):
    import sys

    from brainscore_speech.cli import _headless_matplotlib

    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delitem(sys.modules, "matplotlib.pyplot")
    _headless_matplotlib()
    import os

    assert os.environ["MPLBACKEND"] == "Agg"
    monkeypatch.setenv("MPLBACKEND", "svg")
    _headless_matplotlib()
    assert os.environ["MPLBACKEND"] == "svg"
