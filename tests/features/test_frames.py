"""Frame arithmetic and window plans."""

from __future__ import annotations

import numpy as np
import pytest

from brainscore_speech.features.frames import (
    LayerGeometry,
    Window,
    conv_geometry,
    layer_geometry,
    n_conv_frames,
    plan_windows,
    pool_factor,
)

BASE_KERNEL = (10, 3, 3, 3, 3, 2, 2)
BASE_STRIDE = (5, 2, 2, 2, 2, 2, 2)


def test_conv_geometry_matches_methods_table():
    # METHODS.md §4.2: hops 5..320 samples, receptive fields 10..400 samples
    assert conv_geometry(BASE_KERNEL, BASE_STRIDE) == [
        (5, 10), (10, 20), (20, 40), (40, 80), (80, 160), (160, 240), (320, 400)]


def test_conv_geometry_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="equal length; got 2 kernels and 1 strides"):
        conv_geometry((3, 3), (2,))


@pytest.mark.parametrize("n", [399, 400, 719, 720, 16000, 160000, 160001])
def test_n_conv_frames_equals_geometry_formula(n):
    geo = layer_geometry(BASE_KERNEL, BASE_STRIDE, 2, pool_hz=None)
    counts = n_conv_frames(n, BASE_KERNEL, BASE_STRIDE)
    assert counts == [geo[f"conv{i}"].n_native(n) for i in range(7)]
    assert geo["transf1"].n_native(n) == counts[-1]
    # FINDINGS §1a: 49 frames for 1 s, 499 for 10 s
    if n in (16000, 160000):
        assert counts[-1] == {16000: 49, 160000: 499}[n]


def test_pool_factor_and_rates():
    assert [pool_factor(h, 100.0) for h in (5, 10, 20, 40, 80, 160, 320)] == [
        32, 16, 8, 4, 2, 1, 1]
    assert pool_factor(5, None) == 1
    assert pool_factor(320, 30.0) == 2  # 50 Hz -> 25 Hz (at most 30 Hz)
    with pytest.raises(ValueError, match="'pool_hz' must be positive or None, got 0"):
        pool_factor(5, 0)


def test_frame_times_are_rf_centres_and_pooled_means():
    g = LayerGeometry("conv6", 320, 400)
    np.testing.assert_allclose(g.frame_times_s(3), [200 / 16000, 520 / 16000,
                                                    840 / 16000], rtol=0, atol=1e-12)
    p = LayerGeometry("conv0", 5, 10, pool=32)
    native = (np.arange(64) * 5 + 5) / 16000
    np.testing.assert_allclose(p.frame_times_s(2), native.reshape(2, 32).mean(1),
                               rtol=0, atol=1e-12)
    assert p.rate_hz == 100.0 and p.native_rate_hz == 3200.0
    assert p.n_frames(16000) == 3199 // 32


def _covered(windows, geo, n):
    counts = np.zeros(geo.n_frames(n), int)
    for w in windows:
        j0, j1 = w.group_range(geo)
        counts[j0:j1] += 1
    return counts


@pytest.mark.parametrize("n", [500, 80000, 160000, 160001, 16000 * 23 + 77])
def test_plan_windows_covers_every_frame_without_wrap(n):
    geos = layer_geometry(BASE_KERNEL, BASE_STRIDE, 1, pool_hz=100.0)
    ws = plan_windows(n, window=32000, stride=16000, mode="window", align=320)
    assert all(0 <= w.start < w.stop <= n and w.start % 320 == 0 for w in ws)
    assert all(w.length <= 32000 for w in ws) and ws[-1].stop == n
    for geo in geos.values():
        assert np.all(_covered(ws, geo, n) >= 1)
    causal = plan_windows(n, window=32000, stride=16000, mode="causal", align=320)
    for geo in geos.values():
        assert np.all(_covered(causal, geo, n) == 1)  # each frame from one block
    full = plan_windows(n, window=0, stride=0, mode="full", align=320)
    assert full == [Window(0, n, -1, n)]


def test_plan_windows_rejects_unknown_mode():
    with pytest.raises(ValueError, match="'mode' must be one of"):
        plan_windows(1000, window=100, stride=50, mode="roll", align=320)
