import json

import numpy as np
import pytest

from brainscore_speech.containers import (
    BoldRuns,
    GroupMap,
    HierarchyMap,
    LayerScores,
    StimulusActivations,
    list_activation_layers,
    read_activation_layer,
    read_activation_meta,
)
from brainscore_speech.exceptions import DataError


def _acts():
    return StimulusActivations(
        stimulus="run-01", model_id="tiny",
        layers={"conv0": np.ones((5, 3)), "transf0": np.arange(8.0).reshape(4, 2)},
        frame_times_s={"conv0": np.arange(5) * 0.01, "transf0": np.arange(4) * 0.02},
        layer_order=("conv0", "transf0"), duration_s=0.1,
        model_meta={"regime": "random"}, provenance={"step": "extract"})


def test_activations_roundtrip_and_layerwise_read(tmp_path):
    a = _acts()
    p = a.save(tmp_path / "run-01.h5")
    assert list_activation_layers(p) == ["conv0", "transf0"]
    data, t = read_activation_layer(p, "transf0")
    np.testing.assert_allclose(data, a.layers["transf0"], rtol=0, atol=0)
    np.testing.assert_allclose(t, a.frame_times_s["transf0"], rtol=1e-12)
    b = StimulusActivations.load(p)
    assert b.model_meta == {"regime": "random"} and b.layer_order == a.layer_order
    assert "2 layers" in repr(b)
    half = StimulusActivations.load(a.save(tmp_path / "h.h5", dtype="float16"),
                                    ["conv0"])
    assert half.layer_order == ("conv0",)
    with pytest.raises(ValueError, match=r"Unknown layer 'transf9' .* valid layers are "
                       r"\['conv0', 'transf0'\]"):
        read_activation_layer(p, "transf9")


def test_activation_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Activation file not found"):
        read_activation_meta(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="Cannot read activation file"):
        read_activation_meta(bad)
    import h5py

    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    with pytest.raises(DataError, match="is not a brainscore_speech activation file"):
        read_activation_meta(tmp_path / "empty.h5")


def test_activations_validation():
    kw = dict(stimulus="s", model_id="m")
    with pytest.raises(ValueError, match="has no layers"):
        StimulusActivations(layers={}, frame_times_s={}, **kw)
    with pytest.raises(ValueError, match=r"must be 2-D \(n_frames, n_units\)"):
        StimulusActivations(layers={"a": np.ones(3)}, frame_times_s={"a": np.arange(3)},
                            **kw)
    with pytest.raises(ValueError, match="has no entry in 'frame_times_s'"):
        StimulusActivations(layers={"a": np.ones((3, 1))}, frame_times_s={}, **kw)
    with pytest.raises(ValueError, match=r"must have shape \(3,\), got \(2,\)"):
        StimulusActivations(layers={"a": np.ones((3, 1))},
                            frame_times_s={"a": np.arange(2)}, **kw)
    with pytest.raises(ValueError, match="must increase strictly"):
        StimulusActivations(layers={"a": np.ones((3, 1))},
                            frame_times_s={"a": np.array([0, 2, 1])}, **kw)
    with pytest.raises(ValueError, match="must list exactly the layers"):
        StimulusActivations(layers={"a": np.ones((3, 1))}, layer_order=("b",),
                            frame_times_s={"a": np.arange(3)}, **kw)


def test_layer_scores_roundtrip(tmp_path, rng):
    s = rng.standard_normal((3, 2, 10)).astype(np.float32)
    s[0, 0, 4] = np.nan
    ls = LayerScores(scores=s, best_alphas=np.ones_like(s), layer_names=["a", "b", "c"],
                     cv={"scheme": "loro"}, subject="01", model_id="m",
                     hemi_sizes={"L": 6, "R": 4}, provenance={"step": "score"})
    p = ls.save(tmp_path / "x_layerscores.npz")
    side = json.loads((tmp_path / "x_layerscores.json").read_text())
    assert side["container"] == "LayerScores" and side["arrays"]["scores"] == [3, 2, 10]
    back = LayerScores.load(p)
    np.testing.assert_array_equal(back.scores, s)
    assert back.inner_scores is None  # optional (files written before it existed)
    with_inner = LayerScores(scores=s, best_alphas=np.ones_like(s), layer_names="abc",
                             inner_scores=s * 0.5)
    again = LayerScores.load(with_inner.save(tmp_path / "y_layerscores.npz"))
    np.testing.assert_array_equal(again.inner_scores, s * 0.5)
    assert not again.inner_scores.flags.writeable
    assert back.layer_names == ("a", "b", "c") and back.hemi_sizes == {"L": 6, "R": 4}
    # NaN in one fold: the mean uses the other fold only
    np.testing.assert_allclose(back.mean_scores[0, 4], s[0, 1, 4], rtol=1e-6)
    assert back.mean_scores.shape == (3, 10)
    assert "3 layers x 2 folds x 10 targets" in repr(back)


