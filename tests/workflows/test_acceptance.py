"""Acceptance of issues 4 and 7 on simulated studies, through the real CLI.

- Planted-stage recovery by ``score`` on the simulator's stage activations
  (3 subjects x 4 runs), GIFTI maps readable by nibabel. Since issue 12 the
  simulator's default generator is ``realistic`` (inverse-logit HRF with jitter,
  smooth AR noise, slice timing: none of the analysis' assumptions); measured
  recovery 94.4%, mean(score - planted r) = -0.043 (what the HRF mismatch
  costs; ``generator="legacy"`` plants with the analysis' own model). The null
  condition and a planted contrast are in ``test_acceptance_null.py``.
- A real ``score`` process killed with SIGKILL after its first layer, resumed,
  and compared with an uninterrupted run; a further run does no fitting.
- ``simulate --from-model`` on a tiny random wav2vec2: layer confusion matrix of
  ``score`` on the model's own (``extract``-ed) activations.
- ``group`` on the stage scores: hierarchy map vs. the planted stages, and the
  ROI-order correlation (real HCP-MMP1 atlas and truth-derived distance bands).

Every number the acceptance notes need is printed (run with ``-s``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from brainscore_speech.containers import HierarchyMap, LayerScores
from tests.conftest import assert_same_score_outputs, run_cli

# Noise vertices legitimately pick the largest alpha; the encoding stage warns.
pytestmark = [pytest.mark.filterwarnings("ignore:.*edge of the grid:UserWarning"),
              pytest.mark.slow]

# Recovery (issue 4) is checked on subjects 01-03, which are exactly the study
# `simulate --subjects 3` writes (stimuli come from the seed, subject k's brain
# from (seed, k)). The group analysis (issue 7) uses all six: with 3 subjects
# no test has power after FDR over 10,242 vertices per hemisphere (the Wilcoxon
# floor is p = 0.25; a t-test with 2 df finds only a handful of vertices, see
# test_group_three_subjects_has_no_power), and Wilcoxon+FDR would need >= 10.
SUBJECTS = ("01", "02", "03")
GROUP_SUBJECTS = ("01", "02", "03", "04", "05", "06")
N_RUNS = 4
SCANS = 100  # the simulator's default run length (200 s at TR 2 s)
N_VERTICES = 10242  # fsaverage5, per hemisphere


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Single-threaded BLAS/torch: on the shared 2-core machine, multithreaded
    OpenBLAS under oversubscription costs ~15x the CPU time of one thread."""
    import torch
    from threadpoolctl import threadpool_limits

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(n)


def _cli_ok(args):
    code, out, err = run_cli(args)
    assert code == 0, f"{args[0]} failed: {err}"
    return out


def _layerscores(deriv: Path, sub: str) -> LayerScores:
    (path,) = sorted((deriv / f"sub-{sub}").glob("*_layerscores.npz"))
    return LayerScores.load(path)


# --------------------------------------------------------------------------- #
# One simulated + scored study shared by the recovery and group tests
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def stage_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("acceptance")
    sim = root / "sim"
    _cli_ok(["simulate", sim, "--subjects", len(GROUP_SUBJECTS), "--runs", N_RUNS,
             "--scans-per-run", SCANS, "--seed", 0])
    deriv = root / "deriv"
    for sub in GROUP_SUBJECTS:
        out = _cli_ok(["score", sim / "bids", "--subject", sub, "--activations",
                       sim / "activations" / "stages", "--out", deriv])
        assert "4 layer(s) fitted" in out
    return sim, deriv


