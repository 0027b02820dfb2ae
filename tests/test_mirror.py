"""Tests mirror the package: every module of ``brainscore_speech`` has a test module.

The rule: ``brainscore_speech/<pkg>/<name>.py`` (or ``_<name>.py``) is tested in
``tests/<pkg>/test_<name>.py``; a top-level module ``brainscore_speech/<name>.py``
in ``tests/foundation/test_<name>.py``. Where the tests of a module live elsewhere
(CLI tests beside their workflow, a module tested with its neighbour), COVERED_BY
names the test files, and each one must reference the module (its dotted path, its
name as a word, or one of its ``__all__`` names).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "brainscore_speech"
TESTS = Path(__file__).resolve().parent

COVERED_BY = {
    "__main__.py": ["foundation/test_exceptions.py"],
    # analysis: modules tested together with the stage that uses them
    "analysis/ceiling.py": ["analysis/test_regimes_ceiling.py"],
    "analysis/regimes.py": ["analysis/test_regimes_ceiling.py"],
    "analysis/collect.py": ["analysis/test_hierarchy.py"],
    "analysis/group.py": ["analysis/test_roi_group.py"],
    "analysis/roi.py": ["analysis/test_roi_group.py"],
    "analysis/nullsim.py": ["analysis/test_validity.py"],
    "analysis/selection.py": ["analysis/test_stats.py"],
    "analysis/synthetic.py": ["analysis/test_hierarchy.py", "analysis/test_stats.py"],
    # behaviour
    "behaviour/fastabx_backend.py": ["behaviour/test_fastabx.py"],
    "behaviour/run.py": ["behaviour/test_cli.py", "behaviour/test_real_speech.py"],
    "behaviour/synthetic.py": ["behaviour/test_baselines.py"],
    # CLI modules: tested beside their workflow
    "cli/_abx.py": ["behaviour/test_cli.py"],
    "cli/_app.py": ["foundation/test_app.py"],
    "cli/_choices.py": ["foundation/test_cli_choices.py"],
    "cli/_data.py": ["data/test_cli_data.py"],
    "cli/_demo.py": ["workflows/test_demo.py", "training/test_demo_objectives.py"],
    "cli/_extract.py": ["features/test_cli.py"],
    "cli/_group.py": ["analysis/test_roi_group.py", "plotting/test_figures_report.py"],
    "cli/_models.py": ["features/test_hub.py", "features/test_convert.py"],
    "cli/_score.py": ["workflows/test_score.py"],
    "cli/_simulate.py": ["data/test_simulate.py"],
    "workflows/simulate.py": ["data/test_simulate.py",
                              "workflows/test_simulate_module.py"],
    "cli/_train.py": ["training/test_cli_train.py"],
    "cli/_verify.py": ["foundation/test_integrity.py"],
    "data/_generative.py": ["data/test_simulate.py"],
    "data/audio.py": ["foundation/test_audio.py"],
    "plotting/behaviour.py": ["behaviour/test_plotting.py"],
    "plotting/profiles.py": ["plotting/test_plotting.py"],
    "plotting/surface.py": ["plotting/test_plotting.py", "plotting/test_volume.py"],
    "plotting/report.py": ["plotting/test_figures_report.py"],
    "training/_preflight.py": ["robustness/test_policies.py"],
    "training/checkpoint.py": ["training/test_cli_train.py", "training/test_loop.py"],
    "workflows/_score_checks.py": ["robustness/test_policies.py"],
}

# modules exercised only through another module (which must use them)
THROUGH = {
    # runs in the fastabx interpreter, started by fastabx_backend (test_fastabx.py)
    "behaviour/_fastabx_worker.py": "behaviour/fastabx_backend.py",
}


def _modules() -> list[str]:
    return sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
                  if p.name != "__init__.py" and "__pycache__" not in p.parts)


def _own_test(rel: str) -> Path:
    parts = Path(rel).parts
    folder = TESTS / (parts[0] if len(parts) > 1 else "foundation")
    return folder / f"test_{Path(rel).stem.lstrip('_')}.py"


def _all_names(path: Path) -> list[str]:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "__all__" for t in node.targets):
            try:
                return [str(v) for v in ast.literal_eval(node.value)]
            except ValueError:
                return []
    return []


def test_every_module_has_a_test_module():
    missing = [rel for rel in _modules() if not _own_test(rel).is_file()
               and rel not in COVERED_BY and rel not in THROUGH]
    assert not missing, f"modules without tests/<pkg>/test_<name>.py: {missing}"


def test_covered_by_entries_are_real():
    for rel, tests in COVERED_BY.items():
        module = PKG / rel
        assert module.is_file(), f"COVERED_BY names a module that is gone: {rel}"
        dotted = "brainscore_speech." + rel[:-3].replace("/", ".")
        words = [Path(rel).stem.lstrip("_"), *_all_names(module)]
        if rel == "__main__.py":
            words = ['"-m", "brainscore_speech"']
        for t in tests:
            text = (TESTS / t).read_text()
            assert dotted in text or any(
                re.search(rf"(?<![\w.]){re.escape(w)}(?!\w)", text) for w in words), \
                f"{t} does not reference {rel}"


def test_through_entries_are_real():
    for rel, user in THROUGH.items():
        assert (PKG / rel).is_file() and user in COVERED_BY or _own_test(user).is_file()
        assert Path(rel).stem in (PKG / user).read_text(), f"{user} does not use {rel}"
