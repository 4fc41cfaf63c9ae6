"""Readers and writers for the files annotators and labelling tools exchange.

Every reader returns :class:`~al_ray.labeling.formats.common.ParsedFile`: raw annotation rows,
each with the ``file:line`` it came from, plus the problems found while parsing. Validation
against the batch (ids, labels, round) happens in :mod:`al_ray.labeling.ingest`.
"""

from al_ray.labeling.formats.common import ParsedFile, RawAnnotation
from al_ray.labeling.formats.parse import detect_format, parse_file

__all__ = ["ParsedFile", "RawAnnotation", "detect_format", "parse_file"]
