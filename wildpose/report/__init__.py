"""The QC report: one self-contained HTML page per run or batch (figures, flags, thumbnails).

:func:`write_report` reads track tables (:mod:`~wildpose.report.data`), flags fragments,
suspected swaps and low-confidence frames (:mod:`~wildpose.report.qc`), draws the figures
(:mod:`~wildpose.report.figures`, matplotlib) and thumbnails (:mod:`~wildpose.report.thumbs`)
and writes the page (:mod:`~wildpose.report.html`).
"""

from __future__ import annotations

from wildpose.report.html import write_report

__all__ = ["write_report"]
