"""Policies against silent wrong success: NaN vertices, foreign audio, user files."""

from __future__ import annotations

import logging
import shutil

import nibabel as nib
import numpy as np
import pytest

from brainscore_speech.containers import LayerScores
from brainscore_speech.exceptions import BrainscoreWarning, DataError
from brainscore_speech.workflows._score_checks import check_score_inputs
from brainscore_speech.workflows.score import score_subject
from tests.conftest import run_cli

from .conftest import World, write_wav

pytestmark = pytest.mark.filterwarnings("ignore:.*edge of the grid")

FUNC = "bids/derivatives/fmriprep/sub-01/func"


def test_score_nan_vertices_excluded_with_a_counting_warning(world: World, tmp_path):
    root = shutil.copytree(world.study, tmp_path / "study")
    p = root / FUNC / "sub-01_task-listen_run-2_space-fsaverage5_hemi-R_bold.func.gii"
    img = nib.load(p)
    bad = [3, 50, 700, 701, 9000]
    for d in img.darrays[:4]:
        d.data[bad] = np.nan
    nib.save(img, p)
    with pytest.warns(BrainscoreWarning, match=r"sub-01 task-listen_run-2: 5 of 20484 "
                                               r"targets contain NaN/inf .*masked"):
        res = score_subject(root / "bids", "01", root / "activations/stages",
                            tmp_path / "d", layers=["stage1"])
    scores = LayerScores.load(res.layerscores).mean_scores[0]
    excluded = [10242 + i for i in bad]  # R comes after L
    assert np.isnan(scores[excluded]).all()
    assert np.isfinite(np.delete(scores, excluded)).all()


def test_score_audio_check(world: World, tmp_path, caplog):
    from brainscore_speech.containers import read_activation_meta

    acts = {p.stem: p for p in sorted(world.acts.glob("*.h5"))}
    metas = {k: read_activation_meta(p) for k, p in acts.items()}
    status = check_score_inputs(world.bids, tmp_path / "o", acts, metas)
    assert status == {"story01": "ok", "story02": "ok"}
    stages = {p.stem: p for p in sorted(world.stages.glob("*.h5"))}
    status = check_score_inputs(world.bids, tmp_path / "o", stages,
                                {k: read_activation_meta(p) for k, p in stages.items()})
    assert set(status.values()) == {"no audio hash"}  # planted features: no audio
    bare = tmp_path / "bids"
    bare.mkdir()
    with caplog.at_level(logging.INFO, logger="brainscore_speech"):
        status = check_score_inputs(bare, tmp_path / "o", acts, metas)
    assert set(status.values()) == {"no study audio"}
    assert "Could not check that 2 of 2 activation file(s) come from the study's " \
           "audio: no files under" in caplog.text
    other = shutil.copytree(world.bids / "stimuli", tmp_path / "b2" / "stimuli")
    write_wav(other / "story02.wav", 20.0, seed=7)
    with pytest.raises(DataError, match=r"story02.h5 was extracted from other audio "
                                        r"than the study's stimulus .*story02.wav"):
        check_score_inputs(tmp_path / "b2", tmp_path / "o", acts, metas)
    assert not (tmp_path / "o").exists()


def test_train_never_moves_a_user_file(world: World, tmp_path):
    user = tmp_path / "results.json"
    user.write_text('{"mine": true}\n')
    code, _, err = run_cli(["train", "--regime", "speech-en", "--preset", "tiny",
                            "--corpus", world.manifest, "--out", user,
                            "--max-steps", "1"])
    assert code == 2 and "is an existing file, not a checkpoint folder" in err
    assert user.read_text() == '{"mine": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_train_resume_in_empty_folder_says_it_starts_fresh(world: World, tmp_path,
                                                            caplog):
    from brainscore_speech.training import make_config
    from brainscore_speech.training._preflight import check_train_out

    cfg = make_config(regime="speech-en", preset="tiny", corpus=[str(world.manifest)],
                      out=str(tmp_path / "new"), max_steps=1)
    with caplog.at_level(logging.INFO, logger="brainscore_speech"):
        check_train_out(cfg, resume=True)
    assert "holds no checkpoint yet; starting a new run from step 0" in caplog.text
    random_cfg = make_config(regime="random", preset="tiny", out=str(tmp_path / "r"))
    assert random_cfg.max_steps == 0
    check_train_out(random_cfg, resume=False)  # an untrained model is what it asks


def test_manifest_skips_files_too_short_to_train_on(tmp_path, caplog):
    import soundfile as sf

    from brainscore_speech.training import build_manifest, read_manifest

    d = tmp_path / "audio"
    d.mkdir()
    sf.write(str(d / "click.wav"), np.zeros(1, np.float32), 16000)
    sf.write(str(d / "short.wav"), np.zeros(399, np.float32), 16000)
    write_wav(d / "ok.wav", 1.0)
    with caplog.at_level(logging.WARNING, logger="brainscore_speech"):
        m = build_manifest(d, tmp_path / "m.tsv")
    assert [e.path.name for e in read_manifest(m)] == ["ok.wav"]
    assert "Skipped 2 audio file(s)" in caplog.text and "0.025 s" in caplog.text
