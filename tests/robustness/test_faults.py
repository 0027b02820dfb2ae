"""Fault injection: SIGKILL at seeded random points, re-run, compare; full disk.

For ``train`` (tiny, re-run with ``--resume``), ``extract``, ``score``, ``group``
and ``demo``: each is killed at ``N_KILLS`` random moments of an uninterrupted
run's duration (seeded), re-run, and its outputs compared with the uninterrupted
run's: byte-identical files, or bitwise-equal arrays where a file embeds a
timestamp (provenance). No temp file may be left and no finished piece (an
activation file, a cached layer fit, a complete group output, a checkpoint) may
be redone. ``BSS_FAULT_KILLS`` sets the number of kill points (default 10). The
demo's test runs only with ``BSS_DEMO_KILLS=N``: even at 2 subjects x 2 runs one
uninterrupted demo takes 3-15 min on 2 shared cores (figures dominate), too long
for the suite.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli

from ._faults import kill_and_resume, run_job, temp_leftovers
from .conftest import World, write_wav

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

N_KILLS = int(os.environ.get("BSS_FAULT_KILLS", "10"))
N_DEMO_KILLS = int(os.environ.get("BSS_DEMO_KILLS", "0"))
REPORTS: dict[str, dict] = {}


def _fresh_factory(tmp_path: Path, name: str):
    counter = iter(range(10**6))

    def fresh() -> Path:
        d = tmp_path / f"{name}{next(counter)}"
        d.mkdir(parents=True)
        return d / "out"

    return fresh


def _fingerprint(paths) -> dict:
    return {str(p.name): (p.stat().st_ino, p.stat().st_mtime_ns) for p in paths}


def _arrays_equal(a: Path, b: Path) -> None:
    za, zb = np.load(a), np.load(b)
    keys = [k for k in za.files if k != "__meta__"]
    assert keys == [k for k in zb.files if k != "__meta__"], a
    for k in keys:
        np.testing.assert_array_equal(za[k], zb[k], err_msg=f"{a.name}:{k}")


def _gifti_equal(a: Path, b: Path) -> None:
    import nibabel as nib

    for da, db in zip(nib.load(a).darrays, nib.load(b).darrays):
        np.testing.assert_array_equal(da.data, db.data, err_msg=a.name)


def _h5_equal(a: Path, b: Path) -> None:
    import h5py

    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        assert names_a == names_b, a
        for n in names_a:
            if isinstance(fa[n], h5py.Dataset):
                np.testing.assert_array_equal(fa[n][()], fb[n][()], err_msg=n)
        for k in fa.attrs:
            if k == "provenance":  # holds the creation time
                pa, pb = json.loads(fa.attrs[k]), json.loads(fb.attrs[k])
                for d in (pa, pb):
                    d.pop("created")
                assert pa == pb
            else:
                assert fa.attrs[k] == fb.attrs[k], k


_TIMESTAMPED = ("provenance.json", "_checksums.json", "layerscores.json",
                "groupmap.json", "hierarchymap.json")


def _untimed(obj):
    """``obj`` without its provenance timestamps (``created`` keys)."""
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if k != "created"}
    if isinstance(obj, list):
        return [_untimed(v) for v in obj]
    return obj


def compare_trees(ref: Path, got: Path, *, skip=()) -> int:
    """Every file of ``ref`` is in ``got`` with the same content; return the count."""
    files = sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file()
                   and not any(s in str(p.relative_to(ref)) for s in skip))
    got_files = sorted(p.relative_to(got) for p in got.rglob("*") if p.is_file()
                       and not any(s in str(p.relative_to(got)) for s in skip))
    assert files == got_files, set(files) ^ set(got_files)
    for rel in files:
        a, b = ref / rel, got / rel
        name = rel.name
        if name.endswith(".npz"):
            _arrays_equal(a, b)
        elif name.endswith(".gii"):
            _gifti_equal(a, b)
        elif name.endswith(".h5"):
            _h5_equal(a, b)
        elif name.endswith(_TIMESTAMPED) or name.endswith(".log"):
            continue  # timestamps; their arrays/fields are compared elsewhere
        elif name.endswith(".json"):  # other JSON: equal but for "created" stamps
            assert (_untimed(json.loads(a.read_text().replace(str(ref), "<OUT>")))
                    == _untimed(json.loads(b.read_text().replace(str(got), "<OUT>")))
                    ), rel
        else:
            # a file may record where its job wrote (an activation index names the
            # model folder under the output): the two runs' roots differ
            assert (a.read_bytes().replace(str(ref).encode(), b"<OUT>")
                    == b.read_bytes().replace(str(got).encode(), b"<OUT>")), rel
    return len(files)


def _reference(job: str, argv, out: Path) -> float:
    code, seconds = run_job(argv, out.parent / "ref.log")
    assert code == 0, (out.parent / "ref.log").read_text()[-3000:]
    return seconds


def _record(report, n_files: int) -> None:
    REPORTS[report.job] = {"full_s": round(report.full_s, 2),
                           "kill_points_s": report.points_s,
                           "n_killed_mid_run": report.n_killed,
                           "finished_pieces_kept": report.reused,
                           "files_compared": n_files}
    print(f"\n{report.job}: {json.dumps(REPORTS[report.job])}")


# ------------------------------------------------------------------- extract
def test_kill_extract(world: World, tmp_path):
    stim = tmp_path / "stim"
    for i in range(4):
        write_wav(stim / f"s{i}.wav", 3.0, seed=i)

    def argv(out):
        return ["extract", "--model", world.ckpt, "--stimuli", stim, "--out", out,
                "--window-s", "2", "--stride-s", "1"]

    ref = tmp_path / "ref" / "out"
    ref.parent.mkdir()
    full = _reference("extract", argv(ref), ref)
    n = {}

    def check(out, before, log):
        n["files"] = compare_trees(ref, out)

    report = kill_and_resume(
        "extract", argv, _fresh_factory(tmp_path, "k"), n_points=N_KILLS, seed=1,
        full_s=full, check=check,
        finished=lambda out: _fingerprint(p for p in out.glob("*.h5")
                                          if ".tmp-" not in p.name))
    _record(report, n["files"])
    assert report.n_killed >= 1


# --------------------------------------------------------------------- score
def test_kill_score(world: World, tmp_path):
    def argv(out):
        return ["score", world.bids, "--subject", "01", "--activations", world.stages,
                "--out", out, "--layers", "stage1", "--layers", "stage2",
                "--layers", "stage3"]

    ref = tmp_path / "ref" / "out"
    ref.parent.mkdir()
    full = _reference("score", argv(ref), ref)
    n = {}

    def check(out, before, log):
        n["files"] = compare_trees(ref, out, skip=(".cache",))

    report = kill_and_resume(
        "score", argv, _fresh_factory(tmp_path, "k"), n_points=N_KILLS, seed=2,
        full_s=full, check=check,
        finished=lambda out: _fingerprint(p for p in out.glob("sub-01/.cache/*.npz")
                                          if ".tmp-" not in p.name))
    _record(report, n["files"])
    assert report.n_killed >= 1


# --------------------------------------------------------------------- group
def test_kill_group(world: World, tmp_path):
    def argv(out):
        return ["group", world.deriv, "--out", out, "--n-permutations", "16"]

    ref = tmp_path / "ref" / "out"
    ref.parent.mkdir()
    full = _reference("group", argv(ref), ref)
    n = {}

    def finished(out):
        done = (out / "group_provenance.json").is_file() and \
            (out / "group_checksums.json").is_file()
        return _fingerprint(p for p in out.rglob("*") if p.is_file()) if done else {}

    def check(out, before, log):
        n["files"] = compare_trees(ref, out)

    report = kill_and_resume("group", argv, _fresh_factory(tmp_path, "k"),
                             n_points=N_KILLS, seed=3, full_s=full, check=check,
                             finished=finished)
    _record(report, n["files"])
    assert report.n_killed >= 1


# --------------------------------------------------------------------- train
def test_kill_train(world: World, tmp_path):
    def argv(out):
        return ["train", "--regime", "speech-en", "--preset", "tiny", "--corpus",
                world.manifest, "--out", out, "--max-steps", "6",
                "--checkpoint-every", "2", "--batch-seconds", "4",
                "--micro-batch-seconds", "4", "--seed", "1", "--device", "cpu"]

    ref = tmp_path / "ref" / "out"
    ref.parent.mkdir()
    full = _reference("train", argv(ref), ref)
    n = {}

    def finished(out):
        meta = out / "brainscore_speech.json"
        return {"_step": json.loads(meta.read_text())["step"]} if meta.is_file() else {}

    def check(out, before, log):
        step = before.get("_step")
        if step is not None and step < 6:
            # resumed from the checkpoint on disk at the kill, not restarted
            assert re.search(rf"Resuming .* at step\s+{step}\b", log, re.S), log[-2000:]
        assert (out / "model.safetensors").read_bytes() == \
            (ref / "model.safetensors").read_bytes()
        for name in ("model.safetensors", "config.json", "preprocessor_config.json"):
            assert (out / "best" / name).read_bytes() == \
                (ref / "best" / name).read_bytes()
        strip = ("ms_per_step", "time", "elapsed_s", "seconds", "wall_s")

        def records(d):
            return [{k: v for k, v in json.loads(line).items()
                     if not any(s in k for s in strip)}
                    for line in (d / "metrics.jsonl").read_text().splitlines()]

        assert records(out) == records(ref)
        a, b = (json.loads((d / "brainscore_speech.json").read_text())
                for d in (out, ref))
        for d in (a, b):
            d.pop("provenance")
            d["config"].pop("out")  # the folders differ
        assert a == b
        n["files"] = 3 + 3 + 2

    report = kill_and_resume(
        "train", argv, _fresh_factory(tmp_path, "k"), n_points=N_KILLS, seed=4,
        full_s=full, check=check, finished=finished,
        resume_argv_for=lambda out: [*argv(out), "--resume"])
    _record(report, n["files"])
    assert report.n_killed >= 1


# ---------------------------------------------------------------------- demo
@pytest.mark.skipif(N_DEMO_KILLS < 1, reason="minutes per demo run; set "
                    "BSS_DEMO_KILLS=N to kill the demo at N points")
def test_kill_demo(tmp_path):
    args = ["--subjects", "2", "--runs", "2", "--train-steps", "2"]

    def argv(out):
        return ["-q", "demo", out, *args]

    ref = tmp_path / "ref" / "out"
    ref.parent.mkdir()
    full = _reference("demo", argv(ref), ref)
    n = {}

    def finished(out):
        return _fingerprint(p for p in out.rglob(".*.done.json"))

    def check(out, before, log):
        n["files"] = compare_trees(
            ref, out, skip=(".png", ".html", ".cache", ".done.json", "metrics.jsonl",
                            "brainscore_speech.json", "demo_timings", ".h5"))

    report = kill_and_resume("demo", argv, _fresh_factory(tmp_path, "k"),
                             n_points=N_DEMO_KILLS, seed=5, full_s=full, check=check,
                             finished=finished)
    _record(report, n["files"])
    assert report.n_killed >= 1


# ----------------------------------------------------------------- full disk
def _enospc_after(monkeypatch, n_ok: int) -> None:
    """``os.replace`` (every atomic write's commit) fails after ``n_ok`` calls."""
    real, calls = os.replace, {"n": 0}

    def replace(src, dst, *a, **k):
        calls["n"] += 1
        if calls["n"] > n_ok:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)


