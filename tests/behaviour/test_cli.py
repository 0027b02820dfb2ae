"""``abx`` and ``abx-humans`` through the CLI: outputs, resume, one-line errors."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from brainscore_speech.behaviour import (
    held_out_best_layer,
    make_synthetic_abx,
    read_items,
)

from ..conftest import run_cli


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("abx")
    items = make_synthetic_abx(root / "syn", n_speakers=2, vowels=("a", "i", "u"),
                               consonants=("s", "m"))
    return items, root / "syn" / "audio"


@pytest.fixture(scope="module")
def tiny_ckpt_abx(tmp_path_factory):
    from brainscore_speech.features import (
        make_random_model,
        make_tiny_config,
        save_hf_checkpoint,
    )

    return save_hf_checkpoint(make_random_model(make_tiny_config(), seed=0),
                              tmp_path_factory.mktemp("ck") / "tiny",
                              meta={"regime": "random", "language": None,
                                    "preset": "tiny", "seed": 0, "step": 0})


def _error_line(err):
    """The CLI's one-line error (log lines may precede it on stderr)."""
    lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, err
    assert err.rstrip().endswith(lines[0])
    return lines[0]


def _no_partial_files(folder):
    return not any(".tmp-" in p.name for p in folder.rglob("*"))


def test_abx_cli_model_writes_tidy_outputs_and_resumes(synthetic, tiny_ckpt_abx,
                                                       tmp_path):
    items, audio = synthetic
    out = tmp_path / "out"
    args = ["abx", "--model", tiny_ckpt_abx, "--items", items, "--audio", audio,
            "--out", out, "--layers", "conv3", "--layers", "transf0"]
    code, stdout, stderr = run_cli(args)
    assert code == 0, stderr
    assert "millet-dunbar" in stdout and "best" in stdout
    deltas = pd.read_csv(out / "abx_deltas.tsv", sep="\t")
    # the best layer also chosen on other contexts than it is scored on
    held = held_out_best_layer(deltas)[0]["error"].iloc[0]
    assert (f"(chosen on the other 'by' cells and scored on the held-out one: "
            f"{100 * held:.1f} %)") in stdout
    scores = pd.read_csv(out / "abx_scores.tsv", sep="\t")
    assert list(scores["layer"]) == ["conv3", "transf0"]
    assert set(scores["convention"]) == {"millet-dunbar"}
    n = int(scores["n_triplets"].iloc[0])
    assert len(deltas) == 2 * n
    np.testing.assert_allclose(deltas["delta"], deltas["d_oth_x"] - deltas["d_tgt_x"],
                               rtol=1e-12, atol=1e-12)
    for layer, g in deltas.groupby("layer"):
        np.testing.assert_allclose(
            scores.set_index("layer").loc[layer, "accuracy"], np.mean(g["delta"] > 0),
            rtol=1e-12)
    assert (out / "abx_profile.png").stat().st_size > 5000
    prov = (out / "abx_provenance.json").read_text()
    assert '"distance": "cosine"' in prov and '"normalization": "max_len"' in prov
    # a re-run reuses the extraction and the per-layer cache
    stamp = {p: p.stat().st_mtime_ns for p in (out / ".cache").iterdir()}
    h5 = {p: p.stat().st_mtime_ns for p in (out / "activations").glob("*.h5")}
    # ... and removes what a run killed inside a write left behind
    for p in (out / "abx_scores.tmp-k1.tsv", out / ".cache" / "abx-transf0.tmp-q.tsv"):
        p.write_text("half-written")
    code, _, stderr = run_cli(args + ["--no-figure"])
    assert code == 0, stderr
    assert {p: p.stat().st_mtime_ns for p in (out / ".cache").iterdir()} == stamp
    assert {p: p.stat().st_mtime_ns for p in (out / "activations").glob("*.h5")} == h5
    assert _no_partial_files(out)


def test_abx_cli_zerospeech_mfcc_and_item_context(synthetic, tmp_path):
    items, audio = synthetic
    code, stdout, stderr = run_cli(["abx", "--baseline", "mfcc", "--items", items,
                                    "--audio", audio, "--out", tmp_path / "m",
                                    "--distance", "angular", "--context", "item",
                                    "--by", "prev-phone", "--by", "next-phone"])
    assert code == 0, stderr
    assert "held-out" not in stdout  # one representation: no choice to make
    scores = pd.read_csv(tmp_path / "m" / "abx_scores.tsv", sep="\t")
    assert scores["convention"].iloc[0] == "zerospeech"
    # MFCCs separate the synthetic vowels across speakers well above chance
    assert scores["error"].iloc[0] < 0.3
    assert len(list((tmp_path / "m" / "item_audio").glob("*.wav"))) == \
        len(read_items(items))


