"""The fast solver of score_layers: equal to the exact path, cheaper, same contracts."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import brainscore_speech.encoding._fastcv as fastcv
import brainscore_speech.encoding.scoring as scoring
from brainscore_speech.encoding import group_splits, run_splits, score_layers
from brainscore_speech.encoding._fastcv import _atoms, estimate_job
from brainscore_speech.encoding.ridge import _Ops
from brainscore_speech.exceptions import BrainscoreWarning

from .test_scoring import _planted_study

ALPHAS = np.logspace(-1, 8, 10)


def _score(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrainscoreWarning)
        return score_layers(*args, **kwargs)


@pytest.fixture(scope="module")
def study():
    return _planted_study(n_scans=120, n_vertices=200)


def _assert_same(a, b, rtol=1e-6, atol=1e-7):
    np.testing.assert_array_equal(a.best_alphas, b.best_alphas)
    np.testing.assert_allclose(a.scores, b.scores, rtol=rtol, atol=atol)
    # the inner-CV validation R^2 the layer selection uses (NaN alike)
    np.testing.assert_allclose(a.inner_scores, b.inner_scores, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("solver", [None, "fast-local"])
@pytest.mark.parametrize("cv_kwargs", [{}, {"cv": 2}, {"inner_cv": 2}])
def test_fast_equals_exact_in_float64(study, cv_kwargs, solver):
    # same model: identical alphas on every target, layer and fold (the
    # default, fast, and the local search, whose error curves here have one
    # minimum each)
    layers, Y, runs, _, _ = study
    kw = {} if solver is None else {"solver": solver}
    fast = _score(layers, Y, runs, dtype="float64", **kw, **cv_kwargs)
    exact = _score(layers, Y, runs, dtype="float64", solver="exact", **cv_kwargs)
    assert fast.cv["solver"] == (solver or "fast")
    assert exact.cv["solver"] == "exact"
    _assert_same(fast, exact)


def test_fast_equals_exact_with_interleaved_runs_and_blocks(study, monkeypatch):
    # rows of a run need not be contiguous; a tiny memory budget forces several
    # blocks of targets (the decompositions are then redone per block)
    layers, Y, runs, _, _ = study
    perm = np.random.default_rng(0).permutation(len(runs))
    sub = {k: v[perm] for k, v in list(layers.items())[:2]}
    exact = _score(sub, Y[perm], runs[perm], dtype="float64", solver="exact")
    monkeypatch.setattr(fastcv, "CROSS_BUDGET_BYTES", 16 * 4 * 8 * 50)
    fast = _score(sub, Y[perm], runs[perm], dtype="float64")
    _assert_same(fast, exact)


def test_fast_single_run_blocks_and_constant_columns(study):
    layers, Y, _, _, _ = study
    X = layers["stage2"][:300].copy()
    X[:, 3] = 2.5  # a constant feature
    Y = Y[:300, :40].copy()
    Y[:, 0] = 1.0  # a constant target
    runs = np.zeros(300, dtype=int)
    exact = _score({"s": X}, Y, runs, cv=3, dtype="float64", solver="exact")
    fast = _score({"s": X}, Y, runs, cv=3, dtype="float64")
    assert np.all(np.isnan(fast.scores[0, :, 0]))
    assert np.all(np.isnan(fast.best_alphas[0, :, 0]))
    np.testing.assert_array_equal(np.isnan(fast.best_alphas),
                                  np.isnan(exact.best_alphas))
    _assert_same(fast, exact)


def test_fast_float32_matches_the_float64_choice(study):
    # the fast criterion drops the alpha-independent |y|^2 term, so float32
    # rounding does not break near-ties on flat error curves: it picks the
    # float64 alphas at least as often as the exact float32 path does
    layers, Y, runs, _, _ = study
    ref = _score(layers, Y, runs, dtype="float64", solver="exact")
    fast = _score(layers, Y, runs)
    exact32 = _score(layers, Y, runs, solver="exact")
    agree_fast = np.mean(fast.best_alphas == ref.best_alphas)
    assert agree_fast >= 0.999
    assert agree_fast >= np.mean(exact32.best_alphas == ref.best_alphas)
    same = fast.best_alphas == exact32.best_alphas
    np.testing.assert_allclose(fast.scores[same], exact32.scores[same], atol=1e-5)


def test_local_search_evaluates_few_alphas(study):
    layers, Y, runs, _, _ = study
    full = _score(layers, Y, runs, solver="fast")
    assert full.cv["cost"]["alphas_evaluated_per_target_fold"] == 10
    out = _score(layers, Y, runs, solver="fast-local")
    assert out.cv["solver"] == "fast-local"
    cost = out.cv["cost"]
    assert 2 <= cost["alphas_evaluated_per_target_fold"] <= 6  # of 10
    # here every error curve has one minimum: the same alphas as the full grid
    _assert_same(out, full)
    # one decomposition per outer fold and per inner fold of each layer
    assert cost["eighs"] == len(layers) * 4 * (1 + 3)


def test_local_search_finds_the_grid_minimum_from_any_start(rng):
    # a curve with one minimum over the grid: any warm start walks to it
    n, t = 240, 50
    X = rng.standard_normal((n, 6))
    Y = X @ rng.standard_normal((6, t)) * np.logspace(-2, 0.5, t) + \
        rng.standard_normal((n, t))
    runs = np.repeat(np.arange(4), 60)
    splits = run_splits(runs)
    inner = [group_splits(runs[tr]) for tr, _ in splits]
    ops = _Ops(dtype="float64")
    cv = fastcv.SharedCV(Y, splits, inner, ALPHAS, ops, local=True)
    cold_scores, cold, _ = cv.score_layer(X)
    for start in (0, 5, 9):
        scores, best, _ = cv.score_layer(X, warm=np.full((4, t), start))
        np.testing.assert_array_equal(best, cold)
        np.testing.assert_allclose(scores, cold_scores, rtol=1e-12)
    exact = _score({"x": X}, Y, runs, dtype="float64", solver="exact")
    np.testing.assert_array_equal(ALPHAS[cold], exact.best_alphas[0])


def test_atoms_of_leave_one_run_out_are_the_runs():
    runs = np.repeat(np.arange(5), [3, 4, 2, 5, 3])
    splits = run_splits(runs)
    sets = []
    for train, test in splits:
        sets += [train, test]
        sets += [train[v] for _, v in group_splits(runs[train])]
    labels, rows = _atoms(sets, len(runs))
    assert len(rows) == 5
    for r in range(5):
        assert len(set(labels[runs == r])) == 1
    assert sorted(len(x) for x in rows) == [2, 3, 3, 4, 5]


def test_on_layer_progress_and_estimate(study, monkeypatch, caplog):
    layers, Y, runs, _, _ = study
    seen, bars = [], []
    real_progress = scoring.progress

    def spy(iterable, **kwargs):
        bars.append(kwargs)
        return real_progress(iterable, **kwargs)

    monkeypatch.setattr(scoring, "progress", spy)
    sub = {k: layers[k] for k in ("stage1", "stage3")}
    with caplog.at_level(logging.INFO, logger="brainscore_speech"):
        out = _score(sub, Y[:, :30], runs, on_layer=lambda n, s: seen.append((n, s)),
                     verbose="INFO")
    assert [n for n, _ in seen] == ["stage1", "stage3"]
    for i, (_, s) in enumerate(seen):
        assert s.layer_names == (("stage1", "stage3")[i],)
        np.testing.assert_array_equal(s.scores[0], out.scores[i])
    assert len(bars) == 1 and bars[0]["total"] == 2 * 4  # one bar: layers x folds
    text = caplog.text
    assert "estimated" in text and "GMAC/s" in text
    assert "Layer stage1 (1/2):" in text and "Layer stage3 (2/2):" in text


def test_estimate_job_fast_is_cheaper_at_lpp_size():
    runs = np.repeat(np.arange(9), 313)
    splits = run_splits(runs)
    inner = [group_splits(runs[tr]) for tr, _ in splits]
    kw = dict(n_samples=len(runs), n_features=[768] * 20, n_targets=20484,
              splits=splits, inner=inner, n_alphas=10, ops=_Ops())
    fast, exact = estimate_job(solver="fast", **kw), estimate_job(solver="exact", **kw)
    local = estimate_job(solver="fast-local", **kw)
    assert fast["gemm_gmac_per_s"] > 0 and fast["eigh_s"] > 0
    assert 0.6 < fast["gmac"] / exact["gmac"] < 0.8
    assert 0.25 < local["gmac"] / exact["gmac"] < 0.4
    assert fast["eighs"] == exact["eighs"] == 20 * 9 * 9
    assert 0.5 < fast["peak_gb"] < 2.0
    assert fast["seconds"] < exact["seconds"]
    assert fast["bf16_gmac"] == 0 and fast["bf16_gmac_per_s"] is None
    # a bfloat16 search: the same products, of which the grid in bfloat16 and
    # two alphas per target and fold again in float32
    low = estimate_job(solver="fast", search_dtype="bfloat16", **kw)
    val = sum(len(v) for ins in inner for _, v in ins) * 768 * 20484 * 20 / 1e9
    np.testing.assert_allclose(low["bf16_gmac"], 10 * val, rtol=1e-9)
    np.testing.assert_allclose(low["gmac"] - fast["gmac"], 2 * val, rtol=1e-9)
    assert low["bf16_gmac_per_s"] > 0
    assert estimate_job(solver="exact", search_dtype="bfloat16", **kw)["bf16_gmac"] == 0


def test_bench_encoding_quick_writes_json_into_a_folder(tmp_path):
    """The benchmark as a user runs it: ``--output`` a folder gets its JSON file."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_encoding.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--methods", "fast", "exact",
         "--layers", "2", "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads((tmp_path / "bench_encoding.json").read_text())
    rows = out["sizes"]["quick"]["repeats"][0]
    # the fast solver agrees with the exact float32 path (alphas and r)
    assert rows["fast"]["vs_exact"]["alpha_agreement"] >= 0.995
    assert rows["fast"]["vs_exact"]["max_abs_delta_r"] <= 1e-3
    assert rows["fast"]["gemm_floor_s"] > 0
    assert out["cpu"]["model"] and isinstance(out["cpu"]["flags"], list)


