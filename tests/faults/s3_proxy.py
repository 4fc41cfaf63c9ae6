"""The fault-injecting S3 proxy now lives in ``al_ray.testing.s3_proxy`` (the benchmarks use it too)."""

from al_ray.testing.s3_proxy import Event, FaultProxy, Rule

__all__ = ["Event", "FaultProxy", "Rule"]
