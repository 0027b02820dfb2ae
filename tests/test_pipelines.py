"""The Snakemake workflow: dry runs on real LPP metadata, the demo config end to end."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "pipelines" / "Snakefile"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

pytestmark = pytest.mark.skipif(not SNAKEMAKE.exists(),
                                reason="snakemake is not installed (pip install "
                                       "'.[pipelines]')")


def _job_counts(output: str) -> dict[str, int]:
    block = output.split("Job stats:")[1]
    counts = {}
    for line in block.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def _stub_lpp_tree(shared_data: Path, dest: Path) -> Path:
    """A BIDS tree with LPP's real top-level metadata and sidecars, no imaging data."""
    src = shared_data / "lpp" / "openneuro_ds003643_sidecars"
    dest.mkdir(parents=True)
    for name in ("participants.tsv", "participants.json", "dataset_description.json"):
        shutil.copy(src / name, dest / name)
    for sub in src.glob("sub-*"):
        shutil.copytree(sub, dest / sub.name)
    corpora = dest / "corpora"
    corpora.mkdir()
    for name in ("audioset_nonspeech", "commonvoice_en", "commonvoice_fr",
                 "commonvoice_zh"):
        (corpora / f"{name}.tsv").write_text("/corpus/root\n")
    return dest


@pytest.mark.parametrize("lang, prefix, n_excluded", [("en", "EN", 0), ("fr", "FR", 0),
                                                        ("cn", "CN", 2)])
def test_lpp_dry_run_lists_per_subject_jobs(shared_data, tmp_path, lang, prefix,
                                            n_excluded):
    bids = _stub_lpp_tree(shared_data, tmp_path / "bids")
    participants = (bids / "participants.tsv").read_text(encoding="utf-8-sig")
    participants = participants.splitlines()
    subjects = [ln.split("\t")[0] for ln in participants[1:]
                if ln.startswith(f"sub-{prefix}")]
    proc = subprocess.run(
        [SNAKEMAKE, "-n", "-s", SNAKEFILE, "--configfile",
         ROOT / "pipelines" / "config" / f"lpp-{lang}.yaml", "--config",
         f"bids_root={bids}", f"out={tmp_path / 'out'}",
         f"corpora_dir={bids / 'corpora'}"],
        capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    counts = _job_counts(proc.stdout)
    n_models = 5
    n_subjects = len(subjects) - n_excluded
    assert counts["score"] == n_subjects * n_models
    assert counts["train"] == counts["extract"] == n_models
    assert counts["group"] == counts["report"] == 1
    for sub in subjects[:3]:
        name = f"{sub}_task-lpp{prefix}_space-fsaverage5_model-random_layerscores.npz"
        assert name in proc.stdout


@pytest.mark.slow
def test_demo_config_runs_with_two_cores(tmp_path):
    """The demo workflow (shrunk by --config) runs with --cores 2; outputs check out."""
    import yaml

    cfg = yaml.safe_load((ROOT / "pipelines" / "config" / "demo.yaml").read_text())
    cfg["out"] = str(tmp_path / "out")
    cfg["cli"] = str(Path(sys.executable).with_name("brainscore-speech"))
    cfg["simulate"].update(subjects=2, runs=3, scans_per_run=40)
    for spec in cfg["synth_corpora"].values():
        spec["minutes"] = 0.3
    for spec in cfg["models"].values():
        if "max_steps" in spec:
            spec["max_steps"] = 6
    small = tmp_path / "demo-small.yaml"
    small.write_text(yaml.safe_dump(cfg))
    cmd = [SNAKEMAKE, "-s", SNAKEFILE, "--configfile", small, "--cores", "2", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    log_dir = tmp_path / "out" / "logs"
    logs = "\n".join(p.read_text()[-2000:] for p in log_dir.glob("*.log")
                     ) if log_dir.is_dir() else ""
    assert proc.returncode == 0, proc.stderr[-4000:] + logs
    out = tmp_path / "out"
    for sub in ("01", "02"):
        for model in cfg["models"]:
            f = (out / "derivatives" / f"sub-{sub}" /
                 f"sub-{sub}_task-listen_space-fsaverage5_model-{model}_layerscores.npz")
            assert f.is_file(), f
    assert (out / "group" / "group_summary.tsv").is_file()
    assert "<h2>Brain scores</h2>" in (out / "report.html").read_text()
    assert list((out / "figures").glob("model-native_desc-bestlayer.png"))
    # a second invocation finds nothing to do: outputs are files, the workflow resumes
    proc = subprocess.run(cmd[:-1] + ["-n"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr


def test_public_models_config_extracts_hub_ids_without_training(tmp_path):
    """Hub ids / registry names in `models:` are extracted as they are (no training)."""
    proc = subprocess.run(
        [SNAKEMAKE, "-n", "-p", "-s", SNAKEFILE, "--configfile",
         ROOT / "pipelines" / "config" / "public.yaml", "--config",
         f"out={tmp_path / 'out'}"],
        capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    counts = _job_counts(proc.stdout)
    assert counts["train"] == 1  # only the random model
    assert counts["extract"] == 4 and counts["score"] == 6 * 4
    assert "extract --model wav2vec2-base " in proc.stdout
    assert "extract --model facebook/hubert-base-ls960@main " in proc.stdout
    assert "--layer-axis depth" in proc.stdout