def test_layer_scores_validation(tmp_path):
    with pytest.raises(ValueError, match=r"must have shape \(n_layers, n_folds, "
                                         r"n_targets\)"):
        LayerScores(scores=np.ones((2, 3)), best_alphas=np.ones((2, 3)),
                    layer_names=["a", "b"])
    with pytest.raises(ValueError, match="'best_alphas' must have the shape of "
                                         "'scores'"):
        LayerScores(scores=np.ones((1, 1, 2)), best_alphas=np.ones((1, 1, 3)),
                    layer_names=["a"])
    with pytest.raises(ValueError, match=r"'inner_scores' must be None or have "
                       r"the shape of 'scores' \(1, 1, 2\), got \(1, 2\)"):
        LayerScores(scores=np.ones((1, 1, 2)), best_alphas=np.ones((1, 1, 2)),
                    layer_names=["a"], inner_scores=np.ones((1, 2)))
    with pytest.raises(ValueError, match="'layer_names' has 2 names for 1 layers"):
        LayerScores(scores=np.ones((1, 1, 2)), best_alphas=np.ones((1, 1, 2)),
                    layer_names=["a", "b"])
    with pytest.raises(ValueError, match=r"'hemi_sizes' .* must add up to the number "
                                         r"of "
                       r"targets \(2\), got 3"):
        LayerScores(scores=np.ones((1, 1, 2)), best_alphas=np.ones((1, 1, 2)),
                    layer_names=["a"], hemi_sizes={"L": 1, "R": 2})
    ok = LayerScores(scores=np.ones((1, 1, 2)), best_alphas=np.ones((1, 1, 2)),
                     layer_names=["a"])
    with pytest.raises(ValueError, match="'path' must end with '.npz'"):
        ok.save(tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError, match="LayerScores file not found"):
        LayerScores.load(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="Cannot read LayerScores"):
        LayerScores.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(DataError, match="is not a LayerScores file"):
        LayerScores.load(tmp_path / "plain.npz")


def test_bold_runs(tmp_path):
    b = BoldRuns(subject="01", runs={"1": np.zeros((5, 4)), "2": np.ones((6, 4))},
                 tr_s=2.0, space="fsaverage5", stimuli={"1": "a", "2": "b"},
                 hemi_sizes={"L": 2, "R": 2}, valid=np.array([1, 1, 0, 1], bool))
    back = BoldRuns.load(b.save(tmp_path / "b.npz"))
    assert list(back.runs) == ["1", "2"] and back.runs["2"].shape == (6, 4)
    assert back.n_targets == 4 and "2 runs" in repr(back)
    with pytest.raises(ValueError, match="has no runs"):
        BoldRuns(subject="01", runs={}, tr_s=2.0, space="x")
    with pytest.raises(ValueError, match="with the same n_targets"):
        BoldRuns(subject="01", runs={"1": np.zeros((5, 4)), "2": np.zeros((5, 3))},
                 tr_s=2.0, space="x")
    with pytest.raises(ValueError, match="'tr_s' must be positive"):
        BoldRuns(subject="01", runs={"1": np.zeros((5, 4))}, tr_s=0, space="x")
    with pytest.raises(ValueError, match=r"'valid' must have shape \(4,\)"):
        BoldRuns(subject="01", runs={"1": np.zeros((5, 4))}, tr_s=1, space="x",
                 valid=np.ones(3, bool))


