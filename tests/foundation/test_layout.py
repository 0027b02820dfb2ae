"""brainscore_speech.layout: names, writers and the one resume helper."""

from __future__ import annotations

import numpy as np
import pytest

from brainscore_speech import layout as L
from brainscore_speech.exceptions import DataError


def test_score_names_are_the_documented_bids_names(tmp_path):
    ents = (tmp_path, "01", "listen", "fsaverage5", "wav2vec2-base")
    sub = tmp_path / "sub-01"
    base = "sub-01_task-listen_space-fsaverage5"
    m = f"{base}_model-wav2vec2base"
    assert L.score_prefix("01", "listen", "fsaverage5") == base
    assert L.score_prefix("01", None, "MNI") == "sub-01_space-MNI"
    assert L.score_layerscores(*ents) == sub / f"{m}_layerscores.npz"
    assert L.score_table(*ents).name == f"{m}_scores.tsv"
    assert L.score_provenance(*ents).name == f"{m}_provenance.json"
    assert L.score_checksums(*ents).name == f"{m}_checksums.json"
    assert L.score_map(*ents, "transf_0", "L").name == (
        f"{base}_hemi-L_model-wav2vec2base_layer-transf0_stat-r_statmap.func.gii")
    assert L.score_map(*ents, None, None).name == (
        f"{base}_model-wav2vec2base_desc-hierarchy_statmap.nii.gz")
    maps = L.score_maps(*ents, ["a", "b"], ["L", "R"])
    assert list(maps) == ["a/L", "a/R", "b/L", "b/R", "hierarchy/L", "hierarchy/R"]
    assert list(L.score_maps(*ents, ["a"], None)) == ["a/all", "hierarchy/all"]
    assert L.score_layer_cache(*ents, "conv0", "k1") == (
        sub / ".cache" / f"{base}_model-wav2vec2base_layer-conv0_key-k1.npz")
    assert L.safe_entity("a_b-c.d") == "abcd" and L.safe_entity("--") == "x"
    assert L.bids_name([("sub", "01"), ("run", None)], "bold", "json") == \
        "sub-01_bold.json"


def test_group_and_other_names(tmp_path):
    name = L.group_statmap(tmp_path, "fsaverage5", "model-m_desc-brainscore", "R").name
    assert name == "space-fsaverage5_hemi-R_model-m_desc-brainscore_statmap.func.gii"
    assert L.group_statmap(tmp_path, "MNI", "contrast-a").name == \
        "space-MNI_contrast-a_statmap.nii.gz"
    assert L.group_mask(tmp_path, "MNI").name == "space-MNI_desc-brain_mask.nii.gz"
    assert L.group_bydepth(tmp_path).name == "model-bydepth_hierarchymap.npz"
    assert L.group_brainscore_cluster(tmp_path, "m").name == \
        "model-m_desc-brainscorecluster_groupmap.npz"
    assert L.sim_bold(tmp_path, "01", "listen", 2, "fsaverage5", "L").name == \
        "sub-01_task-listen_run-2_space-fsaverage5_hemi-L_bold.func.gii"
    assert L.figure_view(tmp_path, "x").name == "x_view.html"
    assert L.abx_file(tmp_path, "scores.tsv").name == "abx_scores.tsv"
    assert L.stage_marker(tmp_path).name == ".done.json"
    assert L.stage_marker(tmp_path, "items").name == ".items.done.json"
    assert L.report_file(tmp_path).name == "report.html"
    assert L.container_sidecar(tmp_path / "a.npz") == tmp_path / "a.json"


def test_checkpoint_corpus_study_and_demo_names(tmp_path):
    ck = tmp_path / "models" / "native"
    assert L.checkpoint_meta(ck) == ck / "brainscore_speech.json"
    assert L.checkpoint_weights(ck) == ck / "model.safetensors"
    assert L.checkpoint_state(ck) == ck / "train_state" / "state.pt"
    assert L.checkpoint_metrics(ck).name == "metrics.jsonl"
    assert L.checkpoint_best(ck) == ck / "best"
    assert L.checkpoint_sibling(ck, "old-tmp") == ck.parent / ".native.old-tmp"
    assert [L.checkpoint_model_file(ck, f).name for f in L.CHECKPOINT_MODEL_FILES] \
        == ["config.json", "model.safetensors", "preprocessor_config.json"]
    assert {"train_state", "best", "metrics.jsonl"} < L.CHECKPOINT_ENTRIES
    with pytest.raises(ValueError, match="name must be one of"):
        L.checkpoint_model_file(ck, "pytorch_model.bin")
    assert [L.targets_file(tmp_path, k).name for k in ("meta", "labels", "kmeans")] \
        == ["targets.json", "labels.npz", "kmeans.npz"]
    with pytest.raises(ValueError, match="part must be one of"):
        L.targets_file(tmp_path, "codebook")
    audio = L.corpus_audio(tmp_path)
    assert audio == tmp_path / "audio"
    assert L.corpus_audio(tmp_path, "a") == audio / "a.wav"
    assert L.corpus_clip(audio, "en", 7).name == "en_00007.wav"
    assert L.corpus_description(audio, "sound").name == "sound_corpus.json"
    assert L.corpus_manifest(tmp_path).name == "manifest.tsv"
    assert L.abx_items(tmp_path).name == "items.item"
    assert L.abx_item_audio(tmp_path).name == "item_audio"
    assert L.cache_dir(tmp_path).name == ".cache"
    assert L.abx_activations(tmp_path).name == "activations"
    assert L.abx_activations(tmp_path, "mfcc").name == "activations_mfcc"
    bids = L.study_part(tmp_path, "bids")
    assert bids == tmp_path / "bids"
    assert L.study_part(tmp_path, "activations", "stages") == \
        tmp_path / "activations" / "stages"
    with pytest.raises(ValueError, match="part must be 'bids', 'truth'"):
        L.study_part(tmp_path, "derivatives")
    with pytest.raises(ValueError, match="a model name is needed"):
        L.study_part(tmp_path, "activations")
    with pytest.raises(ValueError, match="a model name is needed"):
        L.study_part(tmp_path, "truth", "stages")
    assert L.fmriprep_dir(bids) == bids / "derivatives" / "fmriprep"
    assert L.bids_func(bids, "01") == bids / "sub-01" / "func"
    assert L.sim_stimulus(bids, "s1") == L.stimuli_dir(bids) / "s1.wav"
    assert L.demo_part(tmp_path, "models", "sound") == tmp_path / "models" / "sound"
    assert L.demo_part(tmp_path, "figures") == tmp_path / "figures"
    with pytest.raises(ValueError, match="part must be one of"):
        L.demo_part(tmp_path, "checkpoints")
    assert L.demo_file(tmp_path, "timings").name == "demo_timings.json"
    with pytest.raises(ValueError, match="name must be 'config' or 'timings'"):
        L.demo_file(tmp_path, "log")


