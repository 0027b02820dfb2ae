"""Tests of brainscore_speech.align.hrf (HRF convolution and scan sampling)."""

from __future__ import annotations

import numpy as np
import pytest
from nilearn.glm.first_level import compute_regressor, glover_hrf, spm_hrf

from brainscore_speech.align import hrf_kernels, hrf_regressors, run_regressors


def _padded(kernel, n):
    out = np.zeros(n)
    out[:min(n, len(kernel))] = kernel[:n]
    return out


def _features(rng, n=4000, d=5, fs=50.0):
    feats = rng.standard_normal((n, d)).cumsum(0)
    times = (np.arange(n) + 0.5) / fs
    return feats, times


@pytest.mark.parametrize("model", ["glover", "spm", "glover + derivative"])
@pytest.mark.parametrize(("onset", "slice_ref"), [(0.0, 0.0), (3.0, 0.5)])
def test_hrf_regressors_matches_nilearn_compute_regressor(rng, model, onset, slice_ref):
    fs, tr, n_scans = 50.0, 2.0, 60
    feats, times = _features(rng, fs=fs)
    reg = hrf_regressors(feats, times, n_scans, tr, hrf_model=model, onset_s=onset,
                         slice_time_ref=slice_ref)
    scaled = (feats - feats.min(0)) / (feats.max(0) - feats.min(0))
    scan_times = (np.arange(n_scans) + slice_ref) * tr
    n_kernels = reg.shape[1] // feats.shape[1]
    assert reg.dtype == np.float32 and reg.shape == (n_scans, 5 * n_kernels)
    for j in range(feats.shape[1]):
        cond = np.vstack([times - 0.5 / fs + onset, np.full(len(times), 1 / fs),
                          scaled[:, j]])
        ref, _ = compute_regressor(cond, model, scan_times, oversampling=50)
        for k in range(n_kernels):
            r = np.corrcoef(reg[:, k * 5 + j], ref[:, k])[0, 1]
            assert r > 0.999, (model, j, k, r)  # acceptance threshold of issue 3


@pytest.mark.parametrize(("model", "kernel"), [("glover", glover_hrf), ("spm",
                                                                        spm_hrf)])
def test_hrf_regressors_impulse_equals_kernel(model, kernel):
    tr, n = 1.5, 40
    feats = np.zeros((n, 1))
    feats[0] = 1.0
    reg = hrf_regressors(feats, np.arange(n) * tr, n, tr, hrf_model=model, scaling=None)
    expected = _padded(kernel(tr, 1), n)
    np.testing.assert_allclose(reg[:, 0], expected, rtol=1e-5, atol=1e-7)


