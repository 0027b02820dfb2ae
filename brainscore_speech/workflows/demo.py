"""The embedded default: the whole pipeline on a simulated study, offline, in minutes.

Stages (each resumable: a stage whose ``.done`` record matches its parameters is
skipped, and the stages below it skip finished work themselves):

1. ``corpora/``: synthesised English and French read speech (espeak-ng through
   ``espeakng-loader``) and procedural non-speech sounds, with fairseq manifests.
2. ``study/``: a simulated BIDS + fMRIPrep study on fsaverage5 whose BOLD is planted
   from known stage features (``brainscore_speech.workflows.simulate``).
3. ``models/``: four tiny wav2vec 2.0 models: random, sound, non-native speech (French)
   and native speech (English, the simulated participants' language); with
   ``objectives`` also native-speech HuBERT / WavLM models (``native-hubert``,
   ``native-wavlm``) on MFCC k-means targets of the native corpus (``targets/``).
4. ``activations/``: every layer of every model for every stimulus.
5. ``derivatives/``: per-subject brain scores of every layer of every model (plus the
   planted stage features, the ground truth).
6. ``behaviour/``: ABX phone discrimination of every layer of every model (and of
   MFCCs) on a synthetic triphone item set (``brainscore_speech.behaviour``).
7. ``group/``, ``figures/``, ``report.html``: group statistics, hierarchy and regime
   maps, surface figures and the HTML report (with a behaviour section).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import layout
from .._io import check_output_dir, read_json, remove_stale_temps, write_json
from .._logging import logger
from .._logging import verbose as _verbose

__all__ = ["DemoConfig", "run_demo", "synth_corpus"]


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo (defaults finish in a few minutes on 2 CPU cores).

    Parameters
    ----------
    n_subjects : int
        Simulated participants (native language English). 6 by default: with 3,
        no vertex survives the group test (measured), so the maps would be empty.
    n_runs : int
        Runs per participant (one synthesised story section each).
    scans_per_run : int
        Scans per run (TR 2 s).
    corpus_minutes : float
        Minutes of audio in each training corpus.
    train_steps : int
        Updates of each trained tiny model.
    seed : int
        Seeds the corpora, the study, the models and the statistics.
    objectives : tuple of str
        Training objectives; ``"hubert"`` / ``"wavlm"`` add a native-speech model
        of that objective beside the four wav2vec 2.0 ones.
    """

    n_subjects: int = 6
    n_runs: int = 4
    scans_per_run: int = 100
    tr_s: float = 2.0
    corpus_minutes: float = 3.0
    train_steps: int = 300
    seed: int = 0
    language: str = "en"
    nonnative_language: str = "fr"
    objectives: tuple[str, ...] = ("wav2vec2",)

    def __post_init__(self):
        # validated here, before the demo writes corpora, a study or a model
        for name in ("n_subjects", "n_runs", "scans_per_run", "train_steps"):
            value = getattr(self, name)
            low = {"n_subjects": 2, "n_runs": 2, "scans_per_run": 1,
                   "train_steps": 0}[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"DemoConfig {name!r} must be an integer >= {low}, "
                                 f"got "
                                 f"{value!r}.")
        for name in ("tr_s", "corpus_minutes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DemoConfig {name!r} must be positive, got "
                                 f"{getattr(self, name)!r}.")
        # simulate_study needs 20 s of audio + 8 s of padding per run
        min_scans = math.ceil(28.0 / self.tr_s)
        if self.scans_per_run < min_scans:
            raise ValueError(f"DemoConfig 'scans_per_run' must be at least {min_scans} "
                             f"at TR {self.tr_s} s, got {self.scans_per_run}.")
        if self.language == self.nonnative_language:
            raise ValueError(f"DemoConfig 'nonnative_language' must differ from "
                             f"'language' ({self.language!r}).")


MODELS = {
    # model id -> (regime, corpus)
    "random": ("random", None),
    "sound": ("sound", "sound"),
    "nonnative": ("speech-{nonnative}", "speech-{nonnative}"),
    "native": ("speech-{native}", "speech-{native}"),
}


@contextlib.contextmanager
def _timed(name: str, timings: dict[str, float]):
    t0 = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - t0, 1)
    logger.info("Demo stage %r: %.1f s", name, timings[name])