def test_score_recovers_planted_stages_through_cli(stage_study):
    sim, deriv = stage_study
    truth_meta = json.loads((sim / "truth" / "truth.json").read_text())
    assert truth_meta["layers"] == ["stage1", "stage2", "stage3", "stage4"]
    pooled_hits, pooled_err = [], []
    for sub in SUBJECTS:
        truth = np.load(sim / "truth" / f"sub-{sub}_truth.npz")
        stage, planted = truth["stage"], truth["planted_r"]
        ls = _layerscores(deriv, sub)
        assert ls.layer_names == tuple(truth_meta["layers"])
        mean = ls.mean_scores  # (n_layers, n_targets), mean r over the 4 folds
        sel = np.flatnonzero((stage >= 0) & (planted >= 0.2))
        best = np.argmax(mean[:, sel], axis=0)
        hit = best == stage[sel]
        err = mean[stage[sel], sel] - planted[sel]
        per_stage = {f"stage{k + 1}": round(float(hit[stage[sel] == k].mean()), 3)
                     for k in range(4)}
        print(f"\n[acceptance] sub-{sub}: {sel.size} vertices with planted r >= 0.2; "
              f"planted stage recovered on {hit.mean():.1%} {per_stage}; "
              f"mean(score - planted r) = {err.mean():+.4f}, "
              f"mean |score - planted r| = {np.abs(err).mean():.4f}")
        assert hit.mean() >= 0.90, sub
        assert abs(err.mean()) <= 0.05, sub
        # pure-noise vertices score ~0 for every layer
        assert abs(np.nanmean(mean[:, stage < 0])) < 0.01
        pooled_hits.append(hit)
        pooled_err.append(err)
        # the GIFTI maps: one per layer and hemisphere + the hierarchy map
        maps = sorted((deriv / f"sub-{sub}").glob("*.func.gii"))
        assert len(maps) == 2 * (4 + 1)
        for p in maps:
            data = nib.load(p).darrays[0].data
            assert data.shape == (N_VERTICES,), p.name
        hemi_l = nib.load(next(p for p in maps if "hemi-L" in p.name
                               and "layer-stage1" in p.name)).darrays[0].data
        np.testing.assert_allclose(hemi_l, mean[0, :N_VERTICES], rtol=1e-6)
    hits, errs = np.concatenate(pooled_hits), np.concatenate(pooled_err)
    print(f"[acceptance] all subjects: recovered {hits.mean():.1%}, "
          f"mean(score - planted r) = {errs.mean():+.4f}, "
          f"mean |score - planted r| = {np.abs(errs).mean():.4f}")


# --------------------------------------------------------------------------- #
# Group hierarchy map and ROI order (issue 7)
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def group_out(stage_study, tmp_path_factory):
    _, deriv = stage_study
    out = tmp_path_factory.mktemp("group")
    # Wilcoxon + FDR cannot reject with 6 subjects (floor 2/64): t-test.
    _cli_ok(["group", deriv, "--out", out, "--test", "ttest"])
    return out


def _hierarchy(group_dir: Path) -> HierarchyMap:
    return HierarchyMap.load(group_dir / "model-stages_hierarchymap.npz")


def test_group_hierarchy_matches_planted_stages(stage_study, group_out):
    sim, _ = stage_study
    hmap = _hierarchy(group_out)
    assert hmap.n_subjects == len(GROUP_SUBJECTS) and hmap.extra["test"] == "ttest"
    stage = np.load(sim / "truth" / "sub-01_truth.npz")["stage"]
    for sub in GROUP_SUBJECTS[1:]:  # the stage layout is the same for everyone
        np.testing.assert_array_equal(np.load(sim / "truth" /
                                              f"sub-{sub}_truth.npz")["stage"], stage)
    sig = hmap.best_layer >= 0
    match = hmap.best_layer[sig] == stage[sig]
    n_driven = int((stage >= 0).sum())
    driven_sig = sig & (stage >= 0)
    print(f"\n[acceptance] group (ttest, FDR 0.05, {hmap.n_subjects} subjects): "
          f"{sig.sum()} significant "
          f"vertices ({(stage[sig] >= 0).sum()} of {n_driven} driven, "
          f"{(stage[sig] < 0).sum()} pure-noise); hierarchy map matches the planted "
          f"stage on {match.mean():.1%} of significant vertices "
          f"({(hmap.best_layer[driven_sig] == stage[driven_sig]).mean():.1%}"
          f" of significant driven ones)")
    driven = sig & (stage >= 0)
    assert (hmap.best_layer[driven] == stage[driven]).mean() >= 0.90
    # most driven vertices detected (71% measured with 6 subjects after the
    # Bonferroni-over-layers correction of the best-layer selection; 76% on the
    # realistic simulator, issue 12)
    assert sig[stage >= 0].mean() >= 0.6


