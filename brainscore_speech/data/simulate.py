"""Moved: the simulator is a workflow, :mod:`brainscore_speech.workflows.simulate`.

This thin re-export keeps ``from brainscore_speech.data.simulate import ...``
working (tests, notebooks, user scripts). It resolves names lazily, so importing
the ``data`` layer does not import the ``workflows`` layer.
"""

from __future__ import annotations

from typing import Any

_MOVED = (
    "GENERATORS",
    "MODES",
    "STAGES",
    "SimulatedStudy",
    "compute_stage_features",
    "make_procedural_speech",
    "simulate_study",
    "log_spectrogram",
)


def __getattr__(name: str) -> Any:
    from ..workflows import simulate as _moved  # the one definition

    try:
        return getattr(_moved, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(_MOVED)