def _stage_done(marker: Path, params: dict[str, Any]) -> bool:
    """The stage's record holds these params (a corrupt record: redo the stage)."""
    return layout.cached("demo", params, record=marker).fresh()


def _mark(marker: Path, params: dict[str, Any], t0: float) -> None:
    layout.cached("demo", params, record=marker).record(
        {"params": params, "seconds": round(time.perf_counter() - t0, 2)})


def synth_corpus(folder: str | os.PathLike, kind: str, language: str | None,
                 minutes: float, seed: int) -> Path:
    """Synthesise an offline corpus: ``FOLDER/audio/`` + ``FOLDER/manifest.tsv``.

    Parameters
    ----------
    folder : path
    kind : {"speech", "nonspeech"}
        espeak-ng speech in ``language`` or non-speech sounds.
    language : str or None
        Speech language (``en``, ``fr``, ``cmn``); unused for non-speech.
    minutes : float
        Minutes of audio.
    seed : int
        Seed of the sentence / voice / sound choices.

    Returns
    -------
    Path
        The manifest.
    """
    from ..data.synth import make_nonspeech_corpus, make_speech_corpus
    from ..training.dataset import build_manifest

    folder = Path(folder)
    audio = layout.corpus_audio(folder)
    if kind == "speech":
        make_speech_corpus(audio, language, minutes * 60, random_state=seed)
    else:
        make_nonspeech_corpus(audio, minutes * 60, random_state=seed)
    return build_manifest(audio, layout.corpus_manifest(folder))


def _build_corpora(out: Path, cfg: DemoConfig) -> dict[str, Path]:
    specs = {f"speech-{cfg.language}": ("speech", cfg.language, cfg.seed + 1),
             f"speech-{cfg.nonnative_language}": ("speech", cfg.nonnative_language,
                                                 cfg.seed + 2),
             "sound": ("nonspeech", None, cfg.seed + 3)}
    manifests = {}
    for name, (kind, language, seed) in specs.items():
        folder = layout.demo_part(out, "corpora", name)
        manifest = layout.corpus_manifest(folder)
        params = {"kind": kind, "language": language, "seed": seed,
                  "minutes": cfg.corpus_minutes}
        marker = layout.stage_marker(folder)
        if not _stage_done(marker, params):
            t0 = time.perf_counter()
            logger.info("Synthesising the %s corpus (%.1f min)", name,
                        cfg.corpus_minutes)
            synth_corpus(folder, kind, language, cfg.corpus_minutes, seed)
            _mark(marker, params, t0)
        manifests[name] = manifest
    return manifests


def _run_behaviour(out: Path, checkpoints: dict[str, Path], cfg: DemoConfig) -> Path:
    """ABX of every model (and MFCCs) on synthetic items; returns the folder."""
    import pandas as pd

    from .._io import atomic_path
    from ..behaviour import make_synthetic_abx, run_abx
    from ..plotting import plot_abx_profile

    folder = layout.demo_part(out, "behaviour")
    item_dir = layout.demo_part(out, "behaviour", "items")
    items = layout.abx_items(item_dir)
    params = {"seed": cfg.seed, "n_speakers": 3, "vowels": "aeiu", "consonants": "sm"}
    if not _stage_done(layout.stage_marker(folder, "items"), params):
        t0 = time.perf_counter()
        make_synthetic_abx(item_dir, n_speakers=3, vowels=("a", "e", "i", "u"),
                           consonants=("s", "m"), random_state=cfg.seed)
        _mark(layout.stage_marker(folder, "items"), params, t0)
    audio = layout.corpus_audio(item_dir)
    frames = [run_abx(items, layout.demo_part(out, "behaviour", model_id), model=ckpt,
                      audio=audio, model_id=model_id)
              for model_id, ckpt in checkpoints.items()]
    mfcc = run_abx(items, layout.demo_part(out, "behaviour", "mfcc"), baseline="mfcc",
                   audio=audio)
    scores = pd.concat([*frames, mfcc], ignore_index=True)
    with atomic_path(layout.abx_file(folder, "scores.tsv")) as tmp:
        scores.to_csv(tmp, sep="\t", index=False)
    plot_abx_profile(pd.concat(frames, ignore_index=True),
                     baselines={"MFCC": float(mfcc["error"].iloc[0])},
                     output_file=layout.abx_file(folder, "profile.png"))
    return folder
