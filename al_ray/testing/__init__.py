"""Support code for the test suite and the benchmarks; the pipeline never imports it.

What ``tests/`` and ``benchmarks/`` both need lives here, so neither imports the other:

- ``servers``: moto's S3 server on loopback (``moto_server``), ``free_port``;
- ``s3_proxy``: the fault-injecting HTTP proxy between s3fs and moto (``FaultProxy``);
- ``invariants``: the no-row-lost check every fault scenario ends with;
- ``faults``: small corpora, the fast scoring config of the fault scenarios, process-tree and
  disk-filling helpers.

``moto_server`` needs the ``dev`` extra (``moto[server]``).
"""
