"""The one reader of this process's memory (al_ray/memory.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from al_ray.memory import peak_rss_mb, private_mb, proc_status_mb


def test_private_memory_sees_a_new_array_and_the_peak_stays_after_it_is_freed():
    before, rss_before = private_mb(), proc_status_mb()["VmRSS"]
    a = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    assert private_mb() - before > 48
    del a
    # the kernel's RSS counters are synced lazily (a few MiB of slack), hence the margins
    assert private_mb() - before < 16
    assert peak_rss_mb() - rss_before > 48


def test_a_fresh_subprocess_reports_its_own_peak_not_its_parents():
    big = np.ones(256 * 2**20 // 8)  # this process's peak is now above 256 MiB
    out = subprocess.run([sys.executable, "-c", "from al_ray.memory import peak_rss_mb; print(peak_rss_mb())"],
                         capture_output=True, text=True, check=True)
    assert float(out.stdout) < peak_rss_mb() - 128, (out.stdout, peak_rss_mb())
    del big
