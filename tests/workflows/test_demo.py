"""The embedded demo end to end (small sizes), its resume, and the demo CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from brainscore_speech import layout as L
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

    # a process killed inside a write leaves its temp file: the re-run removes the
    # demo's own, and never a user's file beside the demo's folders
    planted = [out / "demo_timings.tmp-k1.json",
               out / "derivatives" / "sub-01" / "x_layerscores.tmp-k2.npz",
               out / "study" / "truth" / "truth.tmp-k3.json"]
    mine = out / "my_notes" / "draft.tmp-k4.txt"  # not a demo folder
    mine.parent.mkdir()
    for p in [*planted, mine]:
        p.write_text("half-written")

    # 2. the re-run resumes: nothing upstream of the group stage is redone
    monkeypatch.setattr(analysis, "run_group", original)
    report = run_demo(out, SMALL)
    assert not [p for p in planted if p.exists()] and mine.exists()
    mine.unlink()
    mine.parent.rmdir()
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
    _check_names_from_layout(out)  # every file's name comes from the layout

    # 3. the trained models carry their regime and language for the native contrast
    meta = json.loads(
        (out / "models" / "nonnative" / "brainscore_speech.json").read_text())
    assert meta["regime"] == "speech" and meta["language"] == "fr"


# ------------------------------------------------ every name from the layout
E, N, K = "QQentity", "QQname", "QQkey"  # placeholders: BIDS entity, any name, hash
_FILL = {E: "[A-Za-z0-9]+", N: "[^/]+", K: "[0-9a-f]+", "12345": "[0-9]{5}"}


def _layout_templates(out: Path) -> list[Path]:
    """Every file the demo may write, built by the layout's builders (placeholders
    for entities, names and hash keys)."""
    part = L.demo_part
    t = [L.demo_file(out, "config"), L.demo_file(out, "timings"), L.report_file(out),
         L.stage_marker(out, "simulate")]
    for top in ("corpora", "targets"):  # corpus and HuBERT-target folders
        folder = part(out, top, N)
        t += [L.stage_marker(folder), L.corpus_manifest(folder),
              L.corpus_clip(L.corpus_audio(folder), N, 12345),
              L.corpus_description(L.corpus_audio(folder), N),
              *(L.targets_file(folder, k) for k in ("meta", "labels", "kmeans"))]
    for ckpt in (part(out, "models", N), L.checkpoint_best(part(out, "models", N))):
        t += [L.checkpoint_meta(ckpt), L.checkpoint_metrics(ckpt),
              L.checkpoint_state(ckpt),
              *(L.checkpoint_model_file(ckpt, f) for f in L.CHECKPOINT_MODEL_FILES)]
    study = part(out, "study")
    bids = L.study_part(study, "bids")
    func, dfunc = L.bids_func(bids, E), L.bids_func(L.fmriprep_dir(bids), E)
    t += [L.derivatives_description(bids), L.derivatives_description(
        L.fmriprep_dir(bids)), L.bids_participants(bids), L.sim_stimulus(bids, N),
        L.sim_events(func, E, E, E), L.sim_raw_sidecar(func, E, E, E),
        L.sim_bold(dfunc, E, E, E, E, E), L.sim_bold_sidecar(dfunc, E, E, E, E, E),
        *(L.sim_confounds(dfunc, E, E, E, x) for x in ("tsv", "json")),
        L.sim_truth(L.study_part(study, "truth"), E),
        L.sim_truth_json(L.study_part(study, "truth")),
        L.sim_truth_map(L.study_part(study, "truth"), E, E)]
    beh = part(out, "behaviour")
    for act in (L.study_part(study, "activations", N), part(out, "activations", N),
                L.abx_activations(part(out, "behaviour", N)),
                L.abx_activations(part(out, "behaviour", N), N)):
        t += [L.activation_file(act, N), L.activation_index(act),
              L.activation_checksums(act)]
    items = part(out, "behaviour", "items")
    t += [L.stage_marker(beh, "items"), L.abx_items(items), L.corpus_audio(items, N),
          *(L.abx_file(beh, f) for f in ("scores.tsv", "profile.png"))]
    for f in ("scores.tsv", "deltas.tsv", "provenance.json"):
        t.append(L.abx_file(part(out, "behaviour", N), f))
    t += [L.abx_layer_cache(L.cache_dir(part(out, "behaviour", N)), N, K, x)
          for x in ("tsv", "json")]
    deriv = part(out, "derivatives")
    ls = L.score_layerscores(deriv, E, E, E, E)
    cache = L.score_layer_cache(deriv, E, E, E, E, E, K)
    t += [L.derivatives_description(deriv), ls, L.container_sidecar(ls),
          L.score_table(deriv, E, E, E, E), L.score_provenance(deriv, E, E, E, E),
          L.score_checksums(deriv, E, E, E, E), cache, L.container_sidecar(cache),
          L.score_map(deriv, E, E, E, E, E, E), L.score_map(deriv, E, E, E, E, None, E)]
    group = part(out, "group")
    maps = [L.group_hierarchymap(group, E), L.group_brainscore(group, E),
            L.group_contrast(group, N), L.group_bestregime(group)]
    t += [*maps, *(L.container_sidecar(m) for m in maps),
          *(L.group_file(group, f) for f in (L.GROUP_PROVENANCE, L.GROUP_CHECKSUMS,
                                             L.GROUP_SUMMARY)),
          L.group_layerprofile(group, E), L.group_statmap(group, E, N, E)]
    figures = part(out, "figures")
    t += [L.stage_marker(figures), L.figure_file(figures, N), L.figure_view(figures, N)]
    return t


def _not_from_layout(out: Path) -> list[str]:
    """Files under ``out`` whose path no layout builder gives."""
    patterns = []
    for tmpl in _layout_templates(out):
        rx = re.escape(str(tmpl.relative_to(out)))
        for token, fill in _FILL.items():
            rx = rx.replace(token, fill)
        patterns.append(re.compile(rx))
    return sorted(str(rel) for rel in (p.relative_to(out) for p in out.rglob("*")
                                       if p.is_file())
                  if not any(rx.fullmatch(str(rel)) for rx in patterns))


def _check_names_from_layout(out: Path) -> None:
    n_files = sum(1 for p in out.rglob("*") if p.is_file())
    assert n_files > 500, n_files
    assert _not_from_layout(out) == []
    # the check itself can fail: a stray name, a misplaced layout file
    stray = [out / "notes.txt", out / "models" / "native" / "state.pt",
             out / "derivatives" / "sub-01" / "sub-01_model-native_scores.tsv"]
    for p in stray:
        p.write_text("x")
    assert _not_from_layout(out) == sorted(str(p.relative_to(out)) for p in stray)
    for p in stray:
        p.unlink()


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