def test_bench_cpu_description_reads_model_and_isa_flags(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        from bench_encoding import cpu_description
    finally:
        sys.path.pop(0)
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Intel Xeon Test\n"
                    "flags\t\t: fpu avx2 fma avx512f amx_bf16 sse\n")
    assert cpu_description(str(info)) == {
        "model": "Intel Xeon Test", "flags": ["avx2", "fma", "avx512f", "amx_bf16"]}
    assert cpu_description(str(tmp_path / "missing"))["flags"] == []


def test_several_minima_flags_curves_with_more_than_one_local_minimum():
    curves = np.array([
        [5.0, 5.0, 1.0, 5.0, 6.0],  # one minimum
        [4.0, 3.0, 2.0, 1.0, 0.0],  # at the last alpha
        [1.0, 3.0, 4.0, 2.0, 3.0],  # two
        [3.0, 2.0, 2.0, 5.0, 5.0],  # a plateau is one; so is a flat end (ties)
    ]).T
    np.testing.assert_array_equal(fastcv._several_minima(curves),
                                  [False, False, True, True])


def test_runs_and_cols_keep_the_order_of_permuted_indices():
    assert fastcv._runs(np.array([1, 1, 0, 1, 0, 1, 1, 1], bool)) == [(0, 2), (3, 4),
                                                                      (5, 8)]
    assert fastcv._runs(np.zeros(3, bool)) == []
    assert fastcv._cols(np.array([2, 3, 4])) == slice(2, 5)
    # consecutive values out of order are a gather, not a slice
    np.testing.assert_array_equal(fastcv._cols(np.array([3, 2, 4])), [3, 2, 4])