# The best layer is chosen on the same subject-averaged scores it is tested on; the
# test is corrected for that selection (Bonferroni over layers). Without it ~20% of
# "significant" vertices were noise and the map matched the truth on only ~79%.
def test_group_hierarchy_significance_is_calibrated(stage_study, group_out):
    sim, _ = stage_study
    hmap = _hierarchy(group_out)
    stage = np.load(sim / "truth" / "sub-01_truth.npz")["stage"]
    sig = hmap.best_layer >= 0
    # false discoveries among rejections: 7.3% measured at nominal FDR 0.05 (the
    # simulator's noise vertices share confounds/drifts with the driven ones, and
    # FDR is only controlled in expectation); before the selection correction: ~20%.
    # Realistic simulator (smooth noise, issue 12): 8.5% (187 of 2212).
    assert (stage[sig] < 0).mean() <= 0.10
    assert (hmap.best_layer[sig] == stage[sig]).mean() >= 0.90


def test_group_three_subjects_has_no_power(stage_study, tmp_path):
    # The 3-subject study of the recovery test, through `group --test ttest`:
    # t with 2 df + FDR over 10,242 vertices per hemisphere finds almost nothing
    # (recorded for the acceptance note); what it does find is right.
    import shutil

    sim, deriv = stage_study
    sub3 = tmp_path / "deriv3"
    for sub in SUBJECTS:
        shutil.copytree(deriv / f"sub-{sub}", sub3 / f"sub-{sub}")
    _cli_ok(["group", sub3, "--out", tmp_path / "g3", "--test", "ttest"])
    hmap = _hierarchy(tmp_path / "g3")
    stage = np.load(sim / "truth" / "sub-01_truth.npz")["stage"]
    sig = hmap.best_layer >= 0
    print(f"\n[acceptance] group (ttest, FDR 0.05, 3 subjects): {sig.sum()} "
          f"significant "
          f"of {(stage >= 0).sum()} driven vertices; match "
          f"{(hmap.best_layer[sig] == stage[sig]).mean():.0%}")
    assert hmap.n_subjects == 3
    assert sig.sum() < 0.05 * (stage >= 0).sum()
    assert (hmap.best_layer[sig] == stage[sig]).mean() >= 0.9 if sig.any() else True


def _print_roi(name, corr):
    means = {k: round(v, 2) for k, v in corr["mean_best_layer"].items()}
    print(f"[acceptance] ROI order ({name}): rho = {corr['rho']:+.3f} "
          f"(p = {corr['p_value']:.3g}, {corr['n_rois']} ROIs, skipped "
          f"{corr['skipped']}); mean best layer {means}")


def test_roi_order_correlation_distance_bands(stage_study, group_out):
    # ROIs from the simulator's truth: geodesic-distance bands from Heschl's
    # gyrus (the simulator assigns stages by distance), named along the order.
    from brainscore_speech.analysis import roi_order_correlation

    sim, _ = stage_study
    truth = np.load(sim / "truth" / "sub-01_truth.npz")
    dist, stage = truth["distance_mm"], truth["stage"]
    radius = json.loads((sim / "truth" / "truth.json").read_text())["radius_mm"]
    edges = np.linspace(0, radius, 6)
    names = ("A1", "belt", "STG", "STS", "IFG")
    rois = {n: np.flatnonzero((stage >= 0) & (dist >= lo) & (dist < hi))
            for n, lo, hi in zip(names, edges[:-1], edges[1:])}
    corr = roi_order_correlation(_hierarchy(group_out), rois)
    print()
    _print_roi("distance bands of radius/5", corr)
    assert corr["n_rois"] == 5 and corr["rho"] > 0.9