def test_group_and_hierarchy_maps(tmp_path):
    g = GroupMap(statistic=np.ones(4), p_values=np.full(4, 0.01), p_fdr=np.full(4,
                                                                                0.02),
                 mask=[1, 0, 1, 1], n_subjects=5, test="wilcoxon", name="r > 0")
    back = GroupMap.load(g.save(tmp_path / "g.npz"))
    assert back.mask.dtype == bool and back.n_subjects == 5
    assert "3/4 significant" in repr(back)
    with pytest.raises(ValueError, match="GroupMap 'p_fdr' must have the shape"):
        GroupMap(statistic=np.ones(4), p_values=np.ones(4), p_fdr=np.ones(3),
                 mask=np.ones(4), n_subjects=2, test="x")
    h = HierarchyMap(best_layer=np.array([0, 1, -1]), preference_index=np.zeros(3),
                     stability=np.ones(3), mean_scores=np.zeros((2, 3)),
                     layer_names=["a", "b"], n_subjects=3)
    hb = HierarchyMap.load(h.save(tmp_path / "h.npz"))
    assert hb.layer_names == ("a", "b") and "2/3 targets significant" in repr(hb)
    with pytest.raises(ValueError, match=r"'mean_scores' must have shape \(2, 3\)"):
        HierarchyMap(best_layer=np.zeros(3), preference_index=np.zeros(3),
                     stability=np.zeros(3), mean_scores=np.zeros((3, 3)),
                     layer_names=["a", "b"], n_subjects=3)
    with pytest.raises(ValueError, match="HierarchyMap 'stability' must have shape"):
        HierarchyMap(best_layer=np.zeros(3), preference_index=np.zeros(3),
                     stability=np.zeros(2), mean_scores=np.zeros((2, 3)),
                     layer_names=["a", "b"], n_subjects=3)


# ------------------------------------------------------------------ deep freezing
def _all_containers():
    ls = LayerScores(scores=[[[0.1, 0.2]]], best_alphas=[[[1.0, 10.0]]],
                     layer_names=["a"],
                     cv={"scheme": "loro", "folds": [{"test": [1]}]},
                     model_meta={"regime": "random"}, provenance={"params": {"x": 1}},
                     layer_info={"a": {"stage": "conv"}}, hemi_sizes={"L": 1, "R": 1})
    gm = GroupMap(statistic=[1.0, 2.0], p_values=[0.1, 0.2], p_fdr=[0.1, 0.2],
                  mask=[True, False], n_subjects=3, test="ttest",
                  extra={"mask_img": "m.nii.gz", "nested": {"k": [1, 2]}})
    hm = HierarchyMap(best_layer=[0, -1], preference_index=[0.0, 0.5],
                      stability=[1.0, 0.2], mean_scores=[[0.1, 0.2]], layer_names=["a"],
                      n_subjects=3, extra={"layer_axis": "name"})
    bold = BoldRuns(subject="01", runs={"1": np.zeros((3, 2))}, tr_s=2.0, space="x",
                    stimuli={"1": "a"}, onsets_s={"1": 0.0}, valid=[True, True])
    return {"acts": _acts(), "ls": ls, "gm": gm, "hm": hm, "bold": bold}


def test_containers_convert_inputs_to_read_only_arrays():
    c = _all_containers()
    arrays = [c["ls"].scores, c["ls"].best_alphas, c["gm"].statistic, c["gm"].mask,
              c["hm"].best_layer, c["hm"].mean_scores, c["bold"].valid,
              c["bold"].runs["1"], c["acts"].layers["conv0"],
              c["acts"].frame_times_s["transf0"]]
    for arr in arrays:
        assert isinstance(arr, np.ndarray) and not arr.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            arr[...] = 0
    assert c["ls"].scores.shape == (1, 1, 2) and c["gm"].mask.dtype == bool


def test_callers_array_stays_writable_and_is_not_copied():
    s = np.zeros((1, 2, 3))
    ls = LayerScores(scores=s, best_alphas=np.ones_like(s), layer_names=["a"])
    assert s.flags.writeable and np.shares_memory(ls.scores, s)


@pytest.mark.parametrize("which, field, key", [
    ("ls", "cv", "scheme"), ("ls", "model_meta", "regime"),
    ("ls", "provenance", "params"), ("ls", "layer_info", "a"),
    ("ls", "hemi_sizes", "L"), ("gm", "extra", "mask_img"), ("hm", "extra", "x"),
    ("bold", "stimuli", "1"), ("bold", "onsets_s", "1"), ("bold", "runs", "1"),
    ("acts", "model_meta", "regime"), ("acts", "provenance", "step"),
    ("acts", "layers", "conv0"), ("acts", "frame_times_s", "conv0"),
])
def test_container_mappings_are_read_only(which, field, key):
    mapping = getattr(_all_containers()[which], field)
    assert isinstance(mapping, dict)
    for mutate in (lambda m: m.__setitem__(key, 1), lambda m: m.update({key: 1}),
                   lambda m: m.pop(key), lambda m: m.clear(),
                   lambda m: m.setdefault("new", 1), lambda m: m.popitem()):
        with pytest.raises(TypeError, match="read-only; build a new container with "
                                            r"dataclasses.replace"):
            mutate(mapping)
    with pytest.raises(TypeError, match="read-only"):
        del mapping[key]


