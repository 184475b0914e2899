"""Measuring a dub: the quality report (timing, intelligibility, voice similarity,
background) and the metrics it and the tests use (CER, WER, SI-SDR, DER)."""

from .report import LineQuality, QualityReport, draw_timeline, quality_report

__all__ = ["LineQuality", "QualityReport", "draw_timeline", "quality_report"]
