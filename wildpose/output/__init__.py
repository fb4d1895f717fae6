"""Writers of what a run leaves behind: the track table (Parquet/CSV) and the annotated video."""

from wildpose.output.render import AnnotatedVideoWriter
from wildpose.output.tables import TRACK_SCHEMA, TableFormat, TrackTableWriter, tracks_table

__all__ = [
    "TRACK_SCHEMA",
    "AnnotatedVideoWriter",
    "TableFormat",
    "TrackTableWriter",
    "tracks_table",
]