def _train_masked(out: Path, manifest: Path, objective: str, cfg: DemoConfig) -> Path:
    """A native-speech HuBERT / WavLM model on MFCC targets (K = 100)."""
    from ..training import build_targets, make_config, train

    targets = layout.demo_part(out, "targets", f"speech-{cfg.language}")
    params = {"manifest": str(manifest), "seed": cfg.seed, "n_clusters": 100}
    if not _stage_done(layout.stage_marker(targets), params):
        t0 = time.perf_counter()
        build_targets([manifest], targets, n_clusters=100, fraction=1.0,
                      seed=cfg.seed)
        _mark(layout.stage_marker(targets), params, t0)
    ckpt = layout.demo_part(out, "models", f"native-{objective}")
    tcfg = make_config(regime=f"speech-{cfg.language}", preset="tiny",
                       corpus=[str(manifest)], out=str(ckpt), seed=cfg.seed,
                       objective=objective, targets=str(targets),
                       max_steps=cfg.train_steps)
    done = layout.checkpoint_meta(ckpt)
    if done.is_file() and read_json(done).get("step") == tcfg.max_steps:
        logger.info("Model 'native-%s' already trained; skipping", objective)
    else:
        logger.info("Training the 'native-%s' model", objective)
        train(tcfg, resume=True)
    return ckpt


def _remove_demo_temps(out: Path) -> None:
    """Delete the ``.tmp-`` files a killed demo left in its own folders.

    Each stage cleans what it resumes, but a stage killed inside a write that
    the next run skips or redoes from scratch would otherwise keep its temp file.
    Only ``OUT`` itself and the demo's stage folders (:data:`layout.DEMO_PARTS`)
    are swept, never anything else a user keeps beside them.
    """
    removed = remove_stale_temps(out)
    for part in layout.DEMO_PARTS:
        removed += remove_stale_temps(layout.demo_part(out, part), recursive=True)
    if removed:
        logger.info("Removed %d temp file(s) left by an interrupted demo", len(removed))


def _simulate_stage(out: Path, study: Path, cfg: DemoConfig) -> None:
    """Simulate the study (skipped when its record matches the parameters)."""
    from .simulate import simulate_study

    sim_params = {"n_subjects": cfg.n_subjects, "n_runs": cfg.n_runs, "tr_s": cfg.tr_s,
                  "scans_per_run": cfg.scans_per_run, "seed": cfg.seed,
                  "language": cfg.language, "generator": "realistic"}
    if not _stage_done(layout.stage_marker(out, "simulate"), sim_params):
        t0 = time.perf_counter()
        logger.info("Simulating a %d-subject study on fsaverage5", cfg.n_subjects)
        simulate_study(study, n_subjects=cfg.n_subjects, n_runs=cfg.n_runs,
                       tr_s=cfg.tr_s, scans_per_run=cfg.scans_per_run,
                       seed=cfg.seed, language=cfg.language, task="listen",
                       generator="realistic")
        _mark(layout.stage_marker(out, "simulate"), sim_params, t0)


def _train_stage(out: Path, cfg: DemoConfig, manifests: dict[str, Path]
                 ) -> dict[str, Path]:
    """Train (or resume) the four tiny regime models and the masked-objective ones."""
    from ..training import make_config, train

    fmt = {"native": cfg.language, "nonnative": cfg.nonnative_language}
    checkpoints = {}
    for model_id, (regime, corpus) in MODELS.items():
        regime = regime.format(**fmt)
        ckpt = layout.demo_part(out, "models", model_id)
        corpora = [str(manifests[corpus.format(**fmt)])] if corpus else []
        tcfg = make_config(regime=regime, preset="tiny", corpus=corpora,
                           out=str(ckpt), seed=cfg.seed,
                           max_steps=cfg.train_steps if corpus else None)
        done = layout.checkpoint_meta(ckpt)
        if done.is_file() and read_json(done).get("step") == tcfg.max_steps:
            logger.info("Model %r already trained; skipping", model_id)
        else:
            logger.info("Training the %r model (regime %s)", model_id, regime)
            train(tcfg, resume=True)
        checkpoints[model_id] = ckpt
    for objective in cfg.objectives:
        if objective == "wav2vec2":
            continue
        checkpoints[f"native-{objective}"] = _train_masked(
            out, manifests[f"speech-{cfg.language}"], objective, cfg)
    return checkpoints


