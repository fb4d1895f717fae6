"""The CSV form proposed for wildpose.output.tables (issue 13): empty fields for NaN, floats
always written with a point or exponent and enough digits to round-trip float32, so polars,
pandas and duckdb read every numeric column as numbers. ``csv_ready`` is the proposed patch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from interop_data import write_table

from wildpose.interop import read_tracks
from wildpose.output.tables import TRACK_SCHEMA

CSV_SCHEMA = pa.schema(
    [pa.field(f.name, pa.string()) if pa.types.is_floating(f.type) else f for f in TRACK_SCHEMA]
)


def _float_text(values: pa.ChunkedArray) -> pa.ChunkedArray:
    text = pc.cast(values, pa.string())  # shortest text that reads back as the same float
    integral = pc.match_substring_regex(text, r"^-?[0-9]+$")  # "2" would be typed int
    text = pc.if_else(integral, pc.binary_join_element_wise(text, ".0", ""), text)
    return pc.if_else(pc.is_nan(values), pa.scalar(None, pa.string()), text)


def csv_ready(table: pa.Table) -> pa.Table:
    """``table`` (TRACK_SCHEMA) with :data:`CSV_SCHEMA`: float columns as text, NaN as null
    (pyarrow writes a null as an empty field)."""
    columns = [
        _float_text(table[f.name]) if pa.types.is_floating(f.type) else table[f.name]
        for f in TRACK_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=CSV_SCHEMA)


def test_proposed_csv_reads_as_numbers_everywhere(tmp_path):
    parquet = write_table(tmp_path)[0]
    table = pq.read_table(parquet)
    # integral floats and NaN in the smoothed columns, as with box files and smoothing off
    table = table.set_column(5, "det_score", pa.array(np.ones(table.num_rows, np.float32)))
    var = table["var_smooth"].to_numpy().copy()
    var[::3] = np.nan
    table = table.set_column(16, "var_smooth", pa.array(var, pa.float32()))
    csv = tmp_path / "clip.tracks.csv"
    with pa_csv.CSVWriter(csv, CSV_SCHEMA) as writer:
        writer.write_table(csv_ready(table))
    text = csv.read_text()
    assert "nan" not in text.lower() and ',"1.0",' in text

    floats = [f.name for f in TRACK_SCHEMA if pa.types.is_floating(f.type)]
    polars = pl.read_csv(csv)
    assert all(polars.schema[c] == pl.Float64 for c in floats), polars.schema
    assert polars["var_smooth"].null_count() == np.isnan(var).sum()
    pandas = pd.read_csv(csv)
    assert all(pd.api.types.is_float_dtype(pandas[c]) for c in floats)
    duckdb = pytest.importorskip("duckdb")
    rel = duckdb.sql(f"SELECT * FROM read_csv('{csv}')")
    types = {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True)}
    assert all(types[c] == "DOUBLE" for c in floats), types
    # every float32 survives the text: the arrays read back equal the Parquet's
    back = read_tracks(csv)
    want = read_tracks(parquet)
    for name in ("xy", "score", "xy_smooth", "bbox", "time_s"):
        np.testing.assert_array_equal(getattr(back, name), getattr(want, name), err_msg=name)
    np.testing.assert_array_equal(pandas["x"].to_numpy(np.float32), table["x"].to_numpy())
