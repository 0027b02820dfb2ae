"""ROIs from real atlases, run_group outputs / resume / errors, and the CLI."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainscore_speech.analysis import (
    check_atlas_matches,
    compute_hierarchy,
    discover_layer_scores,
    load_group_outputs,
    load_surface_atlas,
    make_synthetic_layer_scores,
    roi_layer_profiles,
    roi_order_correlation,
    run_group,
    speech_rois,
    summarize_profiles,
)
from tests.conftest import run_cli

# small synthetic groups: the Wilcoxon floor warning is expected here
pytestmark = pytest.mark.filterwarnings("ignore:With n_subjects")


def _atlas(shared_data, name):
    d = shared_data / "atlases-fsaverage5"
    return load_surface_atlas(d / f"lh_{name}_fsa5.annot", d / f"rh_{name}_fsa5.annot")


def test_speech_rois_real_atlases(shared_data):
    mmp = _atlas(shared_data, "mmp1")
    assert mmp.name == "hcp-mmp1" and mmp.hemi_sizes == {"L": 10242, "R": 10242}
    rois = speech_rois(mmp)
    assert list(rois) == ["A1", "belt", "STG", "STS", "IFG"]
    assert all(len(v) > 20 for v in rois.values())
    sep = speech_rois(mmp, hemi="separate")
    assert np.all(sep["A1_L"] < 10242) and np.all(sep["A1_R"] >= 10242)
    dk = _atlas(shared_data, "aparc")
    assert dk.name == "desikan" and "belt" not in speech_rois(dk)
    with pytest.raises(ValueError, match="No default speech-ROI mapping for atlas"):
        speech_rois(_atlas(shared_data, "schaefer400"))
    with pytest.raises(ValueError,
                       match=r"ROI 'X': labels \['nope'\] are not in atlas"):
        speech_rois(dk, mapping={"X": ["nope"]})
    with pytest.raises(ValueError, match="'hemi' must be one of"):
        speech_rois(dk, hemi="both2")
    with pytest.raises(ValueError, match="does not match the mesh of the data"):
        check_atlas_matches(mmp, {"L": 2562, "R": 2562})


def test_planted_hierarchy_on_real_atlas_rois(shared_data):
    rois = speech_rois(_atlas(shared_data, "mmp1"))
    scores, truth = make_synthetic_layer_scores(20, rois=rois, random_state=7)
    h = compute_hierarchy(scores, n_bootstrap=20)
    sig = h.best_layer >= 0
    assert (h.best_layer[sig] == truth["planted_layer"][sig]).mean() >= 0.9
    assert roi_order_correlation(h, rois)["rho"] > 0.9
    prof = summarize_profiles(roi_layer_profiles(scores, rois))
    a1 = prof[prof.roi == "A1"].sort_values("layer_index")
    assert a1["mean_r"].idxmax() == a1.index[0]
    assert np.all(a1["ci_low"] < a1["mean_r"]) and np.all(a1["n_subjects"] == 20)
    with pytest.raises(ValueError, match="'ci' must be in"):
        summarize_profiles(prof.assign(subject="x"), ci=2)
    with pytest.raises(ValueError, match="the atlas does not match the mesh"):
        roi_layer_profiles(scores, {"A1": np.array([10 ** 6])})


def test_atlas_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Atlas file not found"):
        load_surface_atlas(tmp_path / "lh.annot", tmp_path / "rh.annot")
    bad = tmp_path / "lh.txt"
    bad.write_text("x")
    with pytest.raises(ValueError, match="must be a FreeSurfer '.annot' or a GIFTI"):
        load_surface_atlas(bad, bad)
    broken = tmp_path / "lh.annot"
    broken.write_bytes(b"\x00\x01")
    with pytest.raises(ValueError, match="Cannot read FreeSurfer annotation"):
        load_surface_atlas(broken, broken)


def test_gifti_label_atlas(tmp_path):
    import nibabel as nib

    for hemi in ("lh", "rh"):
        lab = nib.gifti.GiftiLabelTable()
        for k, name in enumerate(["unknown", "A1", "STG", "STS"]):
            label = nib.gifti.GiftiLabel(key=k)
            label.label = name
            lab.labels.append(label)
        img = nib.gifti.GiftiImage(labeltable=lab, darrays=[nib.gifti.GiftiDataArray(
            np.array([0, 1, 2, 3, 3], np.int32), intent="NIFTI_INTENT_LABEL")])
        nib.save(img, tmp_path / f"{hemi}.label.gii")
    atlas = load_surface_atlas(tmp_path / "lh.label.gii", tmp_path / "rh.label.gii",
                               name="mine")
    rois = speech_rois(atlas, mapping={"A1": ["A1"], "STS": ["STS"]})
    np.testing.assert_array_equal(rois["STS"], [3, 4, 8, 9])


def _deriv(root: Path, n_sub=5, n=10242, seed=0):
    out = {}
    for model, meta, eff in [
        ("stages", {"regime": "speech", "language": "en", "participant_language": "en"},
         "hierarchy"),
        ("random", {"regime": "random", "language": None, "participant_language": "en"},
         "null"),
    ]:
        scores, truth = make_synthetic_layer_scores(
            n_sub, effect=eff, n_vertices_per_hemi=n, model_id=model, model_meta=meta,
            random_state=seed + len(out))
        for ls in scores:
            ls.save(root / f"sub-{ls.subject}" /
                    f"sub-{ls.subject}_task-t_space-fsaverage5_model-{model}_layerscores.npz")
        out[model] = (scores, truth)
    return out


@pytest.fixture(scope="module")
def group_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    _deriv(root / "deriv")
    code, out, err = run_cli(["group", root / "deriv", "--out", root / "group",
                              "--n-permutations", "64", "--cluster"])
    assert code == 0, err
    assert "written" in out
    return root


def test_run_group_outputs(group_dir):
    g = group_dir / "group"
    res = load_group_outputs(g)
    assert set(res["hierarchy"]) == {"stages", "random"}
    assert "trained-random" in res["contrasts"]
    assert res["bestregime"] is not None
    h = res["hierarchy"]["stages"]
    assert h.n_subjects == 5
    summary = pd.read_csv(g / "group_summary.tsv", sep="\t")
    assert set(summary["hemi"]) == {"L", "R"} and (summary["n_subjects"] == 5).all()
    assert "cluster" in set(summary["test"])
    giis = sorted(g.glob("space-fsaverage5_hemi-L_model-stages_*.func.gii"))
    assert len(giis) == 4
    import nibabel as nib

    assert nib.load(giis[0]).darrays[0].data.shape == (10242,)
    prov = json.loads((g / "group_provenance.json").read_text())
    assert prov["n_subjects"] == {"random": 5, "stages": 5}
    assert all((g / p).is_file() for p in prov["outputs"])
    assert not list(g.glob("*.tmp-*"))
    # resume: same inputs and parameters -> skipped
    again = run_group(group_dir / "deriv", g, n_permutations=64, cluster=True)
    assert again["skipped"]


@pytest.mark.filterwarnings("ignore:With n_subjects")
def test_run_group_errors(tmp_path, shared_data):
    with pytest.raises(FileNotFoundError, match="Derivatives folder not found"):
        run_group(tmp_path / "nope", tmp_path / "g")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No LayerScores files"):
        run_group(tmp_path / "empty", tmp_path / "g")
    _deriv(tmp_path / "d", n_sub=3, n=200)
    with pytest.raises(ValueError, match=r"Model\(s\) \['x'\] not found"):
        discover_layer_scores(tmp_path / "d", models=["x"])
    with pytest.raises(ValueError, match="Layer 'transf9' is missing from sub-01"):
        run_group(tmp_path / "d", tmp_path / "g", layers=["stage1", "transf9"])
    with pytest.raises(ValueError, match="only fsaverage5"):
        run_group(tmp_path / "d", tmp_path / "g", cluster=True)
    d = shared_data / "atlases-fsaverage5"
    with pytest.raises(ValueError, match="does not match the mesh of the scores"):
        run_group(tmp_path / "d", tmp_path / "g",
                  atlas=(d / "lh_aparc_fsa5.annot", d / "rh_aparc_fsa5.annot"))
    # a subject in another space
    scores, _ = make_synthetic_layer_scores(1, n_vertices_per_hemi=300,
                                            space="fsaverage6",
                                            subjects=["09"], model_id="stages")
    scores[0].save(tmp_path / "d" / "sub-09" / "sub-09_model-stages_layerscores.npz")
    with pytest.raises(ValueError, match="Subjects do not share a space"):
        run_group(tmp_path / "d", tmp_path / "g")
    code, _, err = run_cli(["group", tmp_path / "d", "--out", tmp_path / "g",
                            "--test", "tukey"])
    assert code == 2 and "'test' must be one of" in err
    code, _, err = run_cli(["group", tmp_path / "d", "--out", tmp_path / "g",
                            "--atlas", d / "lh_aparc_fsa5.annot"])
    assert code == 2


def test_figures_and_report_cli(group_dir):
    g = group_dir / "group"
    code, out, err = run_cli(["report", g, "--out", group_dir / "report.html",
                              "--dpi", "40"])
    assert code == 0, err
    html = (group_dir / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 8
    assert "Provenance" in html and "http://" not in html and "https://" not in html
    code, out, err = run_cli(["report", group_dir / "nothing", "--out",
                              group_dir / "r.html"])
    assert code == 1 and "is not a group folder" in err