def test_nested_metadata_is_frozen_too():
    c = _all_containers()
    with pytest.raises(TypeError, match="read-only"):
        c["ls"].provenance["params"]["x"] = 2
    with pytest.raises(TypeError, match="read-only"):
        c["gm"].extra["nested"]["k2"] = 1
    with pytest.raises(TypeError, match="read-only"):
        c["ls"].cv["folds"][0]["test"] = [2]


def test_fields_cannot_be_reassigned():
    import dataclasses

    ls = _all_containers()["ls"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ls.scores = np.zeros((1, 1, 2))


def test_equality_is_identity_and_containers_hash():
    a, b = _all_containers(), _all_containers()
    for key in a:
        assert a[key] == a[key] and not (a[key] == b[key]) and a[key] != b[key]
        assert hash(a[key]) == hash(a[key])
    assert len({a["ls"], b["ls"]}) == 2


def test_replace_builds_a_new_frozen_container():
    import dataclasses

    gm = _all_containers()["gm"]
    new = dataclasses.replace(gm, extra={**gm.extra, "space": "MNI"})
    assert new.extra["space"] == "MNI" and "space" not in gm.extra
    assert new.extra["mask_img"] == "m.nii.gz" and not new.statistic.flags.writeable
    with pytest.raises(TypeError, match="read-only"):
        new.extra["space"] = "x"


def test_frozen_metadata_serialises_pickles_and_copies():
    import copy
    import pickle

    from brainscore_speech.containers import FrozenDict

    c = _all_containers()
    assert json.loads(json.dumps(c["ls"].provenance)) == {"params": {"x": 1}}
    for obj in (c["ls"], c["gm"].extra, copy.deepcopy(c["gm"].extra)):
        back = pickle.loads(pickle.dumps(obj))
        assert type(back) is type(obj)
    back = pickle.loads(pickle.dumps(c["ls"]))
    np.testing.assert_array_equal(back.scores, c["ls"].scores)
    assert isinstance(back.cv, FrozenDict) and back.cv == {
        "scheme": "loro", "folds": [{"test": [1]}]}
    assert dict(c["gm"].extra)["mask_img"] == "m.nii.gz"
    assert repr(FrozenDict(a=1)) == "FrozenDict({'a': 1})"


def test_frozen_roundtrip_unchanged(tmp_path):
    c = _all_containers()
    for key, cls in (("ls", LayerScores), ("gm", GroupMap), ("hm", HierarchyMap),
                     ("bold", BoldRuns)):
        back = cls.load(c[key].save(tmp_path / f"{key}.npz"))
        for f in back._array_fields:
            np.testing.assert_array_equal(getattr(back, f), getattr(c[key], f))
        assert back._meta() == c[key]._meta()
    back = StimulusActivations.load(c["acts"].save(tmp_path / "a.h5"))
    assert dict(back.model_meta) == dict(c["acts"].model_meta)
    np.testing.assert_array_equal(back.layers["transf0"], c["acts"].layers["transf0"])


def test_best_alphas_keep_the_npz_key(tmp_path):
    """LayerScores.best_alphas is stored under the npz key "alphas" (as before the
    rename): files written before it load, and new files are unchanged."""
    s = np.zeros((1, 2, 3))
    a = np.full_like(s, 10.0)
    p = LayerScores(scores=s, best_alphas=a, layer_names=["x"]).save(tmp_path / "n.npz")
    with np.load(p) as z:
        assert "alphas" in z.files and "best_alphas" not in z.files
    assert json.loads((tmp_path / "n.json").read_text())["arrays"]["alphas"] == \
        [1, 2, 3]
    np.testing.assert_array_equal(LayerScores.load(p).best_alphas, a)
    with np.load(p) as z:  # a file whose key is the field name loads too
        arrays = {k: z[k] for k in z.files}
    arrays["best_alphas"] = arrays.pop("alphas")
    np.savez(tmp_path / "k.npz", **arrays)
    np.testing.assert_array_equal(LayerScores.load(tmp_path / "k.npz").best_alphas, a)
