"""The bad-input catalogue: every command, as a careless user and a hostile file would.

Each case states its exit code (2 usage, 1 runtime), a pattern of its one-line
message, and is checked for: no traceback, a single ``Error:`` line, and no new or
changed file in the output location.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli

from .conftest import World, snapshot, truncate, write_wav

# ~150 in-process CLI calls on a tiny world (~2-3 min on 2 loaded cores)
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


@dataclass(frozen=True)
class Case:
    id: str
    code: int
    pattern: str
    build: Callable[[World, Path], tuple[list, Path | None]]
    env: tuple = ()


# ----------------------------------------------------------------- builders
def _score(w, t, *extra, bids=None, acts=None, out=None, sub="01", layer="stage1"):
    out = out or t / "out"
    return (["score", bids or w.bids, "--subject", sub, "--activations",
             acts or w.stages, "--out", out, "--layers", layer, *extra], out)


def _study_copy(w, t) -> Path:
    dst = t / "study"
    shutil.copytree(w.study, dst)
    return dst


FUNC = "bids/derivatives/fmriprep/sub-01/func"
RUN2 = "sub-01_task-listen_run-2"


def _broken_score(breaker, acts="stages"):
    def build(w, t):
        root = _study_copy(w, t)
        breaker(root, w, t)
        if acts == "stages":
            return _score(w, t, bids=root / "bids", acts=root / "activations/stages")
        return _score(w, t, bids=root / "bids", acts=w.acts, layer="conv6")
    return build


def _gifti(root, hemi="L", base=RUN2):
    return root / FUNC / f"{base}_space-fsaverage5_hemi-{hemi}_bold.func.gii"


def _nan_hemi(root, w, t):
    import nibabel as nib

    p = _gifti(root)
    img = nib.load(p)
    for d in img.darrays:
        d.data[:] = np.nan
    nib.save(img, p)


def _other_audio(root, w, t):
    write_wav(root / "bids" / "stimuli" / "story01.wav", seconds=20.0, seed=99)


def _extract(w, t, *extra, model=None, stim=None, out=None):
    out = out or t / "out"
    if stim is None:
        stim = write_wav(t / "in" / "a.wav", 2.0)
    return (["extract", "--model", model or w.ckpt, "--stimuli", stim, "--out", out,
             *extra], out)


def _ckpt_copy(w, t) -> Path:
    dst = t / "ckpt"
    shutil.copytree(w.ckpt, dst)
    return dst


def _broken_ckpt(breaker):
    def build(w, t):
        ck = _ckpt_copy(w, t)
        breaker(ck)
        return _extract(w, t, model=ck)
    return build


def _train(w, t, *extra, out=None, corpus=None, regime="speech-en"):
    out = out or t / "ck"
    args = ["train", "--preset", "tiny", "--out", out, "--max-steps", "1",
            "--batch-seconds", "4", "--micro-batch-seconds", "4"]
    if regime is not None:
        args += ["--regime", regime]
    if corpus is not False:
        args += ["--corpus", corpus or w.manifest]
    return [*args, *extra], out


def _manifest(t, text) -> Path:
    p = t / "m.tsv"
    p.write_text(text)
    return p


def _regime_file(t, text) -> Path:
    p = t / "regime.yaml"
    p.write_text(text)
    return p


def _group(w, t, *extra, deriv=None, out=None):
    out = out or t / "g"
    return (["group", deriv or w.deriv, "--out", out, *extra], out)


def _deriv_copy(w, t) -> Path:
    dst = t / "deriv"
    shutil.copytree(w.deriv, dst)
    return dst


def _layerscores(d: Path) -> Path:
    return sorted(d.glob("sub-01/*_layerscores.npz"))[0]


def _broken_group_input(breaker):
    def build(w, t):
        d = _deriv_copy(w, t)
        breaker(_layerscores(d))
        return _group(w, t, deriv=d)
    return build


def _group_copy(w, t) -> Path:
    dst = t / "group"
    shutil.copytree(w.group, dst)
    return dst


def _broken_figures(breaker, cmd="figures", out_name="figs"):
    def build(w, t):
        g = _group_copy(w, t)
        breaker(sorted(g.glob("model-*_desc-brainscore_groupmap.npz"))[0])
        return [cmd, g, "--out", t / out_name], t / out_name
    return build


def _garbage(p: Path) -> None:
    p.write_bytes(b"not a file of this kind\x00\x01" * 10)


def _corpus(w, t, *extra, directory=None, out=None):
    out = out or t / "m.tsv"
    return ["corpus", "build", directory or w.corpus, "--out", out, *extra], out


def _a_file(t, name="afile") -> Path:
    p = t / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("a user's file\n")
    return p


def _record(w, t):
    d = t / "v"
    d.mkdir()
    (d / "x_checksums.json").write_text("{not json")
    return ["verify", d], None


# ------------------------------------------------------------------- cases
CASES: list[Case] = [
    # ---- typer / usage (exit 2)
    Case("no-such-command", 2, r"No such command 'nope'",
         lambda w, t: (["nope"], None)),
    Case("score-no-args", 2, r"Missing argument 'bids_root'",
         lambda w, t: (["score"], None)),
    Case("score-no-subject", 2, r"Missing option '--subject'",
         lambda w, t: (["score", w.bids, "--activations", w.stages, "--out", t / "o"],
                       t / "o")),
    Case("score-no-activations", 2, r"Missing option '--activations'",
         lambda w, t: (["score", w.bids, "--subject", "01", "--out", t / "o"],
                       t / "o")),
    Case("score-no-out", 2, r"Missing option '--out'",
         lambda w, t: (["score", w.bids, "--subject", "01", "--activations", w.stages],
                       None)),
    Case("extract-no-model", 2, r"Missing option '--model'",
         lambda w, t: (["extract", "--stimuli", t, "--out", t / "o"], t / "o")),
    Case("extract-no-stimuli", 2, r"Missing option '--stimuli'",
         lambda w, t: (["extract", "--model", w.ckpt, "--out", t / "o"], t / "o")),
    Case("extract-no-out", 2, r"Missing option '--out'",
         lambda w, t: (["extract", "--model", w.ckpt, "--stimuli", t], None)),
    Case("train-no-out", 2, r"Missing option '--out'",
         lambda w, t: (["train", "--regime", "random"], None)),
    Case("group-no-out", 2, r"Missing option '--out'",
         lambda w, t: (["group", w.deriv], None)),
    Case("figures-no-out", 2, r"Missing option '--out'",
         lambda w, t: (["figures", w.group], None)),
    Case("report-no-out", 2, r"Missing option '--out'",
         lambda w, t: (["report", w.group], None)),
    Case("corpus-build-no-out", 2, r"Missing option '--out'",
         lambda w, t: (["corpus", "build", w.corpus], None)),
    Case("simulate-no-out", 2, r"Missing argument 'out'",
         lambda w, t: (["simulate"], None)),
    Case("data-verify-no-root", 2, r"Missing option '--root'",
         lambda w, t: (["data", "verify", "lpp"], None)),
    Case("verify-no-folder", 2, r"Missing argument 'folder'",
         lambda w, t: (["verify"], None)),
    Case("simulate-tr-text", 2, r"Invalid value for '--tr'",
         lambda w, t: (["simulate", t / "s", "--tr", "abc"], t / "s")),
    Case("simulate-subjects-0", 2, r"Invalid value for '--subjects'",
         lambda w, t: (["simulate", t / "s", "--subjects", "0"], t / "s")),
    Case("simulate-runs-1", 2, r"Invalid value for '--runs'",
         lambda w, t: (["simulate", t / "s", "--runs", "1"], t / "s")),
    Case("simulate-scans-0", 2, r"Invalid value for '--scans-per-run'",
         lambda w, t: (["simulate", t / "s", "--scans-per-run", "0"], t / "s")),
    Case("extract-window-text", 2, r"Invalid value for '--window-s'",
         lambda w, t: _extract(w, t, "--window-s", "ten")),
    Case("extract-batch-text", 2, r"Invalid value for '--batch-size'",
         lambda w, t: _extract(w, t, "--batch-size", "x")),
    Case("train-steps-text", 2, r"Invalid value for '--max-steps'",
         lambda w, t: _train(w, t, "--max-steps", "many")),
    Case("train-lr-text", 2, r"Invalid value for '--lr'",
         lambda w, t: _train(w, t, "--lr", "fast")),
    Case("group-nperm-text", 2, r"Invalid value for '--n-permutations'",
         lambda w, t: _group(w, t, "--n-permutations", "lots")),
    Case("group-alpha-text", 2, r"Invalid value for '--alpha'",
         lambda w, t: _group(w, t, "--alpha", "five")),
    Case("figures-dpi-text", 2, r"Invalid value for '--dpi'",
         lambda w, t: (["figures", w.group, "--out", t / "f", "--dpi", "hi"], t / "f")),
    Case("threads-text", 2, r"Invalid value for '--threads'",
         lambda w, t: (["--threads", "x", "score"], None)),
    Case("group-atlas-once", 2, r"--atlas needs exactly 2 files",
         lambda w, t: _group(w, t, "--atlas", w.bids / "participants.tsv")),
    Case("corpus-min-text", 2, r"Invalid value for '--min-seconds'",
         lambda w, t: _corpus(w, t, "--min-seconds", "short")),
    # ---- option values refused by the library (exit 2); fixed choices are typer
    # choices (cli/_choices.py), refused while parsing, in the library's words
    Case("threads-0", 2, r"'--threads' must be >= 1, got 0",
         lambda w, t: (["--threads", "0", "simulate", t / "s"], t / "s")),
    Case("threads-negative", 2, r"'--threads' must be >= 1, got -2",
         lambda w, t: (["--threads", "-2", "simulate", t / "s"], t / "s")),
    Case("omp-num-threads-text", 2, r"OMP_NUM_THREADS must be a positive integer",
         lambda w, t: (["simulate", t / "s"], t / "s"),
         env=(("OMP_NUM_THREADS", "many"),)),
    Case("simulate-tr-0", 2, r"'tr_s' must be positive, got 0",
         lambda w, t: (["simulate", t / "s", "--tr", "0"], t / "s")),
    Case("simulate-tr-negative", 2, r"'tr_s' must be positive, got -2",
         lambda w, t: (["simulate", t / "s", "--tr", "-2"], t / "s")),
    Case("simulate-space", 2, r"'space' must be one of \['fsaverage5'\]",
         lambda w, t: (["simulate", t / "s", "--space", "fsaverage6"], t / "s")),
    Case("simulate-language", 2, r"'language' must be one of",
         lambda w, t: (["simulate", t / "s", "--language", "xx"], t / "s")),
    Case("simulate-scans-few", 2, r"'scans_per_run' must be at least 14",
         lambda w, t: (["simulate", t / "s", "--scans-per-run", "3"], t / "s")),
    Case("extract-window-0", 2, r"'window_s' must be a positive number of seconds",
         lambda w, t: _extract(w, t, "--window-s", "0")),
    Case("extract-stride-0", 2, r"'stride_s' must be a positive number of seconds",
         lambda w, t: _extract(w, t, "--stride-s", "0")),
    Case("extract-stride-negative", 2, r"'stride_s' must be a positive number",
         lambda w, t: _extract(w, t, "--stride-s", "-1")),
    Case("extract-stride-hop", 2, r"'stride_s' must be a multiple of the model's frame",
         lambda w, t: _extract(w, t, "--stride-s", "1.013")),
    Case("extract-window-short", 2, r"'window_s' \(1.0 s\) must exceed 'stride_s'",
         lambda w, t: _extract(w, t, "--window-s", "1", "--stride-s", "1")),
    Case("extract-mode", 2, r"'mode' must be one of .* got 'rolling'",
         lambda w, t: _extract(w, t, "--mode", "rolling")),
    Case("extract-dtype", 2, r"'dtype' must be one of .* got 'float8'",
         lambda w, t: _extract(w, t, "--dtype", "float8")),
    Case("extract-batch-0", 2, r"'batch_size' must be a positive integer, got 0",
         lambda w, t: _extract(w, t, "--batch-size", "0")),
    Case("extract-pool-negative", 2, r"'pool_hz' must be positive or None",
         lambda w, t: _extract(w, t, "--pool-hz", "-5")),
    Case("train-lr-negative", 2, r"'lr' must be a positive number, got -1",
         lambda w, t: _train(w, t, "--lr", "-1")),
    Case("train-lr-0", 2, r"'lr' must be a positive number, got 0",
         lambda w, t: _train(w, t, "--lr", "0")),
    Case("train-batch-0", 2, r"'batch_seconds' must be a positive number",
         lambda w, t: _train(w, t, "--batch-seconds", "0")),
    Case("train-micro-negative", 2, r"'micro_batch_seconds' must be a positive",
         lambda w, t: _train(w, t, "--micro-batch-seconds", "-1")),
    Case("train-ckpt-every-0", 2, r"'checkpoint_every' must be a positive int",
         lambda w, t: _train(w, t, "--checkpoint-every", "0")),
    Case("train-steps-negative", 2, r"'max_steps' must be a non-negative int",
         lambda w, t: _train(w, t, "--max-steps", "-1")),
    Case("train-steps-0", 2, r"'max_steps' is 0 for regime 'speech-en': that trains "
         r"nothing", lambda w, t: _train(w, t, "--max-steps", "0")),
    Case("train-seed-negative", 2, r"'seed' must be a non-negative int",
         lambda w, t: _train(w, t, "--seed", "-3")),
    Case("train-regime-name", 2, r"'regime' must be one of .* Did you mean 'speech-zh'",
         lambda w, t: _train(w, t, regime="speech-xx")),
    Case("train-preset", 2, r"'preset' must be one of \['tiny', 'base', 'large'\]",
         lambda w, t: _train(w, t, "--preset", "huge")),
    Case("train-out-user-file", 2, r"--out .*afile is an existing file, not a "
         r"checkpoint folder", lambda w, t: _train(w, t, out=_a_file(t))),
    Case("train-device", 2, r"'device' must be 'cpu', 'cuda' or 'cuda:<index>', 'auto'"
         r", got 'tpu'",
         lambda w, t: _train(w, t, "--device", "tpu")),
    Case("group-nperm-0", 2, r"'n_permutations' must be >= 1, got 0",
         lambda w, t: _group(w, t, "--n-permutations", "0")),
    Case("group-nperm-negative", 2, r"'n_permutations' must be >= 1, got -5",
         lambda w, t: _group(w, t, "--n-permutations", "-5")),
    Case("group-alpha-0", 2, r"'alpha' must be > 0 and < 1, got 0",
         lambda w, t: _group(w, t, "--alpha", "0")),
    Case("group-alpha-1.5", 2, r"'alpha' must be > 0 and < 1, got 1.5",
         lambda w, t: _group(w, t, "--alpha", "1.5")),
    Case("group-test", 2, r"'test' must be one of .* got 'anova'",
         lambda w, t: _group(w, t, "--test", "anova")),
    Case("group-out-file", 2, r"--out .*afile is a file, expected a folder",
         lambda w, t: _group(w, t, out=_a_file(t))),
    Case("group-out-under-file", 2, r"is under .*afile, which is a file",
         lambda w, t: _group(w, t, out=_a_file(t) / "g")),
    Case("score-layers", 2, r"'layers' must be one of \['stage1', .* got 'stage9'",
         lambda w, t: _score(w, t, "--layers", "stage9")),
    Case("score-out-file", 2, r"--out .*afile is a file, expected a folder",
         lambda w, t: _score(w, t, out=_a_file(t))),
    Case("score-out-under-file", 2, r"is under .*afile, which is a file",
         lambda w, t: _score(w, t, out=_a_file(t) / "d")),
    Case("extract-out-file", 2, r"--out .*afile is a file, expected a folder",
         lambda w, t: _extract(w, t, out=_a_file(t))),
    Case("simulate-out-file", 2, r"output folder .*afile is a file",
         lambda w, t: (["simulate", _a_file(t)], t / "afile")),
    Case("figures-out-file", 2, r"--out .*afile is a file, expected a folder",
         lambda w, t: (["figures", w.group, "--out", _a_file(t)], t / "afile")),
    Case("report-out-dir", 2, r"--out .* is a folder, expected a file name",
         lambda w, t: (["report", w.group, "--out", t], t)),
    Case("corpus-build-out-dir", 2, r"--out .* is a folder, expected a file name",
         lambda w, t: _corpus(w, t, out=t)),
    Case("corpus-min-negative", 2, r"'min_seconds' must be >= 0 s, got -1",
         lambda w, t: _corpus(w, t, "--min-seconds", "-1")),
    Case("corpus-synth-kind", 2, r"'kind' must be one of \['speech', 'nonspeech'\]",
         lambda w, t: (["corpus", "synth", t / "c", "--kind", "music"], t / "c")),
    Case("corpus-synth-out-file", 2, r"OUT .*afile is a file",
         lambda w, t: (["corpus", "synth", _a_file(t), "--kind", "nonspeech"],
                       t / "afile")),
    Case("demo-out-file", 2, r"output folder .*afile is a file",
         lambda w, t: (["demo", _a_file(t)], t / "afile")),
    # ---- score: runtime (exit 1)
    Case("score-bids-missing", 1, r"Error: ",
         lambda w, t: _score(w, t, bids=t / "nope")),
    Case("score-acts-missing", 1, r"Activation folder not found",
         lambda w, t: _score(w, t, acts=t / "nope")),
    Case("score-subject-missing", 1, r"sub-09",
         lambda w, t: _score(w, t, sub="09")),
    Case("score-out-readonly", 1, r"is not writable",
         lambda w, t: _score(w, t, out=t / "ro" / "d"), env=(("_RO", "ro"),)),
    Case("score-missing-run", 1, r"Missing run: no fMRIPrep BOLD for sub-01 "
         r"task-listen_run-2", _broken_score(
             lambda r, w, t: [p.unlink() for p in (r / FUNC).glob(f"{RUN2}_space*")])),
    Case("score-missing-hemi", 1, r"Missing hemisphere R for sub-01 task-listen_run-2",
         _broken_score(lambda r, w, t: _gifti(r, "R").unlink())),
    Case("score-truncated-gifti", 1, r"Cannot read GIFTI file .*run-2.*hemi-L",
         _broken_score(lambda r, w, t: truncate(_gifti(r)))),
    Case("score-garbage-gifti", 1, r"Cannot read GIFTI file",
         _broken_score(lambda r, w, t: _garbage(_gifti(r)))),
    Case("score-nan-hemisphere", 1, r"no usable vertex left in hemisphere L .*"
         r"refusing to score part of the brain", _broken_score(_nan_hemi)),
    Case("score-sidecar-json", 1, r"Malformed JSON in .*run-2_bold.json",
         _broken_score(lambda r, w, t: (r / "bids/sub-01/func" /
                                        f"{RUN2}_bold.json").write_text("{tr: 2"))),
    Case("score-events-missing", 1, r"Error: ",
         _broken_score(lambda r, w, t: (r / "bids/sub-01/func" /
                                        f"{RUN2}_events.tsv").unlink())),
    Case("score-events-columns", 1, r"must have columns onset, duration and stim_file",
         _broken_score(lambda r, w, t: (r / "bids/sub-01/func" / f"{RUN2}_events.tsv"
                                        ).write_text("a\tb\n1\t2\n"))),
    Case("score-activation-missing", 1, r"No activations for stimulus 'story02'",
         _broken_score(lambda r, w, t: (r / "activations/stages/story02.h5").unlink())),
    Case("score-activation-truncated", 1, r"Cannot read activation file .*story02.h5",
         _broken_score(lambda r, w, t: truncate(r / "activations/stages/story02.h5"))),
    Case("score-activation-garbage", 1, r"Cannot read activation file .*story01.h5",
         _broken_score(lambda r, w, t: _garbage(r / "activations/stages/story01.h5"))),
    Case("score-other-audio", 1, r"was extracted from other audio than the study's "
         r"stimulus .*story01.wav", _broken_score(_other_audio, acts="model")),
    Case("score-study-python-tag", 1, r"Malformed YAML in study preset .*: .*python",
         lambda w, t: _score(w, t, "--study", _regime_file(
             t, "name: x\ntr_s: !!python/object/apply:os.system ['echo hi']\n"))),
    Case("score-study-syntax", 1, r"Malformed YAML in study preset .*: line 2",
         lambda w, t: _score(w, t, "--study", _regime_file(t, "name: [x\n"))),
    Case("score-study-unknown-key", 1, r"Unknown key 'tr' in study preset",
         lambda w, t: _score(w, t, "--study", _regime_file(t, "name: x\ntr: 2\n"))),
    Case("score-study-missing", 1, r"not found|must be one of",
         lambda w, t: _score(w, t, "--study", t / "nope.yaml")),
    Case("score-mask-missing", 1, r"Brain mask not found",
         lambda w, t: _score(w, t, "--mask", t / "nope.nii.gz")),
    # ---- extract: runtime (exit 1)
    Case("extract-model-missing", 1, r"Checkpoint directory not found",
         lambda w, t: _extract(w, t, model=t / "nope")),
    Case("extract-no-config", 1, r"has no config.json",
         _broken_ckpt(lambda ck: (ck / "config.json").unlink())),
    Case("extract-config-garbage", 1, r"config.json",
         _broken_ckpt(lambda ck: (ck / "config.json").write_text("{oops"))),
    Case("extract-no-weights", 1, r"has no weights",
         _broken_ckpt(lambda ck: (ck / "model.safetensors").unlink())),
    Case("extract-truncated-weights", 1, r"Cannot read weights file "
         r".*model.safetensors: truncated safetensors file",
         _broken_ckpt(lambda ck: truncate(ck / "model.safetensors"))),
    Case("extract-garbage-weights", 1, r"Cannot read weights file .*malformed",
         _broken_ckpt(lambda ck: _garbage(ck / "model.safetensors"))),
    Case("extract-meta-garbage", 1, r"Malformed JSON in .*brainscore_speech.json",
         _broken_ckpt(lambda ck: (ck / "brainscore_speech.json").write_text("["))),
    Case("extract-stimuli-missing", 1, r"Error: ",
         lambda w, t: _extract(w, t, stim=t / "nope.wav")),
    Case("extract-stimuli-empty-dir", 1, r"Error: ",
         lambda w, t: _extract(w, t, stim=(t / "empty").mkdir() or t / "empty")),
    Case("extract-corrupt-wav", 1, r"Cannot read audio file .*bad.wav",
         lambda w, t: _extract(w, t, stim=_garbage(t / "bad.wav") or t / "bad.wav")),
    Case("extract-empty-wav", 1, r"empty|0 samples|Cannot read audio",
         lambda w, t: _extract(w, t, stim=write_wav(t / "e.wav", 0.0))),
    Case("extract-list-missing", 1, r"gone.wav",
         lambda w, t: _extract(w, t, stim=_manifest(t, "gone.wav\n").rename(
             t / "list.txt"))),
    Case("extract-device", 2, r"'device' must be a torch device such as 'cpu' or "
         r"'cuda:0', got 'tpu'", lambda w, t: _extract(w, t, "--device", "tpu")),
    Case("score-device", 2, r"'device' must be 'cpu', 'cuda' or 'cuda:<index>', "
         r"got 'gpu'", lambda w, t: _score(w, t, "--device", "gpu")),
    Case("extract-layer", 1, r"Unknown layer 'transf7'",
         lambda w, t: _extract(w, t, "--layers", "transf7")),
    # ---- train / corpus: runtime (exit 1)
    Case("train-regime-python-tag", 1, r"Malformed YAML in regime file .*: .*python",
         lambda w, t: _train(w, t, regime=str(_regime_file(
             t, "name: x\nkind: !!python/object/apply:os.system ['echo hi']\n")))),
    Case("train-regime-syntax", 1, r"Malformed YAML in regime file .*: line 2",
         lambda w, t: _train(w, t, regime=str(_regime_file(t, "kind: [speech\n")))),
    Case("train-regime-unknown-key", 1, r"Unknown key 'langauge'.*Did you mean",
         lambda w, t: _train(w, t, regime=str(_regime_file(
             t, "name: x\nkind: speech\nlangauge: en\n")))),
    Case("train-regime-not-mapping", 1, r"must hold a mapping",
         lambda w, t: _train(w, t, regime=str(_regime_file(t, "- a\n- b\n")))),
    Case("train-regime-missing", 1, r"Regime file not found",
         lambda w, t: _train(w, t, regime=str(t / "nope.yaml"))),
    Case("train-corpus-missing", 1, r"Manifest not found",
         lambda w, t: _train(w, t, corpus=t / "nope.tsv")),
    Case("train-manifest-empty", 1, r"is empty; expected a root directory",
         lambda w, t: _train(w, t, corpus=_manifest(t, ""))),
    Case("train-manifest-line", 1, r"line 2: expected 'relative/path<TAB>n_samples'",
         lambda w, t: _train(w, t, corpus=_manifest(t, f"{w.corpus}\nchirp00.wav\n"))),
    Case("train-manifest-count", 1, r"n_samples must be a positive integer",
         lambda w, t: _train(w, t, corpus=_manifest(
             t, f"{w.corpus}\nchirp00.wav\t-4\n"))),
    Case("train-manifest-escape", 1, r"'\.\.' is not allowed",
         lambda w, t: _train(w, t, corpus=_manifest(
             t, f"{w.corpus}\n../x.wav\t16000\n"))),
    Case("train-manifest-absent-file", 1, r"audio file 'gone.wav' not found",
         lambda w, t: _train(w, t, corpus=_manifest(
             t, f"{w.corpus}\ngone.wav\t16000\n"))),
    Case("train-manifest-root", 1, r"root directory .* does not exist",
         lambda w, t: _train(w, t, corpus=_manifest(t, f"{t}/none\nx.wav\t16000\n"))),
    Case("train-out-foreign-dir", 1, r"is a non-empty folder that is not a "
         r"brainscore_speech checkpoint",
         lambda w, t: _train(w, t, out=(_a_file(t / "mine", "notes.txt").parent))),
    Case("train-out-existing-ckpt", 1, r"already holds a checkpoint; pass --resume",
         lambda w, t: _train(w, t, out=shutil.copytree(w.trained, t / "ck2"))),
    Case("train-resume-weightless", 1, r"Cannot resume .*model.safetensors.*missing",
         lambda w, t: _train(w, t, "--resume", out=_weightless(w, t))),
    Case("train-resume-truncated-state", 1, r"Cannot read training state .*state.pt",
         lambda w, t: _train(w, t, "--resume", out=_broken_trained(
             w, t, lambda ck: _truncate_file(ck / "train_state" / "state.pt")))),
    Case("train-resume-truncated-weights", 1, r"Cannot read weights file .*model."
         r"safetensors: truncated", lambda w, t: _train(
             w, t, "--resume", out=_broken_trained(
                 w, t, lambda ck: _truncate_file(ck / "model.safetensors")))),
    Case("train-resume-bad-meta", 1, r"Malformed JSON in .*brainscore_speech.json",
         lambda w, t: _train(w, t, "--resume", out=_broken_trained(
             w, t, lambda ck: (ck / "brainscore_speech.json").write_text("{")))),
    Case("score-participants-garbage", 1, r"Cannot read participants file",
         _broken_score(lambda r, w, t: (r / "bids/participants.tsv").write_bytes(
             b'a\tb\n"x\t1\n' + b"\xff" * 10))),
    Case("corpus-dir-missing", 1, r"Corpus directory not found",
         lambda w, t: _corpus(w, t, directory=t / "nope")),
    Case("corpus-dir-no-audio", 1, r"No audio files \(.wav, .*\) found in",
         lambda w, t: _corpus(w, t, directory=(t / "e").mkdir() or t / "e")),
    Case("corpus-one-sample-file", 1, r"No audio of at least",
         lambda w, t: _corpus(w, t, directory=_one_sample(t))),
    Case("corpus-corrupt-audio", 1, r"Cannot read audio file",
         lambda w, t: _corpus(w, t, directory=_corrupt_dir(t))),
    # ---- group / figures / report (exit 1)
    Case("group-deriv-missing", 1, r"Error: ",
         lambda w, t: _group(w, t, deriv=t / "nope")),
    Case("group-deriv-empty", 1, r"Error: ",
         lambda w, t: _group(w, t, deriv=(t / "e").mkdir() or t / "e")),
    Case("group-truncated-npz", 1, r"Cannot read LayerScores file .*: truncated or "
         r"corrupt archive", _broken_group_input(truncate)),
    Case("group-garbage-npz", 1, r"Cannot read LayerScores file", _broken_group_input(
        _garbage)),
    Case("group-npz-no-meta", 1, r"is not a LayerScores file \(no metadata\)",
         _broken_group_input(lambda p: np.savez(p, x=np.zeros(3)))),
    Case("group-model", 1, r"nope",
         lambda w, t: _group(w, t, "--model", "nope")),
    Case("group-layer", 2, r"Layer 'stage9' is missing from sub-01 \(model 'stages'\)",
         lambda w, t: _group(w, t, "--layer", "stage9")),
    Case("figures-group-missing", 1, r"is not a group folder|not found",
         lambda w, t: (["figures", t / "nope", "--out", t / "f"], t / "f")),
    Case("figures-not-group", 1, r"is not a group folder",
         lambda w, t: (["figures", w.deriv, "--out", t / "f"], t / "f")),
    Case("figures-truncated-npz", 1,
         r"Cannot read GroupMap file .*truncated or corrupt",
         _broken_figures(truncate)),
    Case("figures-garbage-npz", 1, r"Cannot read GroupMap file",
         _broken_figures(_garbage)),
    Case("figures-bad-provenance", 1, r"Malformed JSON in .*group_provenance.json",
         _broken_figures(lambda p: (p.parent / "group_provenance.json"
                                    ).write_text("{"))),
    Case("report-not-group", 1, r"is not a group folder",
         lambda w, t: (["report", w.deriv, "--out", t / "r.html"], t / "r.html")),
    Case("report-truncated-npz", 1, r"Cannot read GroupMap file .*truncated",
         _broken_figures(truncate, cmd="report", out_name="r.html")),
    # ---- data / verify (exit 1)
    Case("data-verify-unknown", 1, r"Dataset 'lppp' is not in the manifest",
         lambda w, t: (["data", "verify", "lppp", "--root", t], None)),
    Case("data-verify-root", 1, r"Dataset root for 'lpp' is not a directory",
         lambda w, t: (["data", "verify", "lpp", "--root", t / "none"], None)),
    Case("data-manifest-missing", 1, r"Dataset manifest not found",
         lambda w, t: (["data", "list", "--manifest", t / "none.yaml"], None)),
    Case("data-manifest-syntax", 1, r"Malformed YAML in manifest",
         lambda w, t: (["data", "list", "--manifest", _regime_file(t, "a: [b\n")],
                       None)),
    Case("data-manifest-python-tag", 1, r"Malformed YAML in manifest",
         lambda w, t: (["data", "list", "--manifest", _regime_file(
             t, "datasets: !!python/object/apply:os.system ['echo hi']\n")], None)),
    Case("data-fetch-out-file", 2, r"--root .*afile is a file",
         lambda w, t: (["data", "fetch", "lpp", "--root", _a_file(t)], t / "afile")),
    Case("verify-missing", 1, r"Folder to verify not found",
         lambda w, t: (["verify", t / "nope"], None)),
    Case("verify-no-records", 1, r"No checksum records",
         lambda w, t: (["verify", (t / "e").mkdir() or t / "e"], None)),
    Case("verify-bad-record", 1, r"Malformed JSON in .*x_checksums.json", _record),
]


def _weightless(w, t) -> Path:
    ck = shutil.copytree(w.trained, t / "ck3")
    (ck / "model.safetensors").unlink()
    return ck


def _broken_trained(w, t, breaker) -> Path:
    ck = shutil.copytree(w.trained, t / "ck4")
    breaker(ck)
    return ck


def _truncate_file(p: Path) -> None:
    truncate(p, 0.5)


def _one_sample(t) -> Path:
    import soundfile as sf

    d = t / "one"
    d.mkdir()
    sf.write(str(d / "click.wav"), np.zeros(1, np.float32), 16000)
    return d


def _corrupt_dir(t) -> Path:
    d = t / "bad"
    d.mkdir()
    _garbage(d / "x.wav")
    return d


def test_catalogue_size():
    """The acceptance target: at least 120 distinct bad inputs, ids unique."""
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids)
    assert len(CASES) >= 120, len(CASES)


def _make_readonly(monkeypatch, folder: Path) -> None:
    """Root ignores mode bits, so a read-only folder is simulated for os.access."""
    folder.mkdir(parents=True, exist_ok=True)
    real = os.access

    def access(path, mode, *a, **k):
        if Path(path).resolve() == folder.resolve() and mode & os.W_OK:
            return False
        return real(path, mode, *a, **k)

    monkeypatch.setattr(os, "access", access)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, world, tmp_path, monkeypatch):
    t = tmp_path / "t"
    t.mkdir()
    args, out = case.build(world, t)
    env = dict(case.env)
    if env.pop("_RO", None):
        _make_readonly(monkeypatch, t / "ro")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    before = snapshot(out) if out is not None else None
    world_before = snapshot(world.root)
    code, stdout, err = run_cli(args)
    assert code == case.code, err
    assert "Traceback" not in err + stdout, err
    assert re.search(case.pattern, err), err
    error_lines = [ln for ln in err.splitlines() if ln.startswith("Error")]
    assert len(error_lines) == 1, err
    if code == 1 or not err.lstrip().startswith("Usage:"):
        assert err.rstrip().splitlines()[-1].startswith("Error: "), err
    if out is not None:
        assert snapshot(out) == before, f"{out} changed"
    assert snapshot(world.root) == world_before, "the shared inputs changed"
    leftovers = [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]
    assert not leftovers, leftovers
