"""Input checks whose messages name the parameter, the expectation and the value."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import UsageError

__all__ = [
    "check_option",
    "check_number",
    "check_scalar",
    "check_int",
    "check_path",
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


INCLUSIVE = ("both", "neither", "left", "right")
PATH_KINDS = ("file", "dir", "any")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, (bool, np.bool_))


def _range_text(low: float | None, high: float | None, inclusive: str,
                unit: str) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>=' if inclusive in ('both', 'left') else '>'} {low:g}{unit}")
    if high is not None:
        parts.append(f"{'<=' if inclusive in ('both', 'right') else '<'} "
                     f"{high:g}{unit}")
    return " and ".join(parts)


def _out_of_range(v: float, low: float | None, high: float | None,
                  inclusive: str) -> bool:
    low_closed = inclusive in ("both", "left")
    high_closed = inclusive in ("both", "right")
    bad_low = low is not None and (v < low if low_closed else v <= low)
    bad_high = high is not None and (v > high if high_closed else v >= high)
    return bad_low or bad_high


def check_scalar(name: str, value: Any, *, low: float | None = None,
                 high: float | None = None, inclusive: str = "both",
                 allow_none: bool = False, unit: str = "",
                 expected: str | None = None) -> Any:
    """Check that a real number lies in ``[low, high]`` (bounds as ``inclusive``).

    Parameters
    ----------
    name : str
        Parameter name as the user knows it (``'tr_s'``, ``'--alpha'``).
    value : int or float
        The value to check; booleans, strings, NaN and inf are refused.
    low, high : float, optional
        Bounds; ``None`` leaves that side open-ended.
    inclusive : {'both', 'neither', 'left', 'right'}
        Which bounds are allowed values (``'neither'``: ``low < value < high``).
    allow_none : bool
        Accept ``None`` (returned as is).
    unit : str
        Appended to each bound in the message (``" s"``, ``" Hz"``).
    expected : str, optional
        Words for what was expected, replacing the bounds in the message
        (``"positive"`` gives ``'tr_s' must be positive, got 0.``).

    Returns
    -------
    value : int or float
        ``value`` unchanged.

    Raises
    ------
    UsageError
        A ValueError (exit code 2 on the command line), one line naming the
        parameter, the expectation and the value:
        ``'alpha' must be > 0 and < 1, got 1.5.``
    """
    check_option("inclusive", inclusive, INCLUSIVE)
    if value is None and allow_none:
        return value
    if not _is_number(value) or not np.isfinite(float(value)):
        raise UsageError(f"{name!r} must be {expected or 'a finite number'}, "
                         f"got {value!r}.")
    if _out_of_range(float(value), low, high, inclusive):
        raise UsageError(f"{name!r} must be "
                         f"{expected or _range_text(low, high, inclusive, unit)}, "
                         f"got {value!r}.")
    return value


def check_int(name: str, value: Any, *, low: int | None = None,
              high: int | None = None, allow_none: bool = False,
              expected: str | None = None) -> int | None:
    """Check that ``value`` is an integer in ``[low, high]`` and return it as ``int``.

    Parameters
    ----------
    name : str
        Parameter name as the user knows it (``'n_scans'``, ``'--threads'``).
    value : int
        An ``int`` or numpy integer; an integer-valued float (``3.0``) is
        accepted, booleans and strings are not.
    low, high : int, optional
        Inclusive bounds.
    allow_none : bool
        Accept ``None`` (returned as is).
    expected : str, optional
        Words for what was expected, replacing ``an integer >= low`` in the
        message (``"a positive integer"``).

    Returns
    -------
    value : int or None
        ``int(value)`` (or ``None`` when allowed).

    Raises
    ------
    UsageError
        ``'n_scans' must be an integer >= 1, got 0.``
    """
    if value is None and allow_none:
        return value
    bounds = _range_text(low, high, "both", "")
    what = expected or ("an integer" + (f" {bounds}" if bounds else ""))
    if not _is_number(value) or not np.isfinite(float(value)) or \
            not float(value).is_integer() or \
            _out_of_range(float(value), low, high, "both"):
        raise UsageError(f"{name!r} must be {what}, got {value!r}.")
    return int(value)


def check_path(path: Any, name: str, *, must_exist: bool = True, kind: str = "file",
               what: str | None = None) -> Path:
    """Check a path parameter: its type, that it exists, and file versus folder.

    Parameters
    ----------
    path : str or os.PathLike
        The path to check.
    name : str
        Parameter name as the user knows it (``'mask_img'``, ``'--atlas'``).
    must_exist : bool
        Raise when the path does not exist. With ``False`` a missing path is
        accepted (an output to be written), an existing one must still be of
        ``kind``.
    kind : {'file', 'dir', 'any'}
        What the path must be when it exists.
    what : str, optional
        Words for the path in the messages (``"Brain mask"`` gives
        ``Brain mask not found: /x/mask.nii.gz``); default ``'name' file`` /
        ``'name' folder`` / ``'name'``.

    Returns
    -------
    path : pathlib.Path
        The path, user-expanded (``~``).

    Raises
    ------
    TypeError
        ``path`` is not a str or os.PathLike.
    FileNotFoundError
        ``must_exist`` and the path does not exist: ``<what> not found: <path>``.
    IsADirectoryError
        ``kind='file'`` and the path is a folder.
    NotADirectoryError
        ``kind='dir'`` and the path is a file.
    """
    check_option("kind", kind, PATH_KINDS)
    if not isinstance(path, (str, os.PathLike)) or isinstance(path, bytes):
        raise TypeError(f"{name!r} must be a path (str or os.PathLike), got "
                        f"{type(path).__name__}.")
    if what is None:
        what = {"file": f"{name!r} file", "dir": f"{name!r} folder",
                "any": repr(name)}[kind]
    p = Path(path).expanduser()
    if not p.exists():
        if must_exist:
            raise FileNotFoundError(f"{what} not found: {p}")
        return p
    if kind == "file" and p.is_dir():
        raise IsADirectoryError(f"{what} {p} is a folder, expected a file.")
    if kind == "dir" and not p.is_dir():
        raise NotADirectoryError(f"{what} {p} is a file, expected a folder.")
    return p


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


def check_unknown_keys(where: str, mapping: Mapping[str, Any],
                       valid: Iterable[str]) -> None:
    """Raise a ValueError naming the first unknown key and the nearest valid one."""
    valid = list(valid)
    for key in mapping:
        if key not in valid:
            raise ValueError(
                f"Unknown key {key!r} in {where}; valid keys are {sorted(valid)}."
                + suggest(key, valid)
            )