def test_write_gifti_round_trip(tmp_path):
    import nibabel as nib

    data = np.arange(12, dtype=np.float64).reshape(3, 4)
    p = L.write_gifti(tmp_path / "x.func.gii", data, array_meta={"TimeStep": "2000"},
                      image_meta={"TimeStep": "2000"})
    img = nib.load(p)
    assert len(img.darrays) == 3
    np.testing.assert_array_equal(np.stack([d.data for d in img.darrays]), data)
    assert img.darrays[0].data.dtype == np.float32
    assert img.darrays[0].meta["TimeStep"] == "2000" and img.meta["TimeStep"] == "2000"
    one = nib.load(L.write_gifti(tmp_path / "y.func.gii", data[0],
                                 intent="NIFTI_INTENT_ESTIMATE"))
    assert len(one.darrays) == 1
    assert one.darrays[0].intent == nib.nifti1.intent_codes["NIFTI_INTENT_ESTIMATE"]
    assert not list(tmp_path.glob("*.tmp-*"))


def test_write_tsv(tmp_path):
    p = L.write_tsv(tmp_path / "t.tsv", {"a": [1.0, np.nan], "b": ["x", "y"]},
                    float_format="%.3g")
    assert p.read_text() == "a\tb\n1\tx\nn/a\ty\n"


def test_activation_layout_round_trip(tmp_path):
    import h5py

    from brainscore_speech.containers import read_activation_layer, read_activation_meta

    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as h5:
        L.write_activation_attrs(h5, stimulus="s", model_id="m", layer_order=["a"],
                                 duration_s=1.5, model_meta={"regime": "random"},
                                 provenance={"step": "x"}, layer_info=None)
        grp = h5.create_group("layers")
        ds = L.add_activation_layer(grp, "a", np.array([0.01, 0.03]), shape=(2, 3))
        ds[:] = np.ones((2, 3))
    meta = read_activation_meta(path)
    assert meta["model_id"] == "m" and meta["layer_order"] == ["a"]
    x, t = read_activation_layer(path, "a")
    np.testing.assert_array_equal(x, np.ones((2, 3)))
    np.testing.assert_array_equal(t, [0.01, 0.03])


def test_cached_skip_record_and_corrupt(tmp_path):
    out = tmp_path / "o.txt"
    rec = tmp_path / ".done.json"
    c = L.cached("step", {"a": 1}, record=rec)
    assert not c.fresh()
    out.write_text("x")
    c.record({"params": {"a": 1}})
    assert c.fresh([out])
    assert not c.fresh([tmp_path / "missing"])
    assert not L.cached("step", {"a": 2}, record=rec).fresh()
    assert L.cached("step", {"a": 1}, {"f": "h"}, record=rec).key != c.key
    assert L.cached("step", None, record=rec, key=None).fresh() is False
    rec.write_text("{not json")
    assert not c.fresh()  # a corrupt record: redo
    with pytest.raises(DataError, match=r"\.done\.json"):
        L.cached("step", {"a": 1}, record=rec, strict=True).fresh()
    reader = L.cached("step", {"a": 1}, record=out, key_field="k",
                      reader=lambda p: {"k": c.key})
    assert reader.fresh()


def test_content_addressed_caches(tmp_path):
    a = L.abx_layer_cache(tmp_path, "conv0", "k" * 16, "tsv")
    b = L.humans_model_cache(tmp_path, "k1", "boot")
    assert a.name == "abx-conv0-kkkkkkkkkkkkkkkk.tsv" and b.name == "k1-boot.tsv"
    assert L.humans_file(tmp_path, "summary.tsv").name == "humans_summary.tsv"
    c = L.cached_files("abx", "k1", [a, b])
    assert not c.fresh([a, b])
    a.write_text("x")
    assert not c.fresh([a, b])
    b.write_text("y")
    assert c.fresh([a, b])
