"""The study simulator: layout, formats, determinism and planted structure."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from brainscore_speech.containers import StimulusActivations, read_activation_meta
from brainscore_speech.data.simulate import (
    STAGES,
    compute_stage_features,
    log_spectrogram,
    make_procedural_speech,
    simulate_study,
)
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
    name = ("derivatives/fmriprep/sub-01/func/sub-01_task-listen_run-2_space-"
            "fsaverage5_hemi-R_bold.func.gii")
    x = nib.load(a.bids_root / name).darrays[5].data
    y = nib.load(b.bids_root / name).darrays[5].data
    np.testing.assert_array_equal(x, y)
    ta = np.load(a.truth / "sub-01_truth.npz")
    tb = np.load(b.truth / "sub-01_truth.npz")
    np.testing.assert_array_equal(ta["planted_r"], tb["planted_r"])


def test_simulate_rerun_removes_temps_of_a_killed_run(tmp_path):
    # a process killed inside a write leaves "<stem>.tmp-XXXX<suffix>" beside the
    # final name; the re-run (what a resumed demo does) must leave none behind
    kw = dict(n_subjects=1, n_runs=2, scans_per_run=20, seed=5)
    study = simulate_study(tmp_path / "s", **kw)
    func = study.bids_root / "derivatives/fmriprep/sub-01/func"
    bold = func / "sub-01_task-listen_run-1_space-fsaverage5_hemi-R_bold.func.gii"
    planted = [func / "sub-01_task-listen_run-1_space-fsaverage5_hemi-R_bold.tmp-"
               "2sji7fuy.func.gii", study.truth / "truth.tmp-abcd.json",
               study.activations / "story1.tmp-x1.h5"]
    for p in planted:
        p.write_bytes(b"half-written")
    reference = bold.read_bytes()
    simulate_study(tmp_path / "s", **kw)
    assert not [p for p in planted if p.exists()]
    assert not list((tmp_path / "s").rglob("*.tmp-*"))
    assert bold.read_bytes() == reference


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


# --------------------------------------------------------------------------- #
# The realistic generator: assumptions the analysis does not share (issue 12)
# --------------------------------------------------------------------------- #
def test_inverse_logit_hrf_differs_from_the_analysis_glover():
    from nilearn.glm.first_level import glover_hrf

    from brainscore_speech.data._generative import inverse_logit_hrf

    t = np.arange(0, 32, 0.1)
    h = inverse_logit_hrf(t)
    np.testing.assert_allclose(h.sum(), 1.0, rtol=1e-9)
    assert abs(h[0]) < 0.01 * h.max() and abs(h[-1]) < 0.01 * h.max()
    assert 4.5 <= t[np.argmax(h)] <= 5.5 and h.min() < -0.1 * h.max()  # undershoot
    peaks = [t[np.argmax(inverse_logit_hrf(t, lag_s=lag))] for lag in (-1.5, 0, 1.5)]
    np.testing.assert_allclose(np.diff(peaks), 1.5, atol=0.11)
    assert t[np.argmax(inverse_logit_hrf(t, width=1.13))] > t[np.argmax(h)]
    g = glover_hrf(0.1, 1, time_length=32.0)[: t.size]
    # similar canonical shape, but a shifted vertex is far from Glover
    assert np.corrcoef(h, g)[0, 1] < 0.999
    assert np.corrcoef(inverse_logit_hrf(t, lag_s=1.5), g)[0, 1] < 0.9


def test_smooth_mesh_noise_is_autocorrelated_and_spatially_smooth():
    from nilearn.datasets import load_fsaverage

    from brainscore_speech.data._generative import mesh_adjacency, smooth_mesh_noise

    part = load_fsaverage("fsaverage5")["pial"].parts["left"]
    faces = np.asarray(part.faces)
    adj = mesh_adjacency(faces, np.asarray(part.coordinates).shape[0])
    noise, phi = smooth_mesh_noise(np.random.default_rng(0), 400, [adj])
    assert noise.shape == (400, 10242) and ((phi >= 0.3) & (phi <= 0.5)).all()
    np.testing.assert_allclose(noise.std(0), 1.0, rtol=1e-3)
    z = noise - noise.mean(0)
    lag1 = (z[1:] * z[:-1]).mean(0) / z.var(0)
    # AR(1) 0.3-0.5 mixed over neighbours + 10 % AR(0.9) shared: measured ~0.45
    assert 0.3 < np.median(lag1) < 0.6
    i, j = faces[:, 0], faces[:, 1]
    neighbour = np.mean((z[:, i] * z[:, j]).mean(0))
    far = np.mean((z[:, :500] * z[:, -500:]).mean(0))
    # neighbours strongly correlated (measured ~0.8); far apart: only the shared
    # components (10 % of the variance)
    assert neighbour > 0.5 and abs(far) < 0.15


def test_realistic_study_truth_sidecars_and_jitter(tiny):
    meta = json.loads((tiny.truth / "truth.json").read_text())
    assert meta["generator"] == "realistic" and meta["mode"] == "hierarchy"
    assert meta["generative_model"]["hrf"]["family"].startswith("inverse logit")
    assert set(meta["maps"]) >= {"brain_score", "hierarchy", "regime_contrast",
                                 "cluster"}
    truth = np.load(tiny.truth / "sub-01_truth.npz")
    driven = truth["driven"]
    assert driven.sum() > 1000 and not truth["contrast"].any()
    lag = truth["hrf_lag_s"]
    assert lag.std() > 0.3 and np.abs(lag).max() <= 1.5
    assert set(np.unique(truth["hrf_width"])) == {np.float32(0.88), np.float32(1.0),
                                                  np.float32(1.13)}
    for key in ("stage", "driven", "contrast"):
        for hemi in "LR":
            img = nib.load(tiny.truth / f"truth_hemi-{hemi}_desc-{key}.func.gii")
            assert img.darrays[0].data.shape == (10242,)
    np.testing.assert_array_equal(
        nib.load(tiny.truth / "truth_hemi-R_desc-stage.func.gii").darrays[0].data,
        truth["stage"][10242:])
    func = tiny.bids_root / "sub-01" / "func"
    raw = json.loads((func / "sub-01_task-listen_run-1_bold.json").read_text())
    assert len(raw["SliceTiming"]) == 32 and max(raw["SliceTiming"]) < 2.0
    dfunc = tiny.bids_root / "derivatives" / "fmriprep" / "sub-01" / "func"
    side = json.loads((dfunc / "sub-01_task-listen_run-1_space-fsaverage5_hemi-L_"
                               "bold.json").read_text())
    assert side["SliceTimingCorrected"] is True and side["StartTime"] == 0.969


def test_contrast_mode_writes_a_partial_model_and_a_contrast_region(tmp_path):
    st = simulate_study(tmp_path / "c", n_subjects=1, n_runs=2, scans_per_run=20,
                        seed=1, mode="contrast")
    truth = np.load(st.truth / "sub-01_truth.npz")
    contrast, stage = truth["contrast"], truth["stage"]
    assert contrast.sum() > 200 and (stage[contrast] >= 0).all()
    assert not contrast[10242:].any()  # left hemisphere only
    full = StimulusActivations.load(st.activations / "story01.h5")
    part = StimulusActivations.load(st.root / "activations" / "partial" / "story01.h5")
    assert part.model_id == "partial" and part.layer_order == full.layer_order
    for name in full.layer_order:
        a, b = full.layers[name], part.layers[name]
        np.testing.assert_array_equal(a[:, :8], b[:, :8])
        n = a.shape[0]
        np.testing.assert_array_equal(np.roll(a[:, 8:], int(n * 0.5) - int(n * 0.25),
                                              axis=0), b[:, 8:])
    maps = json.loads((st.truth / "truth.json").read_text())["maps"]
    assert "'contrast'" in maps["regime_contrast"]


def test_legacy_generator_still_reachable(tmp_path):
    st = simulate_study(tmp_path / "l", n_subjects=1, n_runs=2, scans_per_run=20,
                        seed=1, generator="legacy")
    func = st.bids_root / "sub-01" / "func"
    assert "SliceTiming" not in json.loads(
        (func / "sub-01_task-listen_run-1_bold.json").read_text())
    dfunc = st.bids_root / "derivatives" / "fmriprep" / "sub-01" / "func"
    side = json.loads((dfunc / "sub-01_task-listen_run-1_space-fsaverage5_hemi-L_"
                               "bold.json").read_text())
    assert side["StartTime"] == 0.0  # legacy samples at the start of each TR
    meta = json.loads((st.truth / "truth.json").read_text())
    assert meta["generator"] == "legacy"
    assert meta["generative_model"]["hrf"].startswith("Glover")


def test_simulate_generator_errors(tmp_path):
    with pytest.raises(ValueError, match=r"'generator' must be one of \['legacy', "
                                         r"'realistic'\], got 'glover'"):
        simulate_study(tmp_path, generator="glover")
    with pytest.raises(ValueError, match=r"'mode' must be one of \['hierarchy', "
                                         r"'null', 'contrast'\], got 'nul'"):
        simulate_study(tmp_path, mode="nul")
    with pytest.raises(ValueError, match="mode='null' and story_locked need "
                                         "generator='realistic'"):
        simulate_study(tmp_path, generator="legacy", mode="null")
    with pytest.raises(ValueError,
                       match="mode='contrast' plants the 'stages' features"):
        simulate_study(tmp_path, mode="contrast", from_model=tmp_path)
    with pytest.raises(ValueError,
                       match=r"'story_locked' must be in \[0, 1\), got 1.0"):
        simulate_study(tmp_path, story_locked=1.0)
    with pytest.raises(ValueError, match="'repeat_story' replays run 1's story in "
                                         "run 3: both need the same 'scans_per_run', "
                                         "got 30 and 40"):
        simulate_study(tmp_path, n_runs=3, scans_per_run=[30, 30, 40],
                       repeat_story=True)


def test_cli_simulate_null_with_a_repeated_story(tmp_path):
    code, out, err = run_cli(["simulate", tmp_path / "n", "--subjects", 1, "--runs", 3,
                              "--scans-per-run", 20, "--mode", "null",
                              "--repeat-story"])
    assert code == 0, err
    truth = np.load(tmp_path / "n" / "truth" / "sub-01_truth.npz")
    assert (truth["stage"] == -1).all() and (truth["planted_r"] == 0).all()
    meta = json.loads((tmp_path / "n" / "truth" / "truth.json").read_text())
    assert meta["run_stimuli"] == ["story01", "story02", "story01"]
    assert all(v.startswith("nothing") for v in meta["maps"].values())
    events = (tmp_path / "n" / "bids" / "sub-01" / "func" /
              "sub-01_task-listen_run-3_events.tsv").read_text()
    assert "story01.wav" in events
    assert sorted(p.name for p in (tmp_path / "n" / "bids" / "stimuli").iterdir()) == \
        ["story01.wav", "story02.wav"]
    code, _, err = run_cli(["simulate", tmp_path / "x", "--generator", "legacy",
                            "--mode", "contrast"])
    assert code == 1 and "need generator='realistic'" in err
