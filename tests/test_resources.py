"""CPU shares for scoring actors and the fine-tune task."""

from __future__ import annotations

import os
import subprocess
import sys


def test_cpu_default_is_one_beside_a_gpu_without_asking_ray():
    from al_ray.resources import default_cpus

    assert default_cpus(num_gpus=1.0, n_workers=8) == 1.0


def test_cpu_default_shares_the_nodes_cpus(ray_cluster):
    import ray

    from al_ray.resources import default_cpus

    node = max(n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"])
    assert default_cpus(0.0, 1) == node  # one worker: a whole node
    assert default_cpus(0.0, int(node)) == 1.0
    assert default_cpus(0.0, 1000) == 1.0  # never below one CPU


def test_threads_are_clamped_to_the_cores_this_process_may_use():
    cores = len(os.sched_getaffinity(0))
    code = "from al_ray.resources import clamp_threads_to_cores as c; import os, torch; n = c(); " \
           "print(n, os.environ['OMP_NUM_THREADS'], torch.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": str(cores * 4)},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(cores)] * 3
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1"] * 3