def test_roi_order_correlation_hcp_mmp1(stage_study, group_out, shared_data):
    from brainscore_speech.analysis import (
        load_surface_atlas,
        roi_order_correlation,
        speech_rois,
    )

    sim, _ = stage_study
    d = shared_data / "atlases-fsaverage5"
    atlas = load_surface_atlas(d / "lh_mmp1_fsa5.annot", d / "rh_mmp1_fsa5.annot")
    assert atlas.name == "hcp-mmp1"
    rois = speech_rois(atlas)
    hmap = _hierarchy(group_out)
    corr = roi_order_correlation(hmap, rois)
    truth = np.load(sim / "truth" / "sub-01_truth.npz")
    planted = {k: float(np.mean(truth["stage"][v][truth["stage"][v] >= 0]))
               if (truth["stage"][v] >= 0).any() else None for k, v in rois.items()}
    print()
    _print_roi("HCP-MMP1 speech ROIs", corr)
    print(f"[acceptance] planted mean stage per HCP-MMP1 ROI: "
          f"{ {k: None if v is None else round(v, 2) for k, v in planted.items()} }")
    # The planted gradient: A1 < belt < STG < STS (IFG lies beyond the simulator's
    # 60 mm radius, so it is pure noise and has (almost) no significant vertices).
    assert corr["rho"] > 0
    means = corr["mean_best_layer"]
    ordered = [means[k] for k in ("A1", "belt", "STG", "STS")]
    assert ordered == sorted(ordered)
    # the same through the CLI's atlas option
    out = group_out.parent / "group_atlas"
    _cli_ok(["group", stage_study[1], "--out", out, "--test", "ttest", "--atlas",
             d / "lh_mmp1_fsa5.annot", "--atlas", d / "rh_mmp1_fsa5.annot"])
    cli_corr = json.loads((out / "model-stages_roiorder.json").read_text())
    assert cli_corr["rho"] == pytest.approx(corr["rho"])


# --------------------------------------------------------------------------- #
# Killing a real `score` process and resuming (issue 4)
# --------------------------------------------------------------------------- #
def _score_cmd(study, out):
    return [sys.executable, "-m", "brainscore_speech", "score", str(study.bids_root),
            "--subject", "01", "--activations", str(study.activations), "--out",
            str(out)]


def _run(cmd, env):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _outputs(out: Path) -> dict[Path, Path]:
    """Result files (not the cache, not the timestamped provenance sidecars)."""
    return {p.relative_to(out): p for p in sorted(out.rglob("*"))
            if p.is_file() and ".cache" not in p.parts
            and not p.name.endswith("provenance.json")
            and not p.name.endswith("layerscores.json")}


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    from brainscore_speech.data.simulate import simulate_study

    return simulate_study(tmp_path_factory.mktemp("small"), n_subjects=1, n_runs=3,
                          scans_per_run=40, seed=11)


