"""An HTML report of a run: one self-contained file (plots embedded as PNG) anyone can open.

It tells the run's story in the order a reader asks: did kappa rise with labels, and how close to
the experts' own agreement (and to random selection or crowd labels, when those references exist)?
Which examples were chosen, why, and did the experts agree on them? What does the final model
confuse on the holdout? Did the batches find the rare class? What did each step cost? Which config
and model versions produced it?

``collect`` gathers the numbers from the manifest and round files (never from the corpus),
``render`` turns them into HTML, ``write_report`` does both and writes ``RUN/report.html``.
"""

from __future__ import annotations

from typing import Any, Mapping

from al_ray import storage
from al_ray.driver.report.collect import collect
from al_ray.driver.report.render import render
from al_ray.layout import RunLayout


def write_report(run_url: str, out_url: str | None = None, storage_options: Mapping[str, Any] | None = None, *,
                 references: Mapping[str, Any] | None = None, cost_per_hour: float | None = None) -> str:
    """Write the report of the run at ``run_url`` (default ``RUN/report.html``); returns where."""
    out_url = out_url or RunLayout(run_url).report
    page = render(collect(run_url, storage_options, references=references, cost_per_hour=cost_per_hour))
    storage.write_bytes_atomic(out_url, page.encode(), storage_options)
    return out_url


__all__ = ["collect", "render", "write_report"]
