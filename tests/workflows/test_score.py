"""score_subject / `brainscore-speech score`: outputs, recovery, caching, errors."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainscore_speech.containers import LayerScores
from brainscore_speech.data.simulate import simulate_study
from brainscore_speech.workflows import score as score_mod
from brainscore_speech.workflows.score import score_subject
from tests.conftest import assert_same_score_outputs, run_cli

# Noise vertices legitimately pick the largest alpha; the encoding stage warns.
pytestmark = pytest.mark.filterwarnings("ignore:.*edge of the grid:UserWarning")

LAYERS = ["stage1", "stage4"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return simulate_study(tmp_path_factory.mktemp("study"), n_subjects=1, n_runs=3,
                          scans_per_run=40, seed=11)


@pytest.fixture(scope="module")
def scored(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("deriv")
    res = score_subject(study.bids_root, "01", study.activations, out, layers=LAYERS)
    return out, res


def _outputs(out):
    return sorted(p for p in out.rglob("*") if p.is_file() and ".cache" not in p.parts
                  and not p.name.endswith("provenance.json")
                  and not p.name.endswith("layerscores.json")
                  and not p.name.endswith("_checksums.json"))  # hashes of the above


def test_score_outputs_layout_and_gifti(scored):
    out, res = scored
    assert res.n_fitted == 2 and not res.skipped
    sub = out / "sub-01"
    for layer in LAYERS:
        for hemi in "LR":
            p = sub / (f"sub-01_task-listen_space-fsaverage5_hemi-{hemi}_model-stages"
                       f"_layer-{layer}_stat-r_statmap.func.gii")
            img = nib.load(p)
            assert img.darrays[0].data.shape == (10242,)
    for hemi in "LR":
        h = nib.load(sub / f"sub-01_task-listen_space-fsaverage5_hemi-{hemi}_model-"
                           "stages_desc-hierarchy_statmap.func.gii").darrays[0].data
        assert set(np.unique(h[np.isfinite(h)])) <= {0.0, 1.0}
    assert (out / "dataset_description.json").is_file()
    ls = LayerScores.load(res.layerscores)
    assert ls.layer_names == tuple(LAYERS)
    assert ls.scores.shape == (2, 3, 20484)
    assert ls.hemi_sizes == {"L": 10242, "R": 10242}
    assert ls.model_meta["participant_language"] == "en"
    assert ls.model_meta["regime"] == "simulated"
    table = pd.read_csv(res.table, sep="\t")
    assert list(table.columns[:7]) == ["subject", "model", "layer", "layer_index",
                                       "hemi",
                                       "roi", "mean_r"]
    assert len(table) == 4 and set(table["hemi"]) == {"L", "R"}
    prov = json.loads(res.provenance.read_text())
    assert prov["step"] == "score" and "cache_key" in prov
    assert not list(out.rglob("*.tmp-*"))


def test_score_recovers_planted_stage_small(study, scored):
    # Small study (3 runs x 40 scans): the stronger planted vertices of the two
    # scored stages must be attributed to the right one, and noise must score ~0.
    _, res = scored
    ls = LayerScores.load(res.layerscores)
    truth = np.load(study.truth / "sub-01_truth.npz")
    stage, r = truth["stage"], truth["planted_r"]
    m = ls.mean_scores
    sel = ((stage == 0) | (stage == 3)) & (r >= 0.4)
    best = np.where(np.argmax(m[:, sel], 0) == 0, 0, 3)
    assert (best == stage[sel]).mean() >= 0.8
    noise = np.nanmean(m[:, stage < 0])
    assert abs(noise) < 0.02  # mean of ~18k null r's, each with SE ~0.09


def test_score_rerun_does_no_fitting(study, scored, monkeypatch):
    out, first = scored
    before = {p: p.read_bytes() for p in _outputs(out)}

    def _boom(*a, **k):
        raise AssertionError("score_layers must not be called")

    import brainscore_speech.encoding as enc
    monkeypatch.setattr(enc, "score_layers", _boom)
    res = score_subject(study.bids_root, "01", study.activations, out, layers=LAYERS)
    assert res.skipped and res.n_fitted == 0
    assert {p: p.read_bytes() for p in _outputs(out)} == before


def test_score_interrupted_then_resumed_matches(study, scored, tmp_path, monkeypatch):
    ref_out, _ = scored
    out = tmp_path / "deriv"
    import brainscore_speech.encoding as enc

    real = enc.score_layers

    def _dies_after_first_layer(*a, **k):
        # one score_layers call per job: killed once the first layer is cached
        save = k["on_layer"]

        def on_layer(name, result):
            save(name, result)
            raise KeyboardInterrupt("killed")

        return real(*a, **{**k, "on_layer": on_layer})

    monkeypatch.setattr(enc, "score_layers", _dies_after_first_layer)
    with pytest.raises(KeyboardInterrupt):
        score_subject(study.bids_root, "01", study.activations, out, layers=LAYERS)
    assert not list(out.rglob("*.tmp-*"))
    assert not list(out.rglob("*statmap*"))
    monkeypatch.setattr(enc, "score_layers", real)
    res = score_subject(study.bids_root, "01", study.activations, out, layers=LAYERS)
    assert res.n_fitted == 1  # the first layer came from the cache
    ref = {p.relative_to(ref_out): p for p in _outputs(ref_out)}
    got = {p.relative_to(out): p for p in _outputs(out)}
    assert_same_score_outputs(ref, got)
    assert not list(out.rglob("*.tmp-*"))


def test_score_changed_parameter_refits(study, scored, tmp_path):
    out = tmp_path / "d"
    shutil.copytree(scored[0], out)
    res = score_subject(study.bids_root, "01", study.activations, out, layers=LAYERS,
                        language="fr")
    assert res.n_fitted == 0 and not res.skipped  # cached layers, new meta
    assert LayerScores.load(res.layerscores).model_meta["participant_language"] == "fr"
    res = score_subject(study.bids_root, "01", study.activations, out,
                        layers=["stage1"],
                        alphas=(1.0, 10.0, 100.0))
    assert res.n_fitted == 1


def test_cli_score_runs_and_skips(study, scored, tmp_path):
    out = tmp_path / "d"
    shutil.copytree(scored[0], out)
    code, stdout, err = run_cli(["score", study.bids_root, "--subject", "01",
                                 "--activations", study.activations, "--out", out,
                                 "--layers", "stage1", "--layers", "stage4"])
    assert code == 0, err
    assert "up to date" in stdout


def test_cli_score_exact_solver_matches_fast(study, scored, tmp_path):
    # --solver exact: the direct solve, a separate cache key, the same scores
    out = tmp_path / "d"
    code, _, err = run_cli(["score", study.bids_root, "--subject", "01",
                            "--activations", study.activations, "--out", out,
                            "--layers", "stage1", "--solver", "exact"])
    assert code == 0, err
    exact = LayerScores.load(next((out / "sub-01").glob("*_layerscores.npz")))
    fast = LayerScores.load(scored[1].layerscores)
    assert exact.cv["solver"] == "exact" and fast.cv["solver"] == "fast"
    same = exact.best_alphas[0] == fast.best_alphas[0]
    assert same[np.isfinite(exact.best_alphas[0])].mean() >= 0.999
    np.testing.assert_allclose(exact.scores[0][same], fast.scores[0][same], atol=1e-5)
    code, _, err = run_cli(["score", study.bids_root, "--subject", "01",
                            "--activations", study.activations, "--out", out,
                            "--layers", "stage1", "--solver", "approx"])
    assert code == 2  # an invalid choice is a usage error
    assert "'solver' must be one of ['fast', 'fast-local', 'exact']" in err


def test_cli_score_search_dtype(study, scored, tmp_path):
    # --search-dtype bfloat16: recorded, a separate cache key, the float32 scores
    # wherever the alphas agree (the refit is float32)
    fast = LayerScores.load(scored[1].layerscores)
    for value in ("bfloat16", "float32"):
        out = tmp_path / value
        code, _, err = run_cli(["score", study.bids_root, "--subject", "01",
                                "--activations", study.activations, "--out", out,
                                "--layers", "stage1", "--search-dtype", value])
        assert code == 0, err
        ls = LayerScores.load(next((out / "sub-01").glob("*_layerscores.npz")))
        assert ls.cv["search_dtype"] == value
        assert ls.provenance["params"]["search_dtype"] == value
        same = ls.best_alphas[0] == fast.best_alphas[0]
        assert same[np.isfinite(fast.best_alphas[0])].mean() >= 0.995
        np.testing.assert_allclose(ls.scores[0][same], fast.scores[0][same], atol=1e-5)
    code, _, err = run_cli(["score", study.bids_root, "--subject", "01",
                            "--activations", study.activations, "--out", tmp_path,
                            "--search-dtype", "fp8"])
    assert code == 2
    assert "'search_dtype' must be one of ['auto', 'float32', 'bfloat16']" in err


def _broken_copy(study, tmp_path):
    dst = tmp_path / "study"
    shutil.copytree(study.root, dst)
    return dst


def _cli(root, out, *extra):
    return run_cli(["score", root / "bids", "--subject", "01", "--activations",
                    root / "activations" / "stages", "--out", out, "--layers", "stage1",
                    *extra])


FUNC = "bids/derivatives/fmriprep/sub-01/func"
BASE2 = "sub-01_task-listen_run-2"


def _break_missing_run(root):
    for hemi in "LR":
        (root / FUNC / f"{BASE2}_space-fsaverage5_hemi-{hemi}_bold.func.gii").unlink()


def _break_missing_hemi(root):
    (root / FUNC / f"{BASE2}_space-fsaverage5_hemi-R_bold.func.gii").unlink()


def _break_truncated(root):
    p = root / FUNC / f"{BASE2}_space-fsaverage5_hemi-L_bold.func.gii"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _break_tr(root):
    for p in (root / "bids/sub-01/func").glob("*_bold.json"):
        meta = json.loads(p.read_text())
        meta["RepetitionTime"] = 1.5
        p.write_text(json.dumps(meta))


def _break_duration(root):
    p = root / "bids/sub-01/func" / f"{BASE2}_events.tsv"
    p.write_text("onset\tduration\ttrial_type\tstim_file\n0\t30\tstory\tstory02.wav\n")
    # the activation file says the audio lasts 72 s; make it claim 300 s
    import h5py
    with h5py.File(root / "activations/stages/story02.h5", "r+") as f:
        f.attrs["duration_s"] = 300.0


def _break_activation(root):
    (root / "activations/stages/story03.h5").unlink()


def _break_subject(root):
    shutil.rmtree(root / "bids/sub-01")


BREAKAGES = [
    (_break_missing_run, r"Missing run: no fMRIPrep BOLD for sub-01 task-listen_run-2"),
    (_break_missing_hemi, r"Missing hemisphere R for sub-01 task-listen_run-2"),
    (_break_truncated, r"Cannot read GIFTI file .*run-2_space-fsaverage5_hemi-L_bold"
                       r"\.func\.gii \(truncated or corrupt\?\)"),
    (_break_tr, r"TR mismatch for sub-01 task-listen_run-1: sidecar "
                r"sub-01_task-listen_run-1_bold.json says RepetitionTime 1.5 s but "
                r".*hemi-L_bold.func.gii says 2.0 s"),
    (_break_duration, r"sub-01 task-listen_run-2: BOLD has 40 scans \(80.0 s at TR "
                      r"2.0 s\)"
                      r" but stimulus 'story02' needs 300.0 s"),
    (_break_activation, r"No activations for stimulus 'story03' \(sub-01 "
                        r"task-listen_run-3\): expected .*story03.h5"),
    (_break_subject, r"No BOLD sidecar .* found for sub-01"),
]


@pytest.mark.parametrize("breakage,message", BREAKAGES,
                         ids=[b[0].__name__[7:] for b in BREAKAGES])
def test_cli_score_bad_inputs_exit_1(study, tmp_path, breakage, message):
    root = _broken_copy(study, tmp_path)
    breakage(root)
    code, _, err = _cli(root, tmp_path / "out")
    assert code == 1, err
    assert err.startswith("Error: ")
    import re
    assert re.search(message, err), err
    assert not list((tmp_path / "out").rglob("*statmap*")) if \
        (tmp_path / "out").exists() else True


def test_cli_score_unknown_layer_and_folder(study, tmp_path):
    code, _, err = run_cli(["score", study.bids_root, "--subject", "01",
                            "--activations",
                            study.activations, "--out", tmp_path, "--layers", "stage9"])
    assert code == 2
    assert "'layers' must be one of ['stage1', 'stage2', 'stage3', 'stage4'], got " \
           "'stage9'. Did you mean" in err
    code, _, err = run_cli(["score", study.bids_root, "--subject", "01",
                            "--activations",
                            tmp_path / "nope", "--out", tmp_path])
    assert code == 1 and "Activation folder not found" in err


def test_score_nan_vertices_masked_and_reported(study, tmp_path):
    root = _broken_copy(study, tmp_path)
    p = root / FUNC / f"{BASE2}_space-fsaverage5_hemi-L_bold.func.gii"
    img = nib.load(p)
    for d in img.darrays:
        d.data[[5, 7]] = np.nan
    nib.save(img, p)
    with pytest.warns(Warning, match=r"sub-01 task-listen_run-2: 2 of 20484 targets "
                                     r"contain NaN/inf \(first indices \[5, 7\]\)"):
        res = score_subject(root / "bids", "01", root / "activations/stages",
                            tmp_path / "out", layers=["stage1"])
    ls = LayerScores.load(res.layerscores)
    assert np.isnan(ls.scores[:, :, [5, 7]]).all()
    assert np.isfinite(ls.scores[:, :, 6]).all()
    gii = nib.load(res.maps["stage1/L"]).darrays[0].data
    assert np.isnan(gii[[5, 7]]).all()


def test_output_prefix():
    assert score_mod.output_prefix("01", "listen", "fsaverage5", "m") == \
        "sub-01_task-listen_space-fsaverage5"
    assert score_mod.output_prefix("01", None, "MNI", "m") == "sub-01_space-MNI"


VOL_SPACE = "MNI152NLin2009cAsym"


def _volume_copy(study, root):
    """The simulated study re-written as MNI volumes: 512 left-hemisphere vertices
    (the 256 most strongly driven and 256 noise ones) on an 8 x 8 x 8 grid of 4 mm
    voxels, with a subject brain mask."""
    from brainscore_speech.data.bold import read_gifti_timeseries

    truth = np.load(study.truth / "sub-01_truth.npz")
    r = np.nan_to_num(truth["planted_r"][:10242])
    noise = np.flatnonzero(truth["stage"][:10242] < 0)[:256]
    sel = np.sort(np.concatenate([np.argsort(-r)[:256], noise]))
    bids = root / "bids"
    shutil.copytree(study.bids_root, bids)
    dfunc = bids / "derivatives" / "fmriprep" / "sub-01" / "func"
    aff = np.diag([4.0, 4.0, 4.0, 1.0])
    aff[:3, 3] = [-60, -60, -20]
    for gii in sorted(dfunc.glob("*_space-fsaverage5_hemi-L_bold.func.gii")):
        data, tr = read_gifti_timeseries(gii)
        vol = data[:, sel].T.reshape(8, 8, 8, -1).astype(np.float32)
        img = nib.Nifti1Image(vol, aff)
        img.header.set_xyzt_units("mm", "sec")
        img.header["pixdim"][4] = tr
        base = gii.name.split("_space-")[0] + f"_space-{VOL_SPACE}"
        nib.save(img, dfunc / f"{base}_desc-preproc_bold.nii.gz")
        sub_mask = np.ones((8, 8, 8), np.uint8)
        sub_mask[0, 0, :] = 0  # the subject's own mask: 504 voxels
        nib.save(nib.Nifti1Image(sub_mask, aff),
                 dfunc / f"{base}_desc-brain_mask.nii.gz")
    for gii in dfunc.glob("*.func.gii"):
        gii.unlink()
    group = np.zeros((8, 8, 8), np.uint8)
    group[:, :, :4] = 1  # a group mask of 256 voxels
    nib.save(nib.Nifti1Image(group, aff), root / "group_mask.nii.gz")
    return bids, root / "group_mask.nii.gz", sel


def test_score_volume_space_with_a_group_mask(study, tmp_path):
    bids, group_mask, sel = _volume_copy(study, tmp_path)
    res = score_subject(bids, "01", study.activations, tmp_path / "d", space=VOL_SPACE,
                        layers=LAYERS)
    assert LayerScores.load(res.layerscores).n_targets == 504  # subject mask
    code, out, err = run_cli(["score", bids, "--subject", "01", "--activations",
                              study.activations, "--out", tmp_path / "g", "--space",
                              VOL_SPACE, "--layers", "stage1", "--layers", "stage4",
                              "--mask", group_mask])
    assert code == 0, err
    (path,) = (tmp_path / "g" / "sub-01").glob("*_layerscores.npz")
    ls = LayerScores.load(path)
    assert ls.n_targets == 256 and ls.hemi_sizes is None and ls.space == VOL_SPACE
    assert ls.provenance["inputs"]["bold_runs"]["mask"] == str(group_mask)
    img = nib.load(tmp_path / "g" / "sub-01" / (
        f"sub-01_task-listen_space-{VOL_SPACE}_model-stages_layer-stage1_stat-r_"
        "statmap.nii.gz"))
    assert img.shape == (8, 8, 8)
    data = np.asarray(img.dataobj)
    assert not data[:, :, 4:].any()  # outside the group mask
    from nilearn.masking import apply_mask

    np.testing.assert_allclose(apply_mask(img, str(group_mask)),
                               np.nan_to_num(ls.mean_scores[0]), atol=1e-6)
    # the voxels' scores follow the planted strength of their vertex
    truth = np.load(study.truth / "sub-01_truth.npz")
    in_mask = np.zeros((8, 8, 8), bool)
    in_mask[:, :, :4] = True
    vert = sel.reshape(8, 8, 8)[in_mask]
    best = np.nanmax(ls.mean_scores, axis=0)
    driven = truth["stage"][vert] >= 0
    assert 50 < driven.sum() < 206
    assert best[driven].mean() > best[~driven].mean() + 0.1  # 0.18 vs 0.05 measured


def test_score_mask_errors(study, tmp_path):
    code, _, err = run_cli(["score", study.bids_root, "--subject", "01",
                            "--activations",
                            study.activations, "--out", tmp_path / "d", "--space",
                            VOL_SPACE, "--mask", tmp_path / "nope.nii.gz"])
    assert code == 1 and "Brain mask not found: " in err and "nope.nii.gz" in err
    (tmp_path / "m.nii.gz").write_bytes(b"x")
    with pytest.raises(ValueError, match="'mask_img' is for volume spaces; space "
                                         "'fsaverage5' is a surface"):
        score_subject(study.bids_root, "01", study.activations, tmp_path / "d",
                      mask_img=tmp_path / "m.nii.gz")


# --------------------------------------------------------------------------- #
# Repeated stories, gap and slice-timing reference (issue 12)
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def repeated_study(tmp_path_factory):
    # runs 1 and 3 both play story01, as Narratives' pieman run-1/run-2
    return simulate_study(tmp_path_factory.mktemp("rep"), n_subjects=1, n_runs=3,
                          scans_per_run=40, seed=4, repeat_story=True,
                          story_locked=0.5)


def test_score_groups_repeated_stories_or_keeps_the_first(repeated_study, tmp_path):
    st = repeated_study
    truth = json.loads((st.truth / "truth.json").read_text())
    assert truth["run_stimuli"] == ["story01", "story02", "story01"]
    res = score_subject(st.bids_root, "01", st.activations, tmp_path / "g",
                        layers=["stage1"])
    ls = LayerScores.load(res.layerscores)
    assert ls.scores.shape[1] == 2  # one fold per story, not per run
    folds = ls.cv["folds"]
    assert [f["test_runs"] for f in folds] == [["0", "2"], ["1"]]
    assert [f["test_stimuli"] for f in folds] == [["story01"], ["story02"]]
    params = ls.provenance["params"]
    assert params["repeated"] == "group" and params["dropped_runs"] == []
    assert params["stimuli"]["task-listen_run-3"] == "story01"
    res = score_subject(st.bids_root, "01", st.activations, tmp_path / "f",
                        layers=["stage1"], repeated="first")
    ls = LayerScores.load(res.layerscores)
    assert ls.scores.shape[1] == 2 and ls.cv["runs"] == ["0", "1"]
    assert ls.provenance["params"]["dropped_runs"] == ["task-listen_run-3"]
    code, out, err = run_cli(["score", st.bids_root, "--subject", "01", "--activations",
                              st.activations, "--out", tmp_path / "c", "--layers",
                              "stage1", "--repeated", "first"])
    assert code == 0, err
    (path,) = (tmp_path / "c" / "sub-01").glob("*_layerscores.npz")
    assert LayerScores.load(path).provenance["params"]["dropped_runs"] == \
        ["task-listen_run-3"]


def test_score_slice_time_reference_and_gap_recorded(study, scored, tmp_path):
    out, res = scored
    ls = LayerScores.load(res.layerscores)
    params = ls.provenance["params"]
    # read from the simulated fMRIPrep sidecars (StartTime 0.969 s at TR 2 s)
    np.testing.assert_allclose(list(params["slice_time_ref"].values()), 0.4845,
                               rtol=1e-6)
    assert all("StartTime" in v for v in params["slice_time_source"].values())
    assert params["gap_s"] == 10.0 and params["gap_scans"] == 5
    assert ls.cv["gap_scans"] == 5 and ls.cv["groups"] == "stimuli"
    # an explicit reference refits (it is part of the cache key) and is recorded
    other = tmp_path / "d"
    shutil.copytree(out, other)
    res0 = score_subject(study.bids_root, "01", study.activations, other,
                         layers=LAYERS, slice_time_ref=0.0)
    assert res0.n_fitted == 2
    ls0 = LayerScores.load(res0.layerscores)
    assert set(ls0.provenance["params"]["slice_time_ref"].values()) == {0.0}
    # the sidecar's reference aligns the features better than the scan start
    truth = np.load(study.truth / "sub-01_truth.npz")
    strong = (truth["stage"] == 0) & (truth["planted_r"] >= 0.4)
    auto_r = np.nanmean(ls.mean_scores[0, strong])
    start_r = np.nanmean(ls0.mean_scores[0, strong])
    print(f"\nstage1, planted r >= 0.4: r {auto_r:.4f} (StartTime) vs "
          f"{start_r:.4f} (0)")
    assert auto_r > start_r


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"repeated": "all"}, r"'repeated' must be one of \['group', 'first'\], got 'all'"),
    ({"gap_s": -1.0}, r"'gap_s' must be a non-negative number of seconds, got -1.0"),
    ({"slice_time_ref": 1.5}, r"'slice_time_ref' must be 'auto' or a fraction of the "
                              r"TR in \[0, 1\], got 1.5"),
    ({"solver": "approx"},
     r"'solver' must be one of \['fast', 'fast-local', 'exact'\]"),
    ({"search_dtype": "fp8"}, r"'search_dtype' must be one of \['auto', 'float32', "
                              r"'bfloat16'\], got 'fp8'"),
])
def test_score_new_option_errors(study, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        score_subject(study.bids_root, "01", study.activations, tmp_path, **kwargs)


def test_cli_score_new_options(study, tmp_path):
    code, _, err = _cli(study.root, tmp_path / "o", "--slice-time-ref", "abc")
    assert code == 2 and "expected 'auto' or a number in [0, 1], got 'abc'" in err
    code, out, err = _cli(study.root, tmp_path / "o", "--slice-time-ref", "0.25",
                          "--gap-s", "4")
    assert code == 0, err
    (path,) = (tmp_path / "o" / "sub-01").glob("*_layerscores.npz")
    params = LayerScores.load(path).provenance["params"]
    assert set(params["slice_time_ref"].values()) == {0.25}
    assert params["gap_s"] == 4.0 and params["gap_scans"] == 2
    code, _, err = _cli(study.root, tmp_path / "o", "--repeated", "none")
    assert code == 2 and "'repeated' must be one of ['group', 'first']" in err