def test_score_process_killed_then_resumed(small_study, tmp_path):
    env = {**os.environ, "BRAINSCORE_SPEECH_PROGRESS": "off",
           "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    # reference: uninterrupted
    ref = tmp_path / "ref"
    assert "4 layer(s) fitted" in _run(_score_cmd(small_study, ref), env)

    out = tmp_path / "killed"
    cache = out / "sub-01" / ".cache"
    proc = subprocess.Popen(_score_cmd(small_study, out), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            done = [p for p in cache.glob("*.npz") if ".tmp-" not in p.name] \
                if cache.is_dir() else []
            if done:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "score finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    n_cached = len([p for p in cache.glob("*.npz") if ".tmp-" not in p.name])
    assert 1 <= n_cached < 4
    assert not list(out.rglob("*statmap*")), "outputs are only written at the end"
    leftover = [p.name for p in out.rglob("*.tmp-*")]
    # SIGKILL while a file was being written leaves its temp file behind; plant
    # one (as atomic_path names them) so the resume's clean-up is always tested.
    stale = cache / ("sub-01_task-listen_space-fsaverage5_model-stages_layer-stage4"
                     "_key-0123456789abcdef.tmp-killed.npz")
    stale.write_bytes(b"partial")

    stdout = _run(_score_cmd(small_study, out), env)
    n_fitted = 4 - n_cached
    assert f"{n_fitted} layer(s) fitted" in stdout, stdout
    print(f"\n[acceptance] killed after {n_cached} cached layer(s) (temp files left by "
          f"the kill: {leftover or 'none'}); resume fitted {n_fitted}")
    assert not list(out.rglob("*.tmp-*"))

    got, want = _outputs(out), _outputs(ref)
    assert_same_score_outputs(want, got, alphas=True)

    # nothing changed: no fitting, no file rewritten
    files = [p for p in out.rglob("*") if p.is_file()]
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    stdout = _run(_score_cmd(small_study, out), env)
    assert "up to date" in stdout, stdout
    after = [p for p in out.rglob("*") if p.is_file()]
    assert sorted(after) == sorted(files)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in after} == before


# --------------------------------------------------------------------------- #
# simulate --from-model on a tiny random wav2vec2 (issue 4)
# --------------------------------------------------------------------------- #
def test_from_model_layer_confusion_matrix(tmp_path):
    from brainscore_speech.features import (
        make_random_model,
        make_tiny_config,
        save_hf_checkpoint,
    )

    ckpt = save_hf_checkpoint(make_random_model(make_tiny_config(), seed=0),
                              tmp_path / "tiny-random")
    sim = tmp_path / "sim"
    _cli_ok(["simulate", sim, "--subjects", 1, "--runs", 4, "--scans-per-run", 60,
             "--seed", 0, "--from-model", ckpt])
    planted_dir = sim / "activations" / "tiny-random"
    assert (planted_dir / "story01.h5").is_file()
    act = tmp_path / "act"
    _cli_ok(["extract", "--model", ckpt, "--stimuli", sim / "bids" / "stimuli",
             "--out", act])
    # the planted activations are those `extract` writes
    from brainscore_speech.containers import (
        list_activation_layers,
        read_activation_layer,
    )
    layers = list_activation_layers(act / "story01.h5")
    for layer in layers:
        a, ta = read_activation_layer(act / "story01.h5", layer)
        b, tb = read_activation_layer(planted_dir / "story01.h5", layer)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ta, tb)
    deriv = tmp_path / "deriv"
    _cli_ok(["score", sim / "bids", "--subject", "01", "--activations", act,
             "--out", deriv])
    truth_meta = json.loads((sim / "truth" / "truth.json").read_text())
    names = truth_meta["layers"]
    assert names == list(layers)
    truth = np.load(sim / "truth" / "sub-01_truth.npz")
    stage, planted = truth["stage"], truth["planted_r"]
    ls = _layerscores(deriv, "01")
    assert list(ls.layer_names) == names
    sel = np.flatnonzero((stage >= 0) & (planted >= 0.2))
    best = np.argmax(ls.mean_scores[:, sel], axis=0)
    k = len(names)
    conf = np.zeros((k, k), dtype=int)
    np.add.at(conf, (stage[sel], best), 1)
    width = max(len(n) for n in names)
    lines = [" " * (width + 1) + " ".join(f"{n[:6]:>6}" for n in names)]
    lines += [f"{names[i]:>{width}} " + " ".join(f"{v:6d}" for v in conf[i])
              for i in range(k)]
    (tmp_path / "confusion.json").write_text(json.dumps(
        {"layers": names, "planted_x_best": conf.tolist()}))
    diag = np.trace(conf) / conf.sum()
    within1 = sum(conf[i, j] for i in range(k) for j in range(k)
                  if abs(i - j) <= 1) / conf.sum()
    print(f"\n[acceptance] --from-model tiny random wav2vec2: layer confusion "
          f"(rows planted, columns best; {conf.sum()} vertices with planted r >= 0.2)\n"
          + "\n".join(lines)
          + f"\nexact {diag:.1%}, within one layer {within1:.1%}, chance {1 / k:.1%}")
    from scipy import stats

    rho = stats.spearmanr(stage[sel], best)
    print(f"Spearman(planted layer, best layer) = {rho.statistic:.3f} "
          f"(p = {rho.pvalue:.2g})")
    assert conf.sum() == sel.size and conf.sum() > 500
    # Adjacent layers of a random tiny model are nearly collinear (and its
    # transformer states indistinguishable), so exact recovery is not expected;
    # the planted layer must still be preferred above chance and in order.
    assert diag > 1.5 / k
    assert rho.statistic > 0.1 and rho.pvalue < 1e-3
