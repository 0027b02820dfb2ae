"""Item and triplet files of ABX discrimination tasks.

Item file (the ZeroSpeech ``.item`` format; whitespace-separated, header first)::

    #file onset offset #phone prev-phone next-phone speaker
    s2801a 0.4213 0.6702 a b k F01

Leading ``#`` of column names are dropped (``#phone`` -> ``phone``). ``.tsv`` and
``.csv`` tables with the same columns are read too (the Perceptimatic
``all_aligned_clean_*.csv`` files are tab-separated). An optional ``index`` or
``item`` column names the items (default: the 0-based row number). ``onset`` and
``offset`` are seconds from the start of ``file``, the audio file's stem.

The virtual column ``context`` is ``prev-phone + "_" + next-phone`` when both
exist (so ``--by context`` works on ZeroSpeech items).

Triplet file (fixed triplets, as in Perceptimatic; ``.csv`` or ``.tsv``): one row
per triplet with the item names in ``TGT_item``, ``OTH_item`` and ``X_item``
(TGT and X share the ``on`` label, OTH differs) and an optional id column
(``triplet_id`` or ``filename``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import suggest
from ..exceptions import DataError

__all__ = ["Items", "read_items", "read_triplets", "make_triplets", "item_labels"]

_REQUIRED = ("file", "onset", "offset")
TRIPLET_COLUMNS = ("TGT_item", "OTH_item", "X_item")
#: an offset may exceed the file's duration by this much (resampling to 16 kHz
#: and 4-decimal item times round by up to a fraction of a millisecond)
_DURATION_TOL_S = 5e-4


def _line(row: int) -> int:
    """1-based line number of 0-based data row ``row`` (header on line 1)."""
    return int(row) + 2


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"File not found: {path}")
    suffix = path.suffix.lower()
    kw = ({"sep": ","} if suffix == ".csv" else {"sep": "\t"} if suffix == ".tsv"
          else {"sep": r"\s+"})
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, **kw)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise DataError(f"Cannot parse {path}: {str(e).strip().splitlines()[0]}"
                        ) from None
    table.columns = [str(c).strip().lstrip("#") for c in table.columns]
    return table


@dataclass(frozen=True)
class Items:
    """The items of an ABX task.

    Parameters
    ----------
    table : DataFrame
        One row per item: ``file`` (str, audio stem), ``onset`` and ``offset``
        (float, s), label columns (str), indexed by item name (str).
    path : str
        Source file (used in error messages); "<memory>" when built in code.
    meta : dict
        Format details of the source file (columns found, separator...).
    """

    table: pd.DataFrame
    path: str = "<memory>"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        missing = [c for c in _REQUIRED if c not in self.table.columns]
        if missing:
            raise DataError(f"{self.path}: missing column(s) {missing}; an item file "
                            f"needs {list(_REQUIRED)} plus label columns, found "
                            f"{list(self.table.columns)}.")
        if not self.table.index.is_unique:
            dup = self.table.index[self.table.index.duplicated()][0]
            raise DataError(f"{self.path}: item name {dup!r} appears twice.")

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return (f"<Items {len(self)} items, {self.table['file'].nunique()} files, "
                f"from {self.path}>")

    @property
    def names(self) -> list[str]:
        """Item names in file order."""
        return list(self.table.index)

    def column(self, name: str, *, role: str = "label") -> pd.Series:
        """A label column (or the virtual ``context``), validated.

        Raises
        ------
        DataError
            The column does not exist (the message names the file, the role and
            the available columns).
        """
        t = self.table
        if name in t.columns:
            return t[name].astype(str)
        if name == "context" and {"prev-phone", "next-phone"} <= set(t.columns):
            return t["prev-phone"].astype(str) + "_" + t["next-phone"].astype(str)
        valid = [c for c in t.columns if c not in _REQUIRED]
        raise DataError(f"{self.path}: no column {name!r} for {role!r}; label columns "
                        f"are {valid}." + suggest(name, valid))

    def check_durations(self, durations_s: dict[str, float]) -> None:
        """Check that every item lies inside its audio file.

        Parameters
        ----------
        durations_s : dict of str to float
            Duration (s) of each audio file, keyed by stem.

        Raises
        ------
        DataError
            An item whose file is missing or whose span exceeds the file's
            duration (the message names the item file and line).
        """
        for row, (name, rec) in enumerate(self.table.iterrows()):
            dur = durations_s.get(rec["file"])
            if dur is None:
                raise DataError(f"{self.path}, line {self._line_of(row)}: item "
                                f"{name!r} names audio file {rec['file']!r}, which "
                                f"was not found.")
            if rec["offset"] > dur + _DURATION_TOL_S:
                raise DataError(
                    f"{self.path}, line {self._line_of(row)}: item {name!r} "
                    f"[{rec['onset']:.4f}, {rec['offset']:.4f}] s lies outside its "
                    f"file {rec['file']!r} (duration {dur:.4f} s).")

    def _line_of(self, row: int) -> int:
        lines = self.meta.get("lines")
        return int(lines[row]) if lines is not None else _line(row)


def read_items(path: str | os.PathLike) -> Items:
    """Read an item file (see the module docstring for the format).

    Parameters
    ----------
    path : path-like
        ``.item`` (whitespace-separated), ``.tsv`` or ``.csv``.

    Returns
    -------
    items : Items

    Raises
    ------
    FileNotFoundError
        No such file.
    DataError
        Missing ``file``/``onset``/``offset`` columns, a non-numeric or
        negative time, or ``onset >= offset`` (the message names file and line).
    """
    path = Path(path)
    table = _read_table(path)
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; an item file needs "
                        f"{list(_REQUIRED)} plus label columns, found "
                        f"{list(table.columns)}.")
    if not len(table):
        raise DataError(f"{path}: no items.")
    for col in ("onset", "offset"):
        values = pd.to_numeric(table[col], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)))
        if bad.size:
            raise DataError(f"{path}, line {_line(bad[0])}: column {col!r} must be a "
                            f"time in seconds, got {table[col].iloc[bad[0]]!r}.")
        table[col] = values.astype(float)
    bad = np.flatnonzero((table["onset"] < 0) | (table["onset"] >= table["offset"]))
    if bad.size:
        r = bad[0]
        raise DataError(f"{path}, line {_line(r)}: onset {table['onset'].iloc[r]} and "
                        f"offset {table['offset'].iloc[r]} must satisfy "
                        f"0 <= onset < offset.")
    id_col = next((c for c in ("index", "item") if c in table.columns), None)
    names = (table[id_col].astype(str) if id_col is not None
             else pd.Series([str(k) for k in range(len(table))]))
    table = table.drop(columns=[id_col] if id_col else [])
    table.index = pd.Index(names.to_numpy(), name="item")
    table["file"] = table["file"].astype(str)
    return Items(table=table, path=str(path))


def read_triplets(path: str | os.PathLike, items: Items) -> pd.DataFrame:
    """Read a fixed-triplet file and resolve its items.

    Parameters
    ----------
    path : path-like
        ``.csv`` or ``.tsv`` with columns ``TGT_item``, ``OTH_item``, ``X_item``
        and optionally ``triplet_id`` or ``filename``.
    items : Items
        The items the triplets name.

    Returns
    -------
    triplets : DataFrame
        Columns ``triplet_id`` (str), ``tgt``, ``oth``, ``x`` (int positions in
        ``items.table``) and ``line`` (line of the triplet file).

    Raises
    ------
    DataError
        A missing column or an item name absent from ``items`` (the message
        names the triplet file, line and column).
    """
    path = Path(path)
    table = _read_table(path)
    missing = [c for c in TRIPLET_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; a triplet file needs "
                        f"{list(TRIPLET_COLUMNS)}, found {list(table.columns)}."
                        + suggest(missing[0], list(table.columns)))
    if not len(table):
        raise DataError(f"{path}: no triplets.")
    pos = pd.Series(np.arange(len(items)), index=items.table.index)
    out = {}
    for col, key in zip(TRIPLET_COLUMNS, ("tgt", "oth", "x"), strict=True):
        names = table[col].astype(str).str.strip()
        found = names.isin(pos.index).to_numpy()
        if not found.all():
            r = int(np.flatnonzero(~found)[0])
            raise DataError(f"{path}, line {_line(r)}: column {col!r} names item "
                            f"{names.iloc[r]!r}, which is not in {items.path}.")
        out[key] = pos.loc[names].to_numpy()
    id_col = next((c for c in ("triplet_id", "filename") if c in table.columns), None)
    ids = (table[id_col].astype(str).to_numpy() if id_col
           else np.array([str(k) for k in range(len(table))]))
    return pd.DataFrame({"triplet_id": ids, **out,
                         "line": np.arange(len(table)) + 2})


def item_labels(items: Items, on: str, by: list[str] | tuple[str, ...] | str | None,
                across: str | None) -> pd.DataFrame:
    """The ``on``, ``by`` and ``across`` labels of every item (validated).

    Parameters
    ----------
    items : Items
        The items.
    on : str
        Label to discriminate (e.g. ``"phone"``).
    by : str or sequence of str or None
        Labels held constant within a triplet.
    across : str or None
        Label that differs between X and A/B (e.g. ``"speaker"``).

    Returns
    -------
    labels : DataFrame
        Columns ``on``, ``by`` (the ``by`` columns joined by "|", "" if none) and
        ``across`` ("" if None), one row per item.
    """
    by = [by] if isinstance(by, str) else list(by or [])
    lab = pd.DataFrame(index=items.table.index)
    lab["on"] = items.column(on, role="on")
    if by:
        parts = [items.column(b, role="by") for b in by]
        joined = parts[0]
        for p in parts[1:]:
            joined = joined + "|" + p
        lab["by"] = joined
    else:
        lab["by"] = ""
    lab["across"] = items.column(across, role="across") if across else ""
    return lab


def make_triplets(items: Items, *, on: str = "phone",
                  by: list[str] | tuple[str, ...] | str | None = ("context",),
                  across: str | None = "speaker", max_triplets: int | None = None,
                  random_state=None) -> pd.DataFrame:
    """Every ABX triplet of an item set (ZeroSpeech task definition).

    A triplet (A, B, X) has ``on(A) == on(X) != on(B)``, equal ``by`` labels for
    all three, and, when ``across`` is given, ``across(A) == across(B) !=
    across(X)`` (the "across speaker" task); without ``across``, X is any other
    item than A.

    Parameters
    ----------
    items : Items
    on : str, default="phone"
        Label to discriminate.
    by : str or list of str, optional, default=("context",)
        Labels held constant within a triplet.
    across : str, optional, default="speaker"
        Label that differs between X and (A, B).
    max_triplets : int, optional
        Keep a uniform random subset of this size (reproducible with
        ``random_state``).
    random_state : int, Generator or None

    Returns
    -------
    triplets : DataFrame
        Columns ``triplet_id``, ``tgt``, ``oth``, ``x`` (int positions in
        ``items.table``) and the cell labels ``on_tgt``, ``on_oth``, ``by``,
        ``across_ab``, ``across_x``.

    Raises
    ------
    DataError
        An unknown label column, or no triplet at all.
    """
    from .._validation import check_random_state

    lab = item_labels(items, on, by, across)
    on_v, by_v, ac_v = (lab[c].to_numpy() for c in ("on", "by", "across"))
    chunks = []
    for by_value, grp in pd.DataFrame(
            {"on": on_v, "ac": ac_v, "pos": np.arange(len(lab))},
            index=None).groupby(by_v, sort=True):
        groups = {k: g["pos"].to_numpy() for k, g in grp.groupby(["on", "ac"])}
        for (on_a, ac_a), a_pos in groups.items():
            for (on_b, ac_b), b_pos in groups.items():
                if on_b == on_a or (across and ac_b != ac_a):
                    continue
                for (on_x, ac_x), x_pos in groups.items():
                    if on_x != on_a or (across and ac_x == ac_a):
                        continue
                    a, b, x = np.meshgrid(a_pos, b_pos, x_pos, indexing="ij")
                    a, b, x = a.ravel(), b.ravel(), x.ravel()
                    keep = a != x
                    if not keep.any():
                        continue
                    chunks.append(pd.DataFrame({
                        "tgt": a[keep], "oth": b[keep], "x": x[keep],
                        "on_tgt": on_a, "on_oth": on_b, "by": by_value,
                        "across_ab": ac_a, "across_x": ac_x}))
    if not chunks:
        raise DataError(f"{items.path}: no ABX triplet with on={on!r}, by={by!r}, "
                        f"across={across!r} (each 'by' group needs two 'on' values"
                        + (" and two 'across' values)." if across else ")."))
    trip = pd.concat(chunks, ignore_index=True)
    if max_triplets is not None and len(trip) > max_triplets:
        rng = check_random_state(random_state)
        trip = trip.iloc[np.sort(rng.choice(len(trip), max_triplets, replace=False))]
        trip = trip.reset_index(drop=True)
    trip.insert(0, "triplet_id", [str(k) for k in range(len(trip))])
    return trip
