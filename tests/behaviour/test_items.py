"""Item and triplet files: formats, task enumeration and one-line errors."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from brainscore_speech.behaviour import (
    Items,
    item_labels,
    make_triplets,
    read_items,
    read_triplets,
)
from brainscore_speech.exceptions import DataError

ITEM = """#file onset offset #phone prev-phone next-phone speaker
f1 0.10 0.30 a b c s1
f1 0.30 0.50 e b c s1
f2 0.10 0.30 a b c s2
f2 0.30 0.50 e b c s2
"""


def _write(path, text):
    path.write_text(text)
    return path


def test_read_items_zerospeech_format(tmp_path):
    items = read_items(_write(tmp_path / "a.item", ITEM))
    assert len(items) == 4 and items.names == ["0", "1", "2", "3"]
    assert list(items.table.columns) == ["file", "onset", "offset", "phone",
                                         "prev-phone", "next-phone", "speaker"]
    np.testing.assert_allclose(items.table["offset"], [0.3, 0.5, 0.3, 0.5], rtol=0)
    assert list(items.column("context")) == ["b_c"] * 4
    assert "4 items, 2 files" in repr(items)


def test_read_items_perceptimatic_aligned_file(shared_data):
    path = shared_data / "perceptimatic" / "cogsci2020_english" / \
        "all_aligned_clean_english.csv"
    # that file is tab-separated despite its .csv name: read it as .tsv
    items = read_items(_copy_as(path, path.name.replace(".csv", ".tsv")))
    assert items.names[:2] == ["28", "26"]
    assert set(items.table.columns) >= {"file", "onset", "offset", "phone",
                                        "prev-phone", "next-phone", "speaker"}
    assert (items.table["onset"] < items.table["offset"]).all()


def _copy_as(path, name):
    import shutil
    import tempfile
    from pathlib import Path

    dest = Path(tempfile.mkdtemp()) / name
    shutil.copy(path, dest)
    return dest


def test_read_items_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="File not found"):
        read_items(tmp_path / "none.item")
    bad = _write(tmp_path / "b.item", ITEM.replace("0.30 0.50 e b c s1",
                                                   "0.60 0.50 e b c s1"))
    with pytest.raises(DataError, match=r"b.item, line 3: onset 0.6 and offset 0.5 "
                                        r"must satisfy 0 <= onset < offset"):
        read_items(bad)
    bad = _write(tmp_path / "c.item", ITEM.replace("f2 0.10", "f2 zero"))
    with pytest.raises(DataError, match=r"c.item, line 4: column 'onset' must be a "
                                        r"time in seconds, got 'zero'"):
        read_items(bad)
    bad = _write(tmp_path / "d.item", "file start end phone\nf 0 1 a\n")
    with pytest.raises(DataError, match=r"d.item: missing column\(s\) \['onset', "
                                        r"'offset'\]"):
        read_items(bad)
    bad = _write(tmp_path / "e.item", "#file onset offset #phone\n")
    with pytest.raises(DataError, match="e.item: no items"):
        read_items(bad)


def test_unknown_label_column_names_file_and_role(tmp_path):
    items = read_items(_write(tmp_path / "a.item", ITEM))
    with pytest.raises(DataError, match=r"a.item: no column 'phon' for 'on'; label "
                                        r"columns are .*Did you mean 'phone'"):
        item_labels(items, "phon", None, None)
    with pytest.raises(DataError, match=r"no column 'spk' for 'across'"):
        make_triplets(items, across="spk")


def test_check_durations(tmp_path):
    items = read_items(_write(tmp_path / "a.item", ITEM))
    items.check_durations({"f1": 0.5, "f2": 0.5})
    with pytest.raises(DataError, match=r"a.item, line 5: item '3' \[0.3000, 0.5000\] "
                                        r"s lies outside its file 'f2' \(duration "
                                        r"0.4000 s\)"):
        items.check_durations({"f1": 0.5, "f2": 0.4})
    with pytest.raises(DataError, match=r"a.item, line 4: item '2' names audio file "
                                        r"'f2', which was not found"):
        items.check_durations({"f1": 0.5})


def test_make_triplets_matches_enumeration(item_set):
    items, _ = item_set
    trip = make_triplets(items, on="phone", by=["prev-phone"], across="speaker")
    ph, ctx, spk = (items.table[c].to_numpy() for c in ("phone", "prev-phone",
                                                        "speaker"))
    want = {(a, b, x) for a, b, x in itertools.product(range(len(ph)), repeat=3)
            if a != x and ph[a] == ph[x] != ph[b] and ctx[a] == ctx[b] == ctx[x]
            and spk[a] == spk[b] != spk[x]}
    assert set(zip(trip["tgt"], trip["oth"], trip["x"], strict=True)) == want
    assert len(trip) == len(want)
    # without across, X is any other item of the same phone and context
    within = make_triplets(items, by=["prev-phone"], across=None)
    assert len(within) > len(trip)
    sub = make_triplets(items, by=["prev-phone"], max_triplets=50, random_state=1)
    assert len(sub) == 50 and set(zip(sub["tgt"], sub["oth"], sub["x"],
                                      strict=True)) <= want


def test_make_triplets_empty_task(tmp_path):
    items = read_items(_write(tmp_path / "a.item", ITEM))
    with pytest.raises(DataError, match=r"no ABX triplet with on='speaker'"):
        make_triplets(items, on="speaker", by=["phone"], across="phone")


def test_read_triplets(tmp_path):
    items = read_items(_write(tmp_path / "a.item", ITEM))
    path = _write(tmp_path / "t.csv", "filename,TGT_item,OTH_item,X_item\n"
                                      "EN1,0,1,2\nEN2,1,0,3\n")
    trip = read_triplets(path, items)
    assert list(trip["triplet_id"]) == ["EN1", "EN2"]
    assert list(trip["x"]) == [2, 3] and list(trip["line"]) == [2, 3]
    bad = _write(tmp_path / "u.csv", "TGT_item,OTH_item,X_item\n0,1,2\n1,0,9\n")
    with pytest.raises(DataError, match=r"u.csv, line 3: column 'X_item' names item "
                                        r"'9', which is not in .*a.item"):
        read_triplets(bad, items)
    bad = _write(tmp_path / "v.csv", "TGT_item,OTH,X_item\n0,1,2\n")
    with pytest.raises(DataError, match=r"v.csv: missing column\(s\) \['OTH_item'\]"):
        read_triplets(bad, items)


def test_items_container_validation():
    with pytest.raises(DataError, match=r"missing column\(s\) \['onset'\]"):
        Items(table=pd.DataFrame({"file": ["a"], "offset": [1.0]}))
    table = pd.DataFrame({"file": ["a", "b"], "onset": [0.0, 0.0],
                          "offset": [1.0, 1.0]}, index=["x", "x"])
    with pytest.raises(DataError, match="item name 'x' appears twice"):
        Items(table=table)
