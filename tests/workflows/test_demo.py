"""The embedded demo end to end (small sizes), its resume, and the demo CLI."""

from __future__ import annotations

import json

import pytest

from brainscore_speech.workflows import demo as demo_mod
from brainscore_speech.workflows.demo import DemoConfig, run_demo

SMALL = DemoConfig(n_subjects=2, n_runs=3, scans_per_run=40, corpus_minutes=0.3,
                   train_steps=8, seed=0)

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::brainscore_speech.exceptions.BrainscoreWarning")]


def test_demo_runs_end_to_end_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "demo"
    calls = {"n": 0}

    # 1. interrupt the first run in the group stage (after scoring finished)
    import brainscore_speech.analysis as analysis

    original = analysis.run_group

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        raise KeyboardInterrupt("simulated Ctrl-C")

    monkeypatch.setattr(analysis, "run_group", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_demo(out, SMALL)
    assert calls["n"] == 1
    ls_files = sorted((out / "derivatives").rglob("*_layerscores.npz"))
    # 2 subjects x (4 models + the planted stages)
    assert len(ls_files) == 2 * 5
    mtimes = {p: p.stat().st_mtime_ns for p in ls_files}
    ckpt_mtime = (out / "models" / "native" / "model.safetensors").stat().st_mtime_ns

    # 2. the re-run resumes: nothing upstream of the group stage is redone
    monkeypatch.setattr(analysis, "run_group", original)
    report = run_demo(out, SMALL)
    assert {p: p.stat().st_mtime_ns for p in ls_files} == mtimes
    weights = out / "models" / "native" / "model.safetensors"
    assert weights.stat().st_mtime_ns == ckpt_mtime
    timings = json.loads((out / "demo_timings.json").read_text())
    assert set(timings) >= {"corpora", "simulate", "train", "extract", "score", "group",
                            "figures", "total", "behaviour"}

    html = report.read_text()
    assert report == out / "report.html"
    for needle in ("Brain scores", "Hierarchy: which layer predicts each vertex best",
                   "Regime comparison", "Contrast native - nonnative",
                   "Model stages: best layer per vertex", "Provenance",
                   "Behaviour: ABX phone discrimination",
                   "data:image/png;base64"):
        assert needle in html, needle
    for model in ("random", "sound", "nonnative", "native", "stages"):
        assert (out / "figures" / f"model-{model}_desc-bestlayer.png").is_file()
    assert not list(out.rglob("*.tmp-*"))

    # 3. the trained models carry their regime and language for the native contrast
    meta = json.loads(
        (out / "models" / "nonnative" / "brainscore_speech.json").read_text())
    assert meta["regime"] == "speech" and meta["language"] == "fr"


def test_demo_cli(tmp_path, monkeypatch):
    from tests.conftest import run_cli

    seen = {}

    def fake_run_demo(out, cfg):
        seen["out"], seen["cfg"] = out, cfg
        return out / "report.html"

    monkeypatch.setattr(demo_mod, "run_demo", fake_run_demo)
    code, out, _ = run_cli(["demo", tmp_path / "d", "--subjects", "4", "--train-steps",
                            "5"])
    assert code == 0 and f"Report: {tmp_path / 'd' / 'report.html'}" in out
    assert seen["cfg"].n_subjects == 4 and seen["cfg"].train_steps == 5
