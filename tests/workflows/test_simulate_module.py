"""The simulator lives in workflows/; data.simulate is a lazy re-export."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_data_simulate_re_exports_the_workflow():
    import brainscore_speech.data.simulate as old
    import brainscore_speech.workflows.simulate as new

    for name in ("simulate_study", "SimulatedStudy", "STAGES", "GENERATORS", "MODES",
                 "compute_stage_features", "log_spectrogram", "make_procedural_speech"):
        assert getattr(old, name) is getattr(new, name), name
    assert "simulate_study" in dir(old)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        old.nope  # noqa: B018


def test_importing_data_simulate_does_not_import_workflows():
    code = ("import sys, brainscore_speech.data.simulate; "
            "print(any(m.startswith('brainscore_speech.workflows') "
            "for m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip() == "False"


def test_corpus_synth_uses_the_demo_code(tmp_path):
    from tests.conftest import run_cli

    code, out, err = run_cli(["corpus", "synth", tmp_path / "c", "--kind", "nonspeech",
                              "--minutes", "0.1", "--seed", "3"])
    assert code == 0, err
    manifest = tmp_path / "c" / "manifest.tsv"
    assert manifest.is_file() and str(manifest) in out
    from brainscore_speech.workflows.demo import synth_corpus

    again = synth_corpus(tmp_path / "d", "nonspeech", None, 0.1, 3)
    a = sorted(p.read_bytes() for p in (tmp_path / "c" / "audio").rglob("*.wav"))
    b = sorted(p.read_bytes() for p in (tmp_path / "d" / "audio").rglob("*.wav"))
    assert a and a == b
    assert again == tmp_path / "d" / "manifest.tsv"