def test_hrf_regressors_impulse_is_delayed_by_onset():
    tr, n = 2.0, 30
    feats = np.zeros((n, 1))
    feats[0] = 1.0
    reg = hrf_regressors(feats, np.arange(n) * tr, n, tr, scaling=None, onset_s=3 * tr)
    np.testing.assert_allclose(reg[:3, 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(reg[3:, 0], _padded(glover_hrf(tr, 1), n - 3), rtol=1e-5,
                               atol=1e-7)


def test_hrf_regressors_sustained_input_plateaus_at_amplitude():
    # nilearn kernels sum to 1: a long boxcar of amplitude 1 gives a plateau of 1
    fs, n = 20.0, 20 * 120
    feats = np.ones((n, 1))
    reg = hrf_regressors(feats, np.arange(n) / fs, 60, 2.0, scaling=None)
    np.testing.assert_allclose(reg[30:55, 0], 1.0, rtol=2e-3)


def test_hrf_regressors_no_wraparound_or_leakage_before_audio(rng):
    fs, tr, n_scans = 50.0, 2.0, 100
    n = int(60 * fs)  # 60 s of audio, then silence; audio starts at 20 s
    feats = np.zeros((n, 2))
    feats[-50:] = 1.0  # energy only in the last second of the audio
    reg = hrf_regressors(feats, np.arange(n) / fs, n_scans, tr, scaling=None,
                         onset_s=20.0)
    # nothing before the energy (no circular wrap of the FFT), HRF tail after it
    np.testing.assert_allclose(reg[:40], 0.0, atol=1e-6)
    assert reg[44:50].max() > 0.01


def test_hrf_regressors_pools_fast_layers():
    # 400 Hz frames constant over blocks of 4 equal 100 Hz frames after pooling
    rng = np.random.default_rng(0)
    slow = rng.standard_normal((3000, 3))
    t_slow = (np.arange(3000) + 0.5) / 100.0
    fast = np.repeat(slow, 4, axis=0)
    t_fast = (np.arange(12000) + 0.5) / 400.0
    a = hrf_regressors(slow, t_slow, 15, 2.0)
    b = hrf_regressors(fast, t_fast, 15, 2.0, max_rate_hz=100.0)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_hrf_regressors_irregular_times_are_interpolated():
    fs = 20.0
    t = np.arange(2000) / fs
    feats = np.stack([np.sin(2 * np.pi * 0.05 * t), t / t.max()], axis=1)
    regular = hrf_regressors(feats, t, 40, 2.0, scaling=None)
    keep = np.sort(np.r_[0, 1999, np.random.default_rng(1).choice(
        np.arange(1, 1999), 1500, replace=False)])
    irregular = hrf_regressors(feats[keep], t[keep], 40, 2.0, scaling=None)
    np.testing.assert_allclose(irregular, regular, rtol=0, atol=2e-3)


def test_hrf_regressors_fir_delays_shift_by_whole_scans():
    tr, n = 2.0, 20
    feats = np.zeros((n, 2))
    feats[2, 0] = 1.0
    feats[5, 1] = 1.0
    reg = hrf_regressors(feats, np.arange(n) * tr, n, tr, hrf_model="fir",
                         fir_delays=[0, 1, 3], scaling=None)
    assert reg.shape == (n, 6)
    for k, delay in enumerate([0, 1, 3]):
        expected = np.zeros((n, 2))
        expected[2 + delay, 0] = 1.0
        expected[5 + delay, 1] = 1.0
        np.testing.assert_allclose(reg[:, 2 * k:2 * k + 2], expected, atol=1e-7)


def test_hrf_regressors_scalings(rng):
    feats, times = _features(rng, n=1000)
    zs = hrf_regressors(feats, times, 12, 2.0, scaling="zscore", max_rate_hz=None)
    mm = hrf_regressors(feats, times, 12, 2.0, scaling="minmax", max_rate_hz=None)
    mm_ref = (feats - feats.min(0)) / (feats.max(0) - feats.min(0))
    zs_ref = (feats - feats.mean(0)) / feats.std(0)
    for out, ref in ((zs, zs_ref), (mm, mm_ref)):
        expected = hrf_regressors(ref, times, 12, 2.0, scaling=None, max_rate_hz=None)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    const = hrf_regressors(np.ones((100, 1)), np.arange(100) / 10, 5, 2.0)
    np.testing.assert_allclose(const, 0.0, atol=1e-12)  # constant dims -> 0


def test_hrf_regressors_callable_kernel():
    tr, n = 2.0, 30
    feats = np.zeros((n, 1))
    feats[0] = 1.0
    b = hrf_regressors(feats, np.arange(n) * tr, n, tr, scaling=None,
                       hrf_model=lambda t_r, ovs: glover_hrf(t_r, ovs))
    np.testing.assert_allclose(b[:, 0], _padded(glover_hrf(tr, 1), n), rtol=1e-5,
                               atol=1e-7)


def test_hrf_regressors_oversampling_helps_slow_features(rng):
    # frames at 0.5 Hz are 2-s boxcars: holding them at a finer grid matches
    # nilearn's compute_regressor better than one kernel tap per frame
    tr, n = 2.0, 150
    feats = rng.standard_normal((n, 1))
    times = (np.arange(n) + 0.5) * tr
    cond = np.vstack([times - tr / 2, np.full(n, tr), feats[:, 0]])
    ref, _ = compute_regressor(cond, "glover", np.arange(n) * tr, oversampling=50)
    r = [np.corrcoef(hrf_regressors(feats, times, n, tr, scaling=None,
                                    oversampling=o)[:, 0], ref[:, 0])[0, 1]
         for o in (1, 20)]
    assert r[1] > 0.999 and r[1] > r[0]


def test_hrf_kernels_sum_to_one():
    for model in ("glover", "spm"):
        (k,) = hrf_kernels(model, 0.02)
        np.testing.assert_allclose(k.sum(), 1.0, rtol=1e-6)
    assert len(hrf_kernels("glover + derivative + dispersion", 0.1)) == 3


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"features": np.zeros(5)}, r"'features' must be a 2-D array \(n_frames, "
                                r"n_units\), got shape \(5,\)"),
    ({"features": np.zeros((0, 3)), "frame_times_s": np.zeros(0)}, r"'features' is "
                                                                   r"empty"),
    ({"features": np.full((4, 2), np.nan)}, r"'features' contains 8 non-finite"),
    ({"frame_times_s": np.arange(3.0)}, r"'frame_times_s' must have shape "
                                        r"\(n_frames,\) = \(4,\)"),
    ({"frame_times_s": np.array([0.0, 1.0, 1.0, 2.0])},
     r"strictly increasing; frame 2"),
    ({"n_scans": 0}, r"'n_scans' must be a positive integer, got 0"),
    ({"tr_s": -1.0}, r"'tr_s' must be > 0 seconds, got -1.0"),
    ({"hrf_model": "glovr"}, r"'hrf_model' must be one of .* Did you mean 'glover'\?"),
    ({"scaling": "robust"}, r"'scaling' must be one of"),
    ({"hrf_model": "fir"}, r"hrf_model='fir' needs 'fir_delays'"),
    ({"hrf_model": "fir", "fir_delays": [1.5]}, r"'fir_delays' must be non-negative "
                                                r"integers"),
    ({"fir_delays": [1]}, r"'fir_delays' is only used with hrf_model='fir'"),
    ({"max_rate_hz": 0}, r"'max_rate_hz' must be > 0 Hz or None"),
    ({"oversampling": 0}, r"'oversampling' must be an integer >= 1"),
])
def test_hrf_regressors_errors(kwargs, match):
    args = {"features": np.ones((4, 2)), "frame_times_s": np.arange(4.0),
            "n_scans": 3, "tr_s": 2.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        hrf_regressors(args.pop("features"), args.pop("frame_times_s"),
                       args.pop("n_scans"), args.pop("tr_s"), **args)


def test_run_regressors_equals_per_run_calls(rng):
    runs = {f"run-{i}": _features(rng, n=500 + 100 * i, d=3) for i in range(3)}
    n_scans = {r: 12 for r in runs}
    onsets = {r: float(i) for i, r in enumerate(runs)}
    out = run_regressors(runs, n_scans, 2.0, onsets_s=onsets, hrf_model="spm")
    assert list(out) == list(runs)
    for r, (f, t) in runs.items():
        np.testing.assert_array_equal(
            out[r], hrf_regressors(f, t, 12, 2.0, hrf_model="spm", onset_s=onsets[r]))


def test_run_regressors_errors(rng):
    pair = _features(rng, n=100, d=2)
    with pytest.raises(ValueError, match=r"'runs' is empty"):
        run_regressors({}, {}, 2.0)
    with pytest.raises(ValueError, match=r"Run 'b' is missing from 'n_scans'; "
                                         r"available: \['a'\]"):
        run_regressors({"b": pair}, {"a": 3}, 2.0)
    with pytest.raises(ValueError, match=r"Run 'b' is missing from 'onsets_s'"):
        run_regressors({"b": pair}, {"b": 3}, 2.0, onsets_s={"a": 0.0})
    with pytest.raises(ValueError, match=r"runs\['b'\] must be a \(features, "
                                         r"frame_times_s\) pair"):
        run_regressors({"b": pair[0]}, {"b": 3}, 2.0)