def test_parallel_eighs_match_serial(rng):
    mats = []
    for _ in range(3):
        x = rng.standard_normal((80, 30))
        mats.append(x.T @ x)
    serial = fastcv._eighs(mats, 1)
    pooled = fastcv._eighs(mats, 2)
    for g, (lam, _), (lam2, q2) in zip(mats, serial, pooled):
        np.testing.assert_allclose(lam2, lam, rtol=1e-10)
        np.testing.assert_allclose((q2 * lam2) @ q2.T, g, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------- bfloat16 search

def test_bf16_isa_reads_cpu_flags_and_the_onednn_cap(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    for flags, isa in (("avx2 fma avx512f avx512_bf16", "avx512_bf16"),
                       ("avx2 avx512_bf16 amx_tile amx_bf16", "amx"),
                       ("avx2 fma avx512f", None)):
        info.write_text(f"processor\t: 0\nflags\t\t: fpu {flags}\n")
        assert fastcv.bf16_isa(str(info)) == isa
    assert fastcv.bf16_isa(str(tmp_path / "missing")) is None
    info.write_text("flags\t\t: avx512_bf16 amx_bf16\n")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # oneDNN capped below bf16
    assert fastcv.bf16_isa(str(info)) is None
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert fastcv.bf16_isa(str(info)) == "avx512_bf16"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert fastcv.bf16_isa(str(info)) == "amx"


@pytest.mark.parametrize("isa", ["amx", "avx512_bf16", None])
def test_search_dtype_auto_follows_the_cpu(study, monkeypatch, isa):
    layers, Y, runs, _, _ = study
    monkeypatch.setattr(scoring, "bf16_isa", lambda: isa)
    native = isa == "amx"  # AVX512-BF16 alone measured not worth it
    sub = {"stage2": layers["stage2"]}
    d = sub["stage2"].shape[1]
    # narrow layers: float32 (bfloat16 does not pay below ~512 features)
    assert _score(sub, Y[:, :20], runs).cv["search_dtype"] == "float32"
    monkeypatch.setattr(scoring, "AUTO_BF16_MIN_FEATURES", d)
    out = _score(sub, Y[:, :20], runs)
    assert out.cv["search_dtype"] == ("bfloat16" if native else "float32")
    # the products then run in torch (no OpenBLAS threads between its calls)
    assert out.provenance["params"]["backend"] == ("torch" if native else "numpy")
    assert out.provenance["params"]["search_dtype"] == "auto"
    # never for the exact path, the local search, float64 or an explicit choice
    assert _score(sub, Y[:, :20], runs, solver="exact").cv["search_dtype"] == "float32"
    local = _score(sub, Y[:, :20], runs, solver="fast-local")
    assert local.cv["search_dtype"] == "float32"
    assert _score(sub, Y[:, :20], runs, dtype="float64").cv["search_dtype"] == "float64"
    out = _score(sub, Y[:, :20], runs, search_dtype="float32")
    assert out.cv["search_dtype"] == "float32"
    assert out.provenance["params"]["backend"] == "numpy"


def _noise_study(seed=5, n_runs=5, n_scans=100, n_targets=1500):
    """Global null with flat validation curves: smoothed AR(1) noise BOLD and
    20 features unrelated to it (many near-ties between alphas)."""
    rng = np.random.default_rng(seed)
    n = n_runs * n_scans
    e = rng.standard_normal((n, n_targets))
    y = np.empty_like(e)
    y[0] = e[0]
    for i in range(1, n):
        y[i] = 0.5 * y[i - 1] + e[i]
    X = rng.standard_normal((n, 20))
    return {"x": X}, y.astype(np.float32), np.repeat(np.arange(n_runs), n_scans)


def test_bfloat16_search_refines_to_the_float32_choice(monkeypatch):
    layers, Y, runs = _noise_study()
    f32 = _score(layers, Y, runs, search_dtype="float32")
    bf = _score(layers, Y, runs, search_dtype="bfloat16")
    assert bf.cv["search_dtype"] == "bfloat16"
    cost = bf.cv["cost"]
    assert cost["alphas_evaluated_per_target_fold"] == 10
    assert 2 <= cost["alphas_refined_per_target_fold"] < 3
    same = bf.best_alphas == f32.best_alphas
    assert same.mean() >= 0.999, same.mean()
    # where the alphas agree the scores and the inner R^2 are the float32 ones
    # (the refit and the refined validation errors are float32)
    np.testing.assert_allclose(bf.scores[same], f32.scores[same], atol=2e-6)
    np.testing.assert_allclose(bf.inner_scores[same], f32.inner_scores[same],
                               rtol=1e-4, atol=1e-6)
    # the bfloat16 argmin alone (no float32 refinement) flips many near-ties
    monkeypatch.setattr(fastcv.SharedCV, "__init__", _with_refine(0))
    raw = _score(layers, Y, runs, search_dtype="bfloat16")
    assert raw.cv["cost"]["alphas_refined_per_target_fold"] == 0
    raw_same = np.mean(raw.best_alphas == f32.best_alphas)
    assert raw_same < same.mean() and raw_same < 0.999, raw_same


def _with_refine(refine):
    init = fastcv.SharedCV.__init__

    def patched(self, *args, **kwargs):
        kwargs["refine"] = refine
        init(self, *args, **kwargs)
    return patched


def test_bfloat16_search_null_scores_stay_at_chance():
    # global null: the alpha choice is made in bfloat16, the scores are held out
    layers, Y, runs = _noise_study(seed=6, n_targets=600)
    out = _score(layers, Y, runs, search_dtype="bfloat16")
    exact = _score(layers, Y, runs, solver="exact")
    # null SE of one r ~ 1/sqrt(100) = 0.1 (more with AR(1)); of the mean of
    # 5 x 600 ~ 0.003
    assert abs(np.nanmean(out.scores)) < 0.01
    # the tail of the null distribution is the exact path's
    tail, ref = np.mean(out.mean_scores > 0.1), np.mean(exact.mean_scores > 0.1)
    assert abs(tail - ref) <= 0.005, (tail, ref)
