"""Comparable figures (shared scales, labelled empty maps, grouped layers); report."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from brainscore_speech.analysis import make_synthetic_layer_scores, run_group
from brainscore_speech.containers import GroupMap, HierarchyMap
from brainscore_speech.plotting import make_figures, make_report, plot_brain_score
from brainscore_speech.plotting.report import _png_bytes, shared_scale
from brainscore_speech.plotting.surface import (
    _layer_cmap,
    empty_map_note,
    layer_groups,
    plot_hierarchy,
)

HS = {"L": 10242, "R": 10242}
N = 20484
BASE_LAYERS = ([f"conv{i}" for i in range(7)] + ["encoder_input"]
               + [f"transf{i}" for i in range(12)])


def _gmap(stat, mask, n=6, test="ttest"):
    stat = np.asarray(stat, float)
    return GroupMap(statistic=stat, p_values=np.where(mask, 0.001, 0.5),
                    p_fdr=np.where(mask, 0.01, 0.9), mask=np.asarray(mask, bool),
                    n_subjects=n, test=test, name="m", hemi_sizes=HS)


def _texts(fig):
    return [t.get_text() for t in fig.texts]


def test_layer_groups_conv_then_transformer_thirds():
    group, labels = layer_groups(BASE_LAYERS)
    assert labels == ["conv0-conv6", "encoder_input-transf3", "transf4-transf7",
                      "transf8-transf11"]
    assert group.tolist() == [0] * 7 + [1] * 5 + [2] * 4 + [3] * 4
    small = BASE_LAYERS[:11]  # the tiny model: every layer its own colour
    group, labels = layer_groups(small)
    assert labels == small and group.tolist() == list(range(11))


def test_layer_colours_are_ordered_and_neighbours_distinct():
    from matplotlib.colors import to_rgb

    for n in (2, 5, 12):
        rgb = np.array([to_rgb(c) for c in _layer_cmap(n).colors])
        # viridis: luminance rises monotonically (a perceptually ordered scale)
        lum = rgb @ [0.2126, 0.7152, 0.0722]
        assert np.all(np.diff(lum) > 0)
        # neighbours at least 0.08 apart in RGB (1/12 of viridis is ~0.1)
        assert np.linalg.norm(np.diff(rgb, axis=0), axis=1).min() > 0.08


def test_many_layers_best_layer_map_is_grouped():
    rng = np.random.default_rng(0)
    best = rng.integers(-1, len(BASE_LAYERS), N)
    hm = HierarchyMap(best_layer=best, preference_index=np.zeros(N),
                      stability=np.zeros(N),
                      mean_scores=np.zeros((len(BASE_LAYERS), N)),
                      layer_names=tuple(BASE_LAYERS), n_subjects=6, model_id="base",
                      hemi_sizes=HS, extra={"alpha": 0.05})
    fig = plot_hierarchy(hm)
    assert "layers grouped" in fig._suptitle.get_text()
    cbar = fig.axes[-1]
    labels = [t.get_text() for t in cbar.get_yticklabels()]
    assert labels == layer_groups(BASE_LAYERS)[1]


def test_empty_maps_say_so():
    gm = _gmap(np.full(N, 0.01), np.zeros(N, bool))
    assert empty_map_note(gm) == "no significant vertex at FDR 0.05, n = 6"
    assert empty_map_note(dataclasses.replace(gm, hemi_sizes=None, test="cluster")) == \
        "no significant voxel at cluster-level 0.05, n = 6"
    fig = plot_brain_score(gm)
    assert isinstance(fig, Figure)
    assert "no significant vertex at FDR 0.05, n = 6" in _texts(fig)
    full = _gmap(np.full(N, 0.2), np.ones(N, bool))
    assert empty_map_note(full) is None
    hm = HierarchyMap(best_layer=np.full(N, -1), preference_index=np.zeros(N),
                      stability=np.zeros(N), mean_scores=np.zeros((3, N)),
                      layer_names=("a", "b", "c"), n_subjects=3, hemi_sizes=HS,
                      extra={"alpha": 0.01})
    assert "no significant vertex at FDR 0.01, n = 3" in _texts(plot_hierarchy(hm))


def test_shared_scale_one_range_per_kind():
    a = _gmap(np.linspace(0, 0.4, N), np.arange(N) % 2 == 0)
    b = _gmap(np.linspace(0, 0.1, N), np.arange(N) % 2 == 0)
    scale = shared_scale([a, b])
    pooled = np.concatenate([a.statistic[a.mask], b.statistic[b.mask]])
    np.testing.assert_allclose(scale["vmax"], np.percentile(pooled, 99), rtol=1e-12)
    assert scale["cmap"] == "hot" and scale["vmin"] == 0.0
    # a signed (contrast) map: symmetric diverging around 0
    c = _gmap(np.linspace(-0.3, 0.2, N), np.ones(N, bool))
    s = shared_scale([c, b])
    assert s["cmap"] == "RdBu_r" and s["vmin"] == -s["vmax"] and s["symmetric_cbar"]
    assert shared_scale([b], signed=True)["cmap"] == "RdBu_r"
    # brain scores (signed=False): negative significant values do not set the scale
    u = shared_scale([c, b], signed=False)
    assert u["cmap"] == "hot" and u["vmin"] == 0.0
    pos = np.concatenate([c.statistic[c.statistic > 0], b.statistic[b.mask & (
        b.statistic > 0)]])
    np.testing.assert_allclose(u["vmax"], np.percentile(pos, 99), rtol=1e-12)
    # nothing significant anywhere: the scale still covers the data
    empty = _gmap(np.linspace(0, 0.3, N), np.zeros(N, bool))
    np.testing.assert_allclose(shared_scale([empty])["vmax"], 0.297, rtol=0.01)


def test_png_thumbnails_keep_the_page_small(tmp_path):
    from PIL import Image

    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (900, 2700, 3),
                                                       dtype=np.uint8)).save(big)
    import io

    small = _png_bytes(big, max_width=1000)
    with Image.open(io.BytesIO(small)) as img:
        assert img.size == (1000, 333)
    # a narrow figure is embedded as it is
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (50, 20)).save(tiny)
    assert _png_bytes(tiny) == tiny.read_bytes()


@pytest.fixture(scope="module")
def group_dir(tmp_path_factory):
    """Two regimes x 4 synthetic subjects on fsaverage5; the random model is null."""
    root = tmp_path_factory.mktemp("fig_group")
    # seed 3: a null draw with no discovery (under the null P(any) <= 0.05; seed 1
    # has one false vertex of 20,484), which the figures must say
    for model, effect, seed in (("random", "null", 3), ("sound", "hierarchy", 2)):
        scores, _ = make_synthetic_layer_scores(
            4, effect=effect, model_id=model, random_state=seed, peak_r=0.3,
            model_meta={"regime": model})
        for ls in scores:
            ls.save(root / "deriv" / f"sub-{ls.subject}" /
                    f"sub-{ls.subject}_model-{model}_layerscores.npz")
    run_group(root / "deriv", root / "group", test="ttest", n_bootstrap=2)
    return root


def test_layer_profiles_average_responsive_vertices(group_dir):
    prof = pd.read_csv(group_dir / "group" / "model-sound_layerprofile.tsv", sep="\t")
    gm = GroupMap.load(group_dir / "group" / "model-sound_desc-brainscore_groupmap.npz")
    n_sig = int(gm.mask.sum())
    assert 0 < n_sig < N
    assert (prof["n_vertices"] == n_sig).all()
    assert prof["vertices"].iloc[0] == (f"{n_sig} responsive vertices: significant "
                                        "brain score at FDR 0.05")
    # the null model: nothing significant, so the top 10% (said so)
    null = pd.read_csv(group_dir / "group" / "model-random_layerprofile.tsv", sep="\t")
    assert null["vertices"].iloc[0].startswith("top 10% of vertices by group-mean "
                                               "score")


def test_figures_share_scales_and_report_reads_well(group_dir, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from brainscore_speech.plotting import surface

    # record what every surface figure is asked to show; skip the 3-D rendering
    # (tested above) so that this test stays fast
    seen = []

    def record(values, hemi_sizes, **kwargs):
        seen.append(kwargs)
        return plt.figure(figsize=(2, 1))

    monkeypatch.setattr(surface, "plot_surface_map", record)
    files = make_figures(group_dir / "group", tmp_path / "fig", dpi=30)
    brain = [k for k in seen if k["title"].startswith("brain score")]
    contrasts = [k for k in seen
                 if k.get("colorbar_label") == "mean paired difference in r"]
    assert len(brain) == 2
    assert len({(k["cmap"], k["vmin"], k["vmax"]) for k in brain}) == 1  # one scale
    assert brain[0]["cmap"] == "hot" and brain[0]["vmin"] == 0.0
    assert contrasts and all(k["cmap"] == "RdBu_r" and k["vmin"] == -k["vmax"]
                             for k in contrasts)
    # the null model's map is empty and says so
    assert [k["note"] for k in brain] == ["no significant vertex at FDR 0.05, n = 4",
                                          None]
    report = make_report(group_dir / "group", tmp_path / "report.html", figures=files)
    import re

    html = report.read_text()
    text = re.sub(r"data:image/png;base64,[^\"]*", "", html)  # the pixels aside
    table = text[text.index("<h2>Statistics"):text.index("<h2>Brain scores")]
    assert "NaN" not in table and "nan" not in table and "<td>–</td>" in table
    assert "<details><summary>Parameters, inputs, versions" in html
    assert "<tr><td>random</td><td>4</td></tr>" in html
    assert html.count("<p class='summary'>") == 3
    assert "No significant vertex for random." in html
    assert 'href="fig/model-sound_desc-brainscore.png">full resolution</a>' in html
    assert ('href="fig/model-sound_desc-brainscore_view.html">interactive view</a>'
            in html)
    assert "http://" not in text and "https://" not in text
    # the interactive views are linked, never embedded
    assert "niivue" not in text.lower()