def _figures_stage(group: Path, figures_dir: Path) -> list[Path]:
    """Figures of the group outputs (skipped when the group outputs are unchanged)."""
    from ..plotting import make_figures

    fig_params = {"group": read_json(layout.group_file(group,
                                                       layout.GROUP_PROVENANCE))}
    marker = layout.stage_marker(figures_dir)
    if _stage_done(marker, fig_params):
        figures = [Path(p) for p in read_json(marker)["figures"]]
    else:
        t0 = time.perf_counter()
        figures = make_figures(group, figures_dir)
        _mark(marker, fig_params, t0)
        rec = read_json(marker)
        rec["figures"] = [str(p) for p in figures]
        write_json(marker, rec)
    return figures


@_verbose
def run_demo(out: str | os.PathLike = "demo_out", config: DemoConfig | None = None, *,
             verbose: bool | int | str | None = None) -> Path:
    """Run the whole pipeline on the embedded default and return the report's path.

    Parameters
    ----------
    out : path-like, default="demo_out"
        Output folder (created); re-running resumes finished stages.
    config : DemoConfig, optional
        Sizes; defaults finish in a few minutes on 2 CPU cores.
    verbose : bool, int, str or None

    Returns
    -------
    report : Path
        ``OUT/report.html``.
    """
    from ..analysis import run_group
    from ..features import extract_stimuli
    from ..plotting import make_report
    from .score import score_subject

    cfg = config or DemoConfig()
    out = check_output_dir(Path(out).resolve(), what="output folder")
    out.mkdir(parents=True, exist_ok=True)
    _remove_demo_temps(out)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    write_json(layout.demo_file(out, "config"), asdict(cfg))

    with _timed("corpora", timings):
        manifests = _build_corpora(out, cfg)

    study = layout.demo_part(out, "study")
    with _timed("simulate", timings):
        _simulate_stage(out, study, cfg)
    bids = layout.study_part(study, "bids")

    with _timed("train", timings):
        checkpoints = _train_stage(out, cfg, manifests)

    acts = {}
    with _timed("extract", timings):
        for model_id, ckpt in checkpoints.items():
            acts[model_id] = layout.demo_part(out, "activations", model_id)
            extract_stimuli(ckpt, layout.stimuli_dir(bids), acts[model_id],
                            model_id=model_id)
    with _timed("behaviour", timings):
        behaviour = _run_behaviour(out, checkpoints, cfg)
    # the planted stage features: scoring them shows what a perfect model would give
    acts["stages"] = layout.study_part(study, "activations", "stages")

    deriv = layout.demo_part(out, "derivatives")
    subjects = [f"{i:02d}" for i in range(1, cfg.n_subjects + 1)]
    with _timed("score", timings):
        for subject in subjects:
            for act_dir in acts.values():
                score_subject(bids, subject, act_dir, deriv, space="fsaverage5",
                              task="listen", language=cfg.language)

    group = layout.demo_part(out, "group")
    with _timed("group", timings):
        # few subjects: a Wilcoxon test's p-value floor (2 / 2**n) cannot survive
        # FDR and the best-layer selection correction, so the demo uses the
        # parametric one-sample t-test. With 3 subjects nothing survives even that
        # (measured: 0 significant vertices), hence 6 subjects by default.
        run_group(deriv, group, test="ttest", random_state=cfg.seed)
    figures_dir = layout.demo_part(out, "figures")
    with _timed("figures", timings):
        figures = _figures_stage(group, figures_dir)
        report = make_report(group, layout.report_file(out), figures=figures,
                             behaviour=behaviour)
    timings["total"] = round(time.perf_counter() - t_start, 1)
    write_json(layout.demo_file(out, "timings"), timings)
    logger.info("Demo finished in %.0f s (%s)", timings["total"],
                ", ".join(f"{k} {v:.0f} s" for k, v in timings.items() if k != "total"))
    return Path(report)
