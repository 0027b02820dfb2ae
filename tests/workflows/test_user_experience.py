"""A new user's first hour: clean logs, one actionable warning, early errors, tidy.

The acceptance test runs the demo's steps through the CLI in subprocesses whose
stderr is a pipe (not a terminal, as in CI, Snakemake or SLURM logs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from brainscore_speech.exceptions import BrainscoreWarning, DataError
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
LEVELS = ("DEBUG ", "INFO ", "WARNING ", "ERROR ", "CRITICAL ")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from brainscore_speech.data.simulate import simulate_study

    return simulate_study(tmp_path_factory.mktemp("ux_study"), n_subjects=1, n_runs=3,
                          scans_per_run=40, seed=3)


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    """A tiny random-init checkpoint (step 0, the 'random' regime)."""
    from brainscore_speech.training import make_config, train

    out = tmp_path_factory.mktemp("ux_model") / "random"
    return train(make_config(regime="random", preset="tiny", out=str(out), seed=0)).path


# ------------------------------------------------------------------ --alphas
def test_parse_alphas_forms_and_errors():
    from brainscore_speech.cli._score import parse_alphas

    np.testing.assert_allclose(parse_alphas("1e-1:1e8:10"), np.logspace(-1, 8, 10),
                               rtol=1e-12)
    assert parse_alphas("0.1, 10,1000") == (0.1, 10.0, 1000.0)
    import typer

    for bad in ("1e8:1e-1:10", "0:1:3", "1:10:1", "10,1", "a,b", "1:2", "-1,2"):
        with pytest.raises(typer.BadParameter, match="expected 'LOW:HIGH:N'"):
            parse_alphas(bad)


def test_cli_score_bad_alphas_is_a_usage_error(study, tmp_path):
    code, _, err = run_cli(["score", study.bids_root, "--subject", "01",
                            "--activations", study.activations, "--out", tmp_path / "d",
                            "--alphas", "1e8:1e-1:10"])
    assert code == 2 and "--alphas" in err and "expected 'LOW:HIGH:N'" in err
    assert not (tmp_path / "d").exists()


def test_score_job_warns_once_about_grid_edges(study, tmp_path):
    from brainscore_speech.workflows.score import score_subject

    # a grid far above the planted vertices' optimum: they all take its lowest
    # value; one warning for the job (not one per layer), naming the edge
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        score_subject(study.bids_root, "01", study.activations, tmp_path / "d",
                      layers=["stage1", "stage2", "stage4"], alphas=[1e5, 1e6, 1e7])
    edge = [w for w in rec if issubclass(w.category, BrainscoreWarning)
            and "edge of the grid" in str(w.message)]
    assert len(edge) == 1
    msg = str(edge[0].message)
    assert msg.startswith("sub-01 model stages: ")
    assert "mostly the lowest" in msg and "--alphas '100:1e+07:6'" in msg
    # the default grid holds the optimum of the predicted vertices: no warning
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        score_subject(study.bids_root, "01", study.activations, tmp_path / "d2",
                      layers=["stage1", "stage4"])
    assert not [w for w in rec if "edge of the grid" in str(w.message)]


# ------------------------------------------------------- validation up front
def test_extract_missing_stimulus_fails_before_anything(random_model, study, tmp_path):
    from brainscore_speech.features import extract_stimuli

    stims = sorted((study.bids_root / "stimuli").glob("*.wav"))
    listing = tmp_path / "stimuli.txt"
    listing.write_text("\n".join([str(stims[0]), str(tmp_path / "gone.wav"),
                                  str(stims[1])]))
    out = tmp_path / "acts"
    with pytest.raises(FileNotFoundError, match=r"Audio file not found: .*gone.wav "
                                                r"\(1 of 3 stimuli missing"):
        extract_stimuli(random_model, listing, out)
    assert not out.exists()  # not even the first stimulus was extracted
    code, _, err = run_cli(["extract", "--model", random_model, "--stimuli", listing,
                            "--out", out])
    assert code == 1 and "gone.wav" in err and not out.exists()


def test_demo_bad_sizes_fail_before_anything(tmp_path):
    from brainscore_speech.workflows.demo import DemoConfig

    code, _, err = run_cli(["demo", tmp_path / "d", "--train-steps", "-1"])
    assert code != 0 and "'train_steps' must be an integer >= 0, got -1" in err
    assert not (tmp_path / "d").exists()
    for kwargs, match in (({"n_subjects": 1}, "'n_subjects' must be an integer >= 2"),
                          ({"scans_per_run": 10},
                           "'scans_per_run' must be at least 14"),
                          ({"tr_s": 0.0}, "'tr_s' must be positive"),
                          ({"nonnative_language": "en"},
                           "must differ from 'language'")):
        with pytest.raises(ValueError, match=match):
            DemoConfig(**kwargs)


def test_simulate_from_missing_model_fails_before_anything(tmp_path):
    code, _, err = run_cli(["simulate", tmp_path / "s", "--from-model", "nope"])
    assert code == 1 and "'from_model' must be a checkpoint folder" in err
    assert "nope: not found" in err
    assert not (tmp_path / "s").exists()
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["simulate", tmp_path / "s", "--from-model",
                            tmp_path / "empty"])
    assert code == 1 and "it has no config.json" in err
    assert not (tmp_path / "s").exists()


def test_report_into_a_folder_fails_before_rendering(tmp_path, monkeypatch):
    from brainscore_speech.plotting import report as report_mod

    def no_render(*args, **kwargs):
        raise AssertionError("rendered before checking the output path")

    monkeypatch.setattr(report_mod, "make_figures", no_render)
    (tmp_path / "out").mkdir()
    code, _, err = run_cli(["report", tmp_path / "group", "--out", tmp_path / "out"])
    assert code in (1, 2) and "folder" in err  # (2 once usage errors exit 2)
    assert list((tmp_path / "out").iterdir()) == []
    # this branch's message: "'output_file' must be the report's .html file, got
    # the folder ..." (another check of the output path may come first)
    with pytest.raises(ValueError, match=r"folder"):
        report_mod.make_report(tmp_path / "group", tmp_path / "out")


def test_failed_train_leaves_a_checkpoint_that_a_plain_rerun_replaces(tmp_path,
                                                                      monkeypatch):
    from brainscore_speech.training import build_manifest, loop, make_config, train
    from tests.training.conftest import write_chirps

    manifest = build_manifest(write_chirps(tmp_path / "audio", n_files=3),
                              tmp_path / "c.tsv")
    cfg = make_config(regime="speech-en", preset="tiny", corpus=[str(manifest)],
                      out=str(tmp_path / "ck"), max_steps=2, batch_seconds=4.0,
                      micro_batch_seconds=4.0, eval_seconds=4.0)
    original = loop.sample_update

    def fail(*args, **kwargs):
        raise RuntimeError("simulated failure after the step-0 checkpoint")

    monkeypatch.setattr(loop, "sample_update", fail)
    with pytest.raises(RuntimeError, match="simulated failure"):
        train(cfg)
    assert (tmp_path / "ck" / "train_state" / "state.pt").is_file()  # step 0
    monkeypatch.setattr(loop, "sample_update", original)
    assert train(cfg).step == 2  # no --resume needed, nothing was lost
    with pytest.raises(FileExistsError, match="already holds a checkpoint"):
        train(cfg)  # a real checkpoint is still protected


# --------------------------------------------------- consistent, tidy outputs
def test_extract_rerun_removes_temp_files_of_an_interrupted_run(random_model, study,
                                                                tmp_path):
    from brainscore_speech.features import extract_stimuli

    stims = sorted((study.bids_root / "stimuli").glob("*.wav"))[:2]
    out = tmp_path / "acts"
    out.mkdir()
    # what a SIGKILL during the HDF5 write leaves (atomic_path's temp file)
    stale = out / f"{stims[0].stem}.tmp-k1ll3d.h5"
    stale.write_bytes(b"\0" * 4096)
    other = out / "notes.tmp-mine.txt"  # not a file of these stimuli: kept
    other.write_text("x")
    extract_stimuli(random_model, stims, out)
    assert not stale.exists() and other.exists()
    assert sorted(p.name for p in out.glob("*.h5")) == [f"{s.stem}.h5" for s in stims]


def test_group_refuses_subjects_scored_on_different_layers(tmp_path):
    from brainscore_speech.analysis import run_group
    from brainscore_speech.analysis.synthetic import make_synthetic_layer_scores

    scores, _ = make_synthetic_layer_scores(3, n_vertices_per_hemi=200,
                                            model_id="native", random_state=0)
    for ls in scores:
        ls.save(tmp_path / "d" / f"sub-{ls.subject}" /
                f"sub-{ls.subject}_model-native_layerscores.npz")
    # sub-02 re-scored with only two layers
    import dataclasses

    two = dataclasses.replace(scores[1], scores=scores[1].scores[:2],
                              best_alphas=scores[1].best_alphas[:2],
                              inner_scores=scores[1].inner_scores[:2],
                              layer_names=scores[1].layer_names[:2])
    two.save(tmp_path / "d" / f"sub-{two.subject}" /
             f"sub-{two.subject}_model-native_layerscores.npz")
    n = len(scores[0].layer_names)
    with pytest.raises(DataError, match=rf"Subjects of model 'native' were scored on "
                                        rf"different layers \(sub-{scores[0].subject}, "
                                        rf"sub-{scores[2].subject} have {n} layers .*; "
                                        rf"sub-{two.subject} have 2 layers .*pass "
                                        r"--layer for the 2 shared ones"):
        run_group(tmp_path / "d", tmp_path / "g", test="ttest")
    assert not (tmp_path / "g").exists()
    code, _, err = run_cli(["group", tmp_path / "d", "--out", tmp_path / "g"])
    assert code == 1 and "scored on different layers" in err
    # with the shared layers named, the group runs
    res = run_group(tmp_path / "d", tmp_path / "g", test="ttest",
                    layers=list(two.layer_names), n_bootstrap=5)
    assert not res["skipped"]


def test_group_warns_when_compared_models_differ_in_layers(tmp_path, caplog):
    from brainscore_speech.analysis.group import check_shared_layers
    from brainscore_speech.analysis.synthetic import make_synthetic_layer_scores

    a, _ = make_synthetic_layer_scores(2, n_vertices_per_hemi=50, model_id="random",
                                       random_state=0)
    b, _ = make_synthetic_layer_scores(2, n_vertices_per_hemi=50, model_id="sound",
                                       random_state=1, layer_names=["l0", "l1", "l2"])
    import dataclasses

    a = [dataclasses.replace(ls, model_meta={"regime": "random"}) for ls in a]
    b = [dataclasses.replace(ls, model_meta={"regime": "sound"}) for ls in b]
    assert len(a[0].layer_names) != 3
    with caplog.at_level("WARNING", logger="brainscore_speech"):
        check_shared_layers({"random": a, "sound": b})
    assert "Models compared across regimes have different numbers of layers " \
           f"(random: {len(a[0].layer_names)}, sound: 3)" in caplog.text


def test_group_refuses_scores_of_an_unfinished_score_job(study, tmp_path):
    import shutil

    from brainscore_speech.analysis import discover_layer_scores
    from brainscore_speech.workflows.score import score_subject

    res = score_subject(study.bids_root, "01", study.activations, tmp_path / "d",
                        layers=["stage1"])
    assert discover_layer_scores(tmp_path / "d")
    # a re-score killed after rewriting the LayerScores: the manifest is gone
    shutil.copy(res.provenance, tmp_path / "manifest.json")
    res.provenance.unlink()
    with pytest.raises(DataError, match=r"comes from an unfinished score job: its "
                                        r"manifest .*_provenance.json is missing\. "
                                        r"Re-run 'brainscore-speech score' for sub-01"):
        discover_layer_scores(tmp_path / "d")


# ------------------------------------------------------- the acceptance test
def _run(args, env, cwd):
    proc = subprocess.run([sys.executable, "-m", "brainscore_speech", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_demo_cli_steps_log_plainly_when_not_a_terminal(tmp_path):
    """simulate -> train -> extract -> score -> group -> report, stderr to a pipe."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("BRAINSCORE_SPEECH_PROGRESS", "HF_HUB_DISABLE_PROGRESS_BARS")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg")
    # a deep output folder: paths make log lines longer than 200 characters
    out = tmp_path / ("a-folder-with-a-long-name-" * 6) / "demo"
    out.mkdir(parents=True)
    logs = []
    logs.append(_run(["simulate", out / "study", "--subjects", "2", "--runs", "2",
                      "--scans-per-run", "30"], env, tmp_path))
    logs.append(_run(["train", "--regime", "random", "--preset", "tiny", "--out",
                      out / "models" / "random"], env, tmp_path))
    logs.append(_run(["extract", "--model", out / "models" / "random", "--stimuli",
                      out / "study" / "bids" / "stimuli", "--out",
                      out / "activations" / "random"], env, tmp_path))
    score_logs = []
    for sub in ("01", "02"):
        for model_dir in (out / "activations" / "random",
                          out / "study" / "activations" / "stages"):
            score_logs.append(_run(["score", out / "study" / "bids", "--subject", sub,
                                    "--activations", model_dir, "--out",
                                    out / "derivatives", "--task", "listen",
                                    "--alphas", "1e3:1e8:6"], env, tmp_path))
    logs += score_logs
    logs.append(_run(["group", out / "derivatives", "--out", out / "group", "--test",
                      "ttest"], env, tmp_path))
    logs.append(_run(["report", out / "group", "--out", out / "report.html", "--dpi",
                      "30"], env, tmp_path))
    err = "".join(p.stderr for p in logs)
    assert "\x1b" not in err and "\r" not in err  # no colours, bars or [A
    assert "Writing model shards" not in err  # transformers' bar follows ours
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines, "the steps logged nothing"
    # every line is one whole record (nothing wrapped onto a continuation line)
    assert [ln for ln in lines if not ln.startswith(LEVELS)] == []
    assert any(len(ln) > 200 for ln in lines), "no long line to check wrapping on"
    # at most one grid-edge warning per score job
    for p in score_logs:
        assert p.stderr.count("edge of the grid") <= 1, p.stderr
    # the planted stages on a grid above their optimum: that job does warn
    assert any("edge of the grid" in p.stderr for p in score_logs)
    # no temporary folder in any message
    assert "/tmp/tmp" not in err and "tmp" not in "".join(p.stdout for p in logs[-2:]
                                                           ).replace(str(tmp_path), "")
    html = (out / "report.html").read_text()
    assert "NaN" not in html and "<details>" in html
