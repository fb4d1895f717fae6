"""The CSV the track writer makes: empty fields for NaN, floats always written with a point or
exponent and enough digits to round-trip float32, so polars, pandas and duckdb read every
numeric column as numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from interop_data import write_table

from wildpose.interop import read_tracks
from wildpose.output.tables import CSV_SCHEMA, CSV_WRITE_OPTIONS, TRACK_SCHEMA, csv_ready


def test_csv_reads_as_numbers_everywhere(tmp_path):
    parquet = write_table(tmp_path)[0]
    table = pq.read_table(parquet)
    # integral floats and NaN in the smoothed columns, as with box files and smoothing off
    table = table.set_column(5, "det_score", pa.array(np.ones(table.num_rows, np.float32)))
    var = table["var_smooth"].to_numpy().copy()
    var[::3] = np.nan
    table = table.set_column(16, "var_smooth", pa.array(var, pa.float32()))
    csv = tmp_path / "clip.tracks.csv"
    with pa_csv.CSVWriter(csv, CSV_SCHEMA, write_options=CSV_WRITE_OPTIONS) as writer:
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


def test_track_writer_csv_reads_as_numbers_with_polars_and_pandas(tmp_path):
    parquet, csv = write_table(tmp_path, formats=("parquet", "csv"))
    text = csv.read_text()
    assert "nan" not in text.lower()
    floats = [f.name for f in TRACK_SCHEMA if pa.types.is_floating(f.type)]
    polars = pl.read_csv(csv, infer_schema_length=None)
    assert all(polars.schema[c] == pl.Float64 for c in floats), polars.schema
    pandas = pd.read_csv(csv)
    assert all(pd.api.types.is_float_dtype(pandas[c]) for c in floats)
    want = pq.read_table(parquet)
    for c in ("x", "y", "score", "x_smooth"):
        np.testing.assert_array_equal(pandas[c].to_numpy(np.float32), want[c].to_numpy())