def test_abx_cli_bad_inputs_one_line_errors(synthetic, tmp_path):
    items, audio = synthetic
    text = items.read_text().splitlines()
    # an item outside its file's duration
    bad = tmp_path / "long.item"
    first = text[1].split()
    first[2] = "9.0"
    bad.write_text("\n".join([text[0], " ".join(first), *text[2:]]) + "\n")
    out = tmp_path / "o1"
    code, _, err = run_cli(["abx", "--baseline", "mfcc", "--items", bad, "--audio",
                            audio, "--out", out])
    assert code == 1
    line = _error_line(err)
    assert "long.item, line 2" in line and "lies outside its file" in line
    assert not (out / "abx_deltas.tsv").exists()
    # an unknown phone column
    code, _, err = run_cli(["abx", "--baseline", "mfcc", "--items", items, "--audio",
                            audio, "--out", tmp_path / "o2", "--on", "vowel"])
    line = _error_line(err)
    assert code == 1 and "no column 'vowel' for 'on'" in line and "items.item" in line
    # a triplet naming a missing file
    audio2 = tmp_path / "audio2"
    shutil.copytree(audio, audio2)
    victim = read_items(items).table["file"].iloc[5]
    (audio2 / f"{victim}.wav").unlink()
    trip = tmp_path / "trip.csv"
    trip.write_text("triplet_id,TGT_item,OTH_item,X_item\nt0,0,1,2\nt1,0,1,5\n")
    code, _, err = run_cli(["abx", "--baseline", "mfcc", "--items", items, "--audio",
                            audio2, "--out", tmp_path / "o3", "--triplets", trip])
    assert code == 1, err
    err = _error_line(err)
    assert f"trip.csv, line 3: column 'X_item' names item '5', whose file " \
           f"'{victim}' is not in" in err
    assert not (tmp_path / "o3" / "abx_deltas.tsv").exists()
    # usage errors exit 2
    code, _, _ = run_cli(["abx", "--items", items])
    assert code == 2
    code, _, err = run_cli(["abx", "--items", items, "--out", tmp_path / "o4"])
    assert code == 1 and "exactly one of 'model', 'activations' or 'baseline'" in err


def test_abx_humans_cli_on_released_answers(shared_data, tmp_path):
    src = shared_data / "perceptimatic" / "cogsci2020_english" / "humans_and_model.csv"
    df = pd.read_csv(src)
    # a quick subset: 10 listeners
    sub = df[df["individual"].isin(sorted(df["individual"].unique())[:10])]
    path = tmp_path / "humans.csv"
    sub.to_csv(path, index=False)
    out = tmp_path / "cmp"
    code, stdout, stderr = run_cli(["abx-humans", "--humans", path, "--out", out,
                                    "--models", "mfccs", "--models", "dpgmm",
                                    "--n-boot", "3"])
    assert code == 0, stderr
    summary = pd.read_csv(out / "humans_summary.tsv", sep="\t")
    assert {"accuracy", "loglik", "spearman"} <= set(summary["metric"])
    assert (out / "model_vs_humans.png").stat().st_size > 5000
    assert (out / "humans_agreement.png").stat().st_size > 5000
    assert len(pd.read_csv(out / "humans_bootstrap.tsv", sep="\t")) == 3 * 3 * 2
    # missing columns: one line naming the file and the columns
    bad = tmp_path / "bad.csv"
    sub.drop(columns=["individual"]).to_csv(bad, index=False)
    code, _, err = run_cli(["abx-humans", "--humans", bad, "--out", tmp_path / "c2",
                            "--models", "mfccs"])
    err = _error_line(err)
    assert code == 1
    assert "bad.csv: missing required column(s) ['individual']" in err
    assert not (tmp_path / "c2" / "humans_summary.tsv").exists()


def test_abx_humans_cli_with_abx_deltas(tmp_path, synthetic):
    """Deltas from an ``abx`` run are matched to human answers by triplet id."""
    items, audio = synthetic
    from brainscore_speech.behaviour import make_triplets

    task = make_triplets(read_items(items), by=["prev-phone"], max_triplets=16,
                         random_state=0)
    trip = tmp_path / "trip.csv"
    pd.DataFrame({"triplet_id": [f"EN{k}" for k in range(len(task))],
                  "TGT_item": task["tgt"], "OTH_item": task["oth"],
                  "X_item": task["x"]}).to_csv(trip, index=False)
    code, _, err = run_cli(["abx", "--baseline", "mfcc", "--items", items, "--audio",
                            audio, "--out", tmp_path / "a", "--triplets", trip])
    assert code == 0, err
    rng = np.random.default_rng(0)
    rows = []
    for k, rec in task.iterrows():
        for listener in range(3):
            ans = int(rng.choice([-3, -1, 1, 2, 3]))
            rows.append({"filename": f"EN{k}", "individual": str(listener),
                         "correct_answer": ans, "binarized_answer": 1 if ans > 0
                         else -1, "TGT_first_code": int(rng.integers(2)),
                         "nb_stimuli": int(rng.integers(1, 50)),
                         "TGT": rec["on_tgt"], "OTH": rec["on_oth"],
                         "prev_phone": rec["by"], "next_phone": "-"})
    humans = tmp_path / "h.csv"
    pd.DataFrame(rows).to_csv(humans, index=False)
    code, stdout, err = run_cli(["abx-humans", "--humans", humans, "--deltas",
                                 tmp_path / "a", "--out", tmp_path / "c", "--n-boot",
                                 "2", "--no-figure"])
    assert code == 0, err
    summary = pd.read_csv(tmp_path / "c" / "humans_summary.tsv", sep="\t")
    assert set(summary["model"]) == {"mfcc:mfcc"}


def test_abx_item_file_cannot_escape_the_activation_folder(tmp_path):
    act = tmp_path / "act"
    act.mkdir()
    items = tmp_path / "x.item"
    items.write_text("#file onset offset #phone speaker\n../../etc/passwd 0 1 a s\n"
                     "f1 0 1 b s\nf2 0 1 a t\n")
    trip = tmp_path / "t.csv"
    trip.write_text("TGT_item,OTH_item,X_item\n0,1,2\n")
    code, _, err = run_cli(["abx", "--activations", act, "--items", items, "--out",
                            tmp_path / "o", "--triplets", trip, "--by", "speaker"])
    assert code == 1 and "'..' is not allowed" in _error_line(err)
