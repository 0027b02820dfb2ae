"""The study simulator: layout, formats, determinism and planted structure."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from brainscore_speech.containers import read_activation_meta, StimulusActivations
from brainscore_speech.data.simulate import STAGES, compute_stage_features, \
    log_spectrogram, make_procedural_speech, simulate_study
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    return simulate_study(out, n_subjects=1, n_runs=2, scans_per_run=30, seed=3)


def test_simulate_layout_matches_architecture(tiny):
    bids = tiny.bids_root
    assert (bids / "dataset_description.json").is_file()
    assert (bids / "participants.tsv").read_text().splitlines()[1] == "sub-01\ten"
    for r in (1, 2):
        base = f"sub-01_task-listen_run-{r}"
        assert (bids / "stimuli" / f"story{r:02d}.wav").is_file()
        assert (bids / "sub-01" / "func" / f"{base}_events.tsv").is_file()
        side = json.loads((bids / "sub-01" / "func" / f"{base}_bold.json").read_text())
        assert side["RepetitionTime"] == 2.0
        func = bids / "derivatives" / "fmriprep" / "sub-01" / "func"
        assert (func / f"{base}_desc-confounds_timeseries.tsv").is_file()
        assert (func / f"{base}_desc-confounds_timeseries.json").is_file()
        for hemi in "LR":
            img = nib.load(func / f"{base}_space-fsaverage5_hemi-{hemi}_bold.func.gii")
            assert len(img.darrays) == 30
            assert img.darrays[0].data.shape == (10242,)
    truth = np.load(tiny.truth / "sub-01_truth.npz")
    assert truth["stage"].shape == (20484,)
    assert set(np.unique(truth["stage"])) == {-1, 0, 1, 2, 3}
    assert (truth["planted_r"][truth["stage"] < 0] == 0).all()
    meta = json.loads((tiny.truth / "truth.json").read_text())
    assert meta["layers"] == ["stage1", "stage2", "stage3", "stage4"]
    assert not list(tiny.root.rglob("*.tmp-*"))


def test_simulate_activations_format(tiny):
    path = tiny.activations / "story01.h5"
    meta = read_activation_meta(path)
    assert meta["model_id"] == "stages"
    assert meta["layer_order"] == [s[0] for s in STAGES]
    acts = StimulusActivations.load(path)
    for name, _, hop in STAGES:
        t = acts.frame_times_s[name]
        np.testing.assert_allclose(np.diff(t), hop, rtol=1e-6, atol=1e-9)
        assert acts.layers[name].shape[1] == 16
    assert acts.duration_s == pytest.approx(30 * 2.0 - 8.0)


def test_simulate_gradient_early_stages_near_heschl(tiny):
    truth = np.load(tiny.truth / "sub-01_truth.npz")
    d, st = truth["distance_mm"], truth["stage"]
    means = [d[st == k].mean() for k in range(4)]
    assert np.all(np.diff(means) > 0)  # stage index grows with distance from HG
    # planted r falls with distance (design), so early stages are the strongest
    r = [truth["nominal_r"][st == k].mean() for k in range(4)]
    assert np.all(np.diff(r) < 0)


def test_simulate_is_deterministic(tmp_path):
    a = simulate_study(tmp_path / "a", n_subjects=1, n_runs=2, scans_per_run=20, seed=5)
    b = simulate_study(tmp_path / "b", n_subjects=1, n_runs=2, scans_per_run=20, seed=5)
    name = "derivatives/fmriprep/sub-01/func/sub-01_task-listen_run-2_space-fsaverage5" \
           "_hemi-R_bold.func.gii"
    x = nib.load(a.bids_root / name).darrays[5].data
    y = nib.load(b.bids_root / name).darrays[5].data
    np.testing.assert_array_equal(x, y)
    ta, tb = np.load(a.truth / "sub-01_truth.npz"), np.load(b.truth / "sub-01_truth.npz")
    np.testing.assert_array_equal(ta["planted_r"], tb["planted_r"])


def test_make_procedural_speech_has_syllable_rhythm():
    wav = make_procedural_speech(20.0, random_state=0)
    assert wav.dtype == np.float32 and wav.shape == (320000,)
    assert np.abs(wav).max() <= 1.0
    # amplitude envelope (10 ms frames) peaks in the syllable band 2-8 Hz
    env = np.sqrt(np.mean(wav[: 320000 // 160 * 160].reshape(-1, 160) ** 2, axis=1))
    spec = np.abs(np.fft.rfft(env - env.mean())) ** 2
    freqs = np.fft.rfftfreq(env.size, 0.01)
    band = (freqs >= 2) & (freqs <= 8)
    assert spec[band].mean() > 3 * spec[(freqs > 15)].mean()


def test_stage_features_shapes_and_distinct():
    wav = make_procedural_speech(60.0, random_state=1)
    spec, times = log_spectrogram(wav)
    assert spec.shape[1] == 40 and times.shape == (spec.shape[0],)
    feats, ftimes = compute_stage_features(spec, n_units=8, random_state=0)
    assert list(feats) == [s[0] for s in STAGES]
    for name in feats:
        assert feats[name].shape == (ftimes[name].size, 8)
        assert (feats[name] >= 0).all()
    # temporal integration grows: lag-1 s autocorrelation increases with stage
    ac = []
    for name, _, hop in STAGES:
        x = feats[name] - feats[name].mean(0)
        lag = max(1, int(round(1.0 / hop)))
        ac.append(np.mean([np.corrcoef(x[:-lag, j], x[lag:, j])[0, 1]
                           for j in range(8)]))
    assert ac[-1] > ac[0]


def test_simulate_errors(tmp_path):
    with pytest.raises(ValueError, match=r"'space' must be one of \['fsaverage5'\], "
                                         r"got 'fsaverage6'"):
        simulate_study(tmp_path, space="fsaverage6")
    with pytest.raises(ValueError, match="'n_runs' must be at least 2"):
        simulate_study(tmp_path, n_runs=1)
    with pytest.raises(ValueError, match="'n_subjects' must be a positive integer"):
        simulate_study(tmp_path, n_subjects=0)
    with pytest.raises(ValueError, match="'tr_s' must be positive"):
        simulate_study(tmp_path, tr_s=0)
    with pytest.raises(ValueError, match="'scans_per_run' must be at least 14"):
        simulate_study(tmp_path, scans_per_run=5)
    with pytest.raises(ValueError, match="'scans_per_run' must have 2 entries"):
        simulate_study(tmp_path, n_runs=2, scans_per_run=[30, 30, 30])
    with pytest.raises(ValueError, match="'language' must be one of"):
        simulate_study(tmp_path, language="de")


def test_cli_simulate(tmp_path):
    code, out, err = run_cli(["simulate", tmp_path / "s", "--subjects", 1, "--runs", 2,
                              "--scans-per-run", 20, "--seed", 1])
    assert code == 0, err
    assert "Simulated 1 subjects x 2 runs" in out
    assert (tmp_path / "s" / "truth" / "sub-01_truth.npz").is_file()


def test_cli_simulate_bad_input_exit_2(tmp_path):
    code, _, err = run_cli(["simulate", tmp_path / "s", "--space", "fsaverage6"])
    assert code == 2
    assert "Error: 'space' must be one of ['fsaverage5'], got 'fsaverage6'" in err
    code, _, err = run_cli(["simulate", tmp_path / "s", "--scans-per-run", 3])
    assert code == 2 and "'scans_per_run' must be at least" in err
