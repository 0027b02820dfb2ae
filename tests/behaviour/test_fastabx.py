"""Parity with fastabx (bootphon), the reference ABX implementation.

fastabx needs Python >= 3.12 and its own torch, so it runs in another
interpreter: set ``BRAINSCORE_SPEECH_FASTABX_PYTHON`` to a Python where
``import fastabx`` works (e.g. ``python3.12 -m venv /tmp/fx && /tmp/fx/bin/pip
install fastabx``). Without it the parity tests skip.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from brainscore_speech.behaviour import (
    item_features,
    make_triplets,
    read_items,
    score_abx,
)
from brainscore_speech.behaviour.fastabx_backend import (
    fastabx_available,
    fastabx_score,
    fastabx_score_subprocess,
    write_fastabx_inputs,
)

FASTABX_PYTHON = os.environ.get("BRAINSCORE_SPEECH_FASTABX_PYTHON")


def _dataset(tmp_path, rng):
    feats, times, lines = {}, {}, ["#file onset offset #phone prev-phone next-phone "
                                   "speaker"]
    centres = {p: rng.standard_normal(8) for p in "abc"}
    k = 0
    for spk in ("s1", "s2", "s3"):
        for ph in "abc":
            for ctx in ("x", "z"):
                for _ in range(2):
                    n = int(rng.integers(12, 30))
                    name = f"f{k}"
                    k += 1
                    feats[name] = (rng.standard_normal((n, 8)) + 0.7 * centres[ph]
                                   ).astype(np.float32)
                    times[name] = (np.arange(n) * 320 + 200) / 16000
                    # items cut inside the file: frames are sliced by exact time
                    lines.append(f"{name} 0.0500 {0.02 * n - 0.03:.4f} {ph} {ctx} y "
                                 f"{spk}")
    item = tmp_path / "items.item"
    item.write_text("\n".join(lines) + "\n")
    fdir, tdir = write_fastabx_inputs(feats, times, tmp_path / "fx")
    return item, fdir, tdir, feats, times


def test_fastabx_in_process_needs_fastabx(tmp_path):
    if fastabx_available():
        pytest.skip("fastabx is importable here")
    with pytest.raises(ImportError, match="fastabx is not importable in this "
                                          "interpreter"):
        fastabx_score(tmp_path / "a.item", tmp_path, tmp_path)


def test_fastabx_subprocess_reports_failure(tmp_path):
    import shutil

    false = shutil.which("false")
    if false is None:
        pytest.skip("no 'false' executable")
    with pytest.raises(RuntimeError, match=r"fastabx \(.*false\) failed: no output"):
        fastabx_score_subprocess(false, tmp_path / "none.item", tmp_path, tmp_path)


@pytest.mark.skipif(not FASTABX_PYTHON,
                    reason="set BRAINSCORE_SPEECH_FASTABX_PYTHON to a Python with "
                           "fastabx (Python >= 3.12) to run the parity test")
@pytest.mark.parametrize("distance", ["angular", "euclidean"])
def test_abx_error_equals_fastabx(tmp_path, rng, distance):
    item, fdir, tdir, feats, times = _dataset(tmp_path, rng)
    items = read_items(item)
    seqs = item_features(items, lambda f: (feats[f], times[f]))
    trip = make_triplets(items, on="phone", by=["prev-phone", "next-phone"],
                         across="speaker")
    ours = score_abx(seqs, items, trip, on="phone", by=["prev-phone", "next-phone"],
                     across="speaker", distance=distance, normalization="path_len")
    ref = fastabx_score_subprocess(FASTABX_PYTHON, item, fdir, tdir, on="#phone",
                                   by=["prev-phone", "next-phone"],
                                   across=["speaker"], distance=distance)
    assert ref["n_cells"] == len(ours.cells)
    # fastabx works in float32; our float64 error differs by float32 round-off
    np.testing.assert_allclose(ours.error, ref["error"], rtol=1e-6, atol=1e-6)
