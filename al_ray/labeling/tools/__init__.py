"""Live labelling tools: the batch goes to a running tool and the annotations come back through its API.

Only Label Studio is supported live (:mod:`al_ray.labeling.tools.labelstudio`); Argilla stays a
file format (see docs/LABELING.md for why). Every tool's annotations are imported through the same
validated path as annotation files (:func:`al_ray.labeling.api.import_annotations`), so a live
pull can never accept what a file import would refuse.

Nothing here is imported by the file-based path: the HTTP client (``requests``) is imported lazily,
when a command talks to a tool.
"""
