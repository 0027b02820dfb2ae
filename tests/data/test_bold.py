"""BOLD loader: surfaces and volumes, cleaning, and the checks with clear errors."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainscore_speech.data.bold import (
    describe_runs,
    find_bold_files,
    load_bold,
    read_gifti_timeseries,
)
from brainscore_speech.data.simulate import simulate_study
from brainscore_speech.exceptions import DataError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return simulate_study(tmp_path_factory.mktemp("sim"), n_subjects=1, n_runs=2,
                          scans_per_run=30, seed=2)


def test_load_bold_surface_cleaned_and_zscored(tiny):
    bold = load_bold(tiny.bids_root, "sub-01")
    assert bold.hemi_sizes == {"L": 10242, "R": 10242}
    assert list(bold.runs) == ["task-listen_run-1", "task-listen_run-2"]
    assert bold.stimuli == {"task-listen_run-1": "story01",
                            "task-listen_run-2": "story02"}
    assert bold.tr_s == 2.0 and bold.task == "listen" and bold.valid.all()
    y = bold.runs["task-listen_run-1"]
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(0, ddof=1), 1, rtol=1e-3)
    # the motion confounds are regressed out
    conf = pd.read_csv(tiny.bids_root / "derivatives/fmriprep/sub-01/func/"
                       "sub-01_task-listen_run-1_desc-confounds_timeseries.tsv",
                       sep="\t")
    m = conf["trans_x"].to_numpy()
    m = (m - m.mean()) / m.std()
    np.testing.assert_allclose((m @ y) / len(m), 0, atol=1e-4)


def test_read_gifti_timeseries(tiny):
    path = next((tiny.bids_root / "derivatives/fmriprep/sub-01/func").glob(
        "*hemi-L*.func.gii"))
    data, tr = read_gifti_timeseries(path)
    assert data.shape == (30, 10242) and data.dtype == np.float32 and tr == 2.0
    with pytest.raises(FileNotFoundError, match="GIFTI file not found"):
        read_gifti_timeseries(path.with_name("absent.func.gii"))


def test_load_bold_bad_strategy_and_missing_confounds(tiny, tmp_path):
    with pytest.raises(ValueError, match="'confounds_strategy' must be one of .*got "
                                         "'scrub'"):
        load_bold(tiny.bids_root, "01", confounds_strategy=("motion", "scrub"))
    with pytest.raises(FileNotFoundError,
                       match="fMRIPrep derivatives folder not found"):
        load_bold(tiny.bids_root, "01", derivatives=tmp_path / "none")
    import shutil
    root = tmp_path / "s"
    shutil.copytree(tiny.bids_root, root)
    next((root / "derivatives/fmriprep/sub-01/func").glob(
        "*run-1_desc-confounds_timeseries.tsv")).unlink()
    with pytest.raises(DataError, match="Cannot load fMRIPrep confounds for sub-01 "
                                        "task-listen_run-1"):
        load_bold(root, "01")
    # without confounds the run still loads
    assert load_bold(root, "01", confounds_strategy=()).n_targets == 20484


def _volume_study(root, *, tr_header=2.0, corrupt=False):
    rng = np.random.default_rng(0)
    func = root / "sub-01" / "func"
    dfunc = root / "derivatives" / "fmriprep" / "sub-01" / "func"
    func.mkdir(parents=True)
    dfunc.mkdir(parents=True)
    (func / "sub-01_task-t_run-1_bold.json").write_text(
        json.dumps({"RepetitionTime": 2}))
    (func / "sub-01_task-t_run-1_events.tsv").write_text(
        "onset\tduration\ttrial_type\tstim_file\n0\t70\tstory\ts1.wav\n")
    data = rng.normal(size=(4, 4, 4, 40)).astype(np.float32) + 100
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = tr_header
    base = "sub-01_task-t_run-1_space-MNI152NLin2009cAsym"
    bold = dfunc / f"{base}_desc-preproc_bold.nii.gz"
    nib.save(img, bold)
    if corrupt:
        raw = bold.read_bytes()
        bold.write_bytes(raw[: len(raw) // 3])
    mask = np.zeros((4, 4, 4), np.uint8)
    mask[1:3, 1:3, 1:3] = 1
    nib.save(nib.Nifti1Image(mask, np.eye(4)), dfunc / f"{base}_desc-brain_mask.nii.gz")
    pd.DataFrame({k: rng.normal(size=40) for k in ("trans_x", "trans_y", "trans_z",
                                                    "rot_x", "rot_y", "rot_z")}).to_csv(
        dfunc / "sub-01_task-t_run-1_desc-confounds_timeseries.tsv", sep="\t",
        index=False)
    return root


def test_load_bold_volume_with_mask(tmp_path):
    root = _volume_study(tmp_path)
    bold = load_bold(root, "01", space="MNI152NLin2009cAsym",
                     confounds_strategy=("motion",))
    assert bold.n_targets == 8 and bold.hemi_sizes is None
    assert bold.runs["task-t_run-1"].shape == (40, 8)
    assert bold.provenance["mask"].endswith("desc-brain_mask.nii.gz")
    specs = describe_runs(root, "01")
    assert set(find_bold_files(root / "derivatives/fmriprep", "01", specs[0],
                               space="MNI152NLin2009cAsym")) == {"bold", "mask"}


def test_load_bold_volume_tr_mismatch(tmp_path):
    root = _volume_study(tmp_path, tr_header=2.5)
    with pytest.raises(DataError, match=r"TR mismatch for sub-01 task-t_run-1: sidecar "
                                        r"sub-01_task-t_run-1_bold.json says "
                                        r"RepetitionTime 2.0 s but .*says 2.5 s"):
        load_bold(root, "01", space="MNI152NLin2009cAsym", confounds_strategy=())


def test_load_bold_volume_truncated(tmp_path):
    root = _volume_study(tmp_path, corrupt=True)
    with pytest.raises(DataError, match=r"Cannot read NIfTI file .*desc-preproc_bold"
                                        r"\.nii\.gz \(truncated or corrupt\?\)"):
        load_bold(root, "01", space="MNI152NLin2009cAsym", confounds_strategy=())


def test_load_bold_volume_missing_mask(tmp_path):
    root = _volume_study(tmp_path)
    next((root / "derivatives/fmriprep/sub-01/func").glob("*mask*")).unlink()
    with pytest.raises(FileNotFoundError,
                       match="No brain mask for .*desc-preproc_bold"):
        load_bold(root, "01", space="MNI152NLin2009cAsym", confounds_strategy=())


def test_load_bold_trims_leading_trs(tiny, tmp_path):
    import shutil
    root = tmp_path / "s"
    shutil.copytree(tiny.bids_root, root)
    ev = root / "sub-01/func/sub-01_task-listen_run-1_events.tsv"
    df = pd.read_csv(ev, sep="\t")
    df["onset"] = 5.0  # 2 whole TRs + 1 s
    df["duration"] = 40.0
    df.to_csv(ev, sep="\t", index=False)
    bold = load_bold(root, "01")
    assert bold.runs["task-listen_run-1"].shape[0] == 28
    assert bold.onsets_s["task-listen_run-1"] == pytest.approx(1.0)
    assert bold.runs["task-listen_run-2"].shape[0] == 30


# --------------------------------------------------------------------------- #
# Slice-timing reference from the sidecars (issue 12, defect 5)
# --------------------------------------------------------------------------- #
def _sidecars(tmp_path, raw=None, deriv=None, deriv_r=None):
    from brainscore_speech.data.bold import slice_time_reference

    raw_p = tmp_path / "sub-01_task-t_run-1_bold.json"
    raw_p.write_text(json.dumps({"RepetitionTime": 2.0, **(raw or {})}))
    files = [tmp_path / f"sub-01_task-t_run-1_space-fsaverage5_hemi-{h}_bold.func.gii"
             for h in "LR"]
    for f, meta in zip(files, (deriv, deriv_r if deriv_r is not None else deriv)):
        side = f.with_name(f.name.replace(".func.gii", ".json"))
        if meta is not None:
            side.write_text(json.dumps(meta))
    return slice_time_reference(raw_p, files, 2.0)


def test_slice_time_reference_from_fmriprep_and_raw_sidecars(tmp_path):
    times = [0.0, 1.0, 0.25, 1.25, 0.5, 1.5, 0.75, 1.75]  # interleaved, 8 slices
    # fMRIPrep corrected to tzero and wrote it as StartTime
    ref, src = _sidecars(tmp_path, {"SliceTiming": times},
                         {"SliceTimingCorrected": True, "StartTime": 0.875})
    assert ref == pytest.approx(0.4375) and "StartTime 0.875 s" in src
    # not corrected: the middle of the slice acquisition
    ref, src = _sidecars(tmp_path, {"SliceTiming": times},
                         {"SliceTimingCorrected": False})
    assert ref == pytest.approx(0.4375) and "SliceTimingCorrected false" in src
    # no fMRIPrep sidecar: fMRIPrep's default reference, first + 0.5 (last - first)
    ref, src = _sidecars(tmp_path / "", {"SliceTiming": times}, None)
    assert ref == pytest.approx(0.4375) and "SliceTiming" in src
    # nothing at all: the middle of the TR
    for p in tmp_path.glob("*_bold.json"):
        p.unlink()
    ref, src = _sidecars(tmp_path)
    assert ref == 0.5 and src.startswith("default: middle")
    # a sidecar saying the scans are at the start of the TR
    ref, _ = _sidecars(tmp_path, None, {"SliceTimingCorrected": True, "StartTime": 0.0})
    assert ref == 0.0


def test_slice_time_reference_errors(tmp_path):
    with pytest.raises(DataError,
                       match=r"has StartTime 3 s, outside the TR \[0, 2\] s"):
        _sidecars(tmp_path, None, {"StartTime": 3.0})
    with pytest.raises(DataError, match=r"has SliceTiming in \[0, 2.5\] s, outside"):
        _sidecars(tmp_path, {"SliceTiming": [0.0, 2.5]}, None)
    with pytest.raises(DataError,
                       match="sidecars disagree on the slice-timing reference"):
        _sidecars(tmp_path, None, {"StartTime": 0.0}, {"StartTime": 1.0})


def test_load_bold_records_the_slice_time_reference(tiny):
    bold = load_bold(tiny.bids_root, "01")
    run = bold.provenance["runs"]["task-listen_run-1"]
    # the realistic simulator: 32 interleaved slices corrected to the middle
    assert run["slice_time_ref"] == pytest.approx(0.969 / 2.0)
    assert "StartTime 0.969 s" in run["slice_time_source"]


def test_slice_time_reference_real_sidecars(shared_data):
    from brainscore_speech.data.bold import slice_time_reference

    # LPP (ds003643): 34 multiband slice times in [0, 1.9225] s at TR 2 s; fMRIPrep
    # corrects to first + 0.5 (last - first) = 0.961 s (rounded to ms as fMRIPrep)
    raw = (shared_data / "lpp" / "openneuro_ds003643_sidecars" / "sub-FR001" / "func" /
           "sub-FR001_task-lppFR_run-01_echo-1_bold.json")
    ref, src = slice_time_reference(raw, [], 2.0)
    assert ref == pytest.approx(0.961 / 2.0) and "0.961 s" in src