def _tree_bytes(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("n_ok", [0, 3])
@pytest.mark.parametrize("job", ["score", "group", "extract", "train"])
def test_full_disk_injected(world: World, tmp_path, monkeypatch, job, n_ok):
    """An ENOSPC on write fails in one line and leaves the previous outputs intact."""
    if job == "score":
        out = shutil.copytree(world.deriv, tmp_path / "out")
        args = ["score", world.bids, "--subject", "01", "--activations", world.stages,
                "--out", out, "--layers", "stage1", "--force"]
    elif job == "group":
        out = shutil.copytree(world.group, tmp_path / "out")
        args = ["group", world.deriv, "--out", out, "--overwrite",
                "--n-permutations", "16"]
    elif job == "extract":
        out = shutil.copytree(world.acts, tmp_path / "out")
        args = ["extract", "--model", world.ckpt, "--stimuli", world.bids / "stimuli",
                "--out", out, "--layers", "conv6", "--layers", "transf0",
                "--window-s", "4", "--stride-s", "2", "--overwrite"]
    else:  # a new run: a checkpoint is complete or absent, never half-written
        out = tmp_path / "out"
        args = ["train", "--regime", "speech-en", "--preset", "tiny", "--corpus",
                world.manifest, "--out", out, "--max-steps", "2", "--batch-seconds",
                "4", "--micro-batch-seconds", "4", "--checkpoint-every", "1"]
    before = _tree_bytes(out) if out.exists() else {}
    _enospc_after(monkeypatch, n_ok)
    code, _, err = run_cli(args)
    monkeypatch.undo()
    assert code == 1, err
    lines = [ln for ln in err.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and "No space left on device" in lines[0], err
    assert "Traceback" not in err
    assert not temp_leftovers(tmp_path), temp_leftovers(tmp_path)
    after = _tree_bytes(out) if out.exists() else {}
    if job == "train" and after:
        assert {"model.safetensors", "brainscore_speech.json",
                "train_state/state.pt"} <= set(after), sorted(after)
    # every file is either untouched or a complete new version (renamed in whole);
    # no file of the previous outputs is lost or truncated
    assert set(before) <= set(after), set(before) - set(after)
    if n_ok == 0:
        assert after == before


def _mount_tmpfs(path: Path, size: str) -> bool:
    import subprocess

    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                          str(path)], capture_output=True)
    return res.returncode == 0


def test_full_disk_real_tmpfs(world: World, tmp_path):
    """A really full file system (a small tmpfs, where the machine allows one)."""
    import subprocess

    mnt = tmp_path / "mnt"
    if not _mount_tmpfs(mnt, "4m"):
        pytest.skip("cannot mount a tmpfs here (not root or no mount permission); "
                    "test_full_disk_injected covers ENOSPC by injection")
    try:
        out = mnt / "deriv"
        args = ["score", world.bids, "--subject", "01", "--activations", world.stages,
                "--out", out, "--layers", "stage1"]
        code, _, err = run_cli(args)
        assert code == 0, err
        before = _tree_bytes(out)
        filler = mnt / "filler"
        with open(filler, "wb") as f:  # fill the disk to the last block
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError as e:
                assert e.errno == errno.ENOSPC
        code, _, err = run_cli([*args, "--force"])
        assert code == 1, err
        lines = [ln for ln in err.splitlines() if ln.startswith("Error")]
        assert len(lines) == 1 and "No space left on device" in lines[0], err
        assert "Traceback" not in err
        assert not temp_leftovers(out)
        assert _tree_bytes(out) == before
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
