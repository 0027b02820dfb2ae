"""Input checks whose messages name the parameter, the expectation and the value."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .exceptions import UsageError

__all__ = [
    "check_option",
    "check_number",
    "check_device",
    "check_type",
    "check_shapes",
    "check_finite",
    "check_n_samples",
    "check_random_state",
    "check_unknown_keys",
    "suggest",
]


def suggest(value: Any, options: Iterable[Any]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest option, or ``""``."""
    options = [str(o) for o in options]
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``allowed`` and return it.

    Raises
    ------
    UsageError
        A ValueError (exit code 2 on the command line):
        ``'hrf_model' must be one of ['glover', 'spm'], got 'spn'. Did you mean 'spm'?``
    """
    allowed = list(allowed)
    if value not in allowed:
        raise UsageError(
            f"{name!r} must be one of {allowed}, got {value!r}."
            + suggest(value, allowed)
        )
    return value


def check_number(name: str, value: Any, *, low: float | None = None,
                 high: float | None = None, low_open: bool = False,
                 high_open: bool = False, integer: bool = False,
                 allow_none: bool = False, unit: str = "") -> Any:
    """Check that a numeric parameter lies in its range and return it.

    Parameters
    ----------
    name : str
        Parameter name as the user knows it (``'tr_s'`` or ``'--tr'``).
    value : int or float
    low, high : float, optional
        Bounds, inclusive unless ``low_open`` / ``high_open`` (``> 0``, ``< 1``).
    integer : bool
        Also require an integer.
    allow_none : bool
        Accept ``None`` (returned as is).
    unit : str
        Appended to the bound in the message (``" s"``).

    Raises
    ------
    UsageError
        A ValueError (exit code 2 on the command line), e.g.
        ``'tr_s' must be > 0 s, got 0.``
    """
    if value is None and allow_none:
        return value
    is_num = isinstance(value, (int, float, np.integer, np.floating)) and not \
        isinstance(value, bool)
    if not is_num or (integer and not float(value).is_integer()) or \
            not np.isfinite(float(value)):
        kind = "an integer" if integer else "a finite number"
        raise UsageError(f"{name!r} must be {kind}, got {value!r}.")
    v = float(value)
    bad_low = low is not None and (v <= low if low_open else v < low)
    bad_high = high is not None and (v >= high if high_open else v > high)
    if bad_low or bad_high:
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}{unit}")
        if high is not None:
            parts.append(f"{'<' if high_open else '<='} {high:g}{unit}")
        raise UsageError(f"{name!r} must be {' and '.join(parts)}, got {value!r}.")
    return value


def check_device(name: str, value: Any, *, allow_auto: bool = False) -> Any:
    """Check a torch device string (``cpu``, ``cuda``, ``cuda:1``; ``auto``).

    Raises
    ------
    UsageError
        ``'device' must be 'cpu', 'cuda' or 'cuda:<index>', got 'tpu'.``
    """
    import re

    pattern = r"cpu|cuda(:\d+)?|mps" + ("|auto" if allow_auto else "")
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        auto = ", 'auto'" if allow_auto else ""
        raise UsageError(f"{name!r} must be 'cpu', 'cuda' or 'cuda:<index>'{auto}, "
                         f"got {value!r}.")
    return value


def check_type(name: str, value: Any, types: type | tuple[type, ...]) -> Any:
    """Check ``isinstance(value, types)`` and return ``value``."""
    if not isinstance(value, types):
        types_t = types if isinstance(types, tuple) else (types,)
        names = " or ".join(t.__name__ for t in types_t)
        raise TypeError(
            f"{name!r} must be an instance of {names}, got {type(value).__name__}."
        )
    return value


def check_shapes(
    *, ndim: int | None = None, axis: int = 0, what: str = "samples", **arrays: Any
) -> int:
    """Check that the arrays share their length along ``axis``; return it.

    The message prints every shape, e.g. ``X and Y must have the same number
    of samples (TRs); got X: (300, 768), Y: (298, 20484).``
    """
    shapes = {k: np.shape(v) for k, v in arrays.items()}
    if ndim is not None:
        for k, s in shapes.items():
            if len(s) != ndim:
                raise ValueError(
                    f"{k!r} must be a {ndim}-D array, got shape {s}."
                )
    lengths = {k: s[axis] if len(s) > axis else None for k, s in shapes.items()}
    if len(set(lengths.values())) > 1:
        names = " and ".join(shapes)
        got = ", ".join(f"{k}: {s}" for k, s in shapes.items())
        raise ValueError(
            f"{names} must have the same number of {what}; got {got}."
        )
    return next(iter(lengths.values())) if lengths else 0


def check_n_samples(name: str, array: Any, min_samples: int = 1) -> None:
    """Raise when ``array`` has fewer than ``min_samples`` rows."""
    n = np.shape(array)[0] if np.ndim(array) else 0
    if n < min_samples:
        raise ValueError(
            f"{name!r} must have at least {min_samples} sample(s), got shape "
            f"{np.shape(array)}."
        )


def check_finite(name: str, array: Any) -> np.ndarray:
    """Raise when ``array`` holds NaN or inf; say how many and where."""
    arr = np.asarray(array)
    if arr.dtype.kind in "fc":
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = tuple(int(i[0]) for i in np.nonzero(bad))
            raise ValueError(
                f"{name!r} contains {int(bad.sum())} non-finite value(s) (NaN or "
                f"inf), first at index {idx}; shape {arr.shape}."
            )
    return arr


def check_random_state(random_state: Any) -> np.random.Generator:
    """Turn an int, a Generator or None into a ``numpy.random.Generator``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(random_state)
    raise TypeError(
        "'random_state' must be an int, a numpy Generator or None, got "
        f"{type(random_state).__name__}."
    )


def check_unknown_keys(where: str, mapping: Mapping[str, Any], valid: Iterable[str]) -> None:
    """Raise a ValueError naming the first unknown key and the nearest valid one."""
    valid = list(valid)
    for key in mapping:
        if key not in valid:
            raise ValueError(
                f"Unknown key {key!r} in {where}; valid keys are {sorted(valid)}."
                + suggest(key, valid)
            )
