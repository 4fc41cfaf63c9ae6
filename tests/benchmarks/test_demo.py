"""bench_demo reads its figures from the run's manifest: per-step seconds and the kappa story."""

from benchmarks import bench_demo


def _manifest(kappas):
    rounds = {}
    for r, k in enumerate(kappas):
        steps = {"score": {"status": "done", "seconds": 10.0 + r}, "evaluate": {"status": "done", "seconds": 0.5,
                 "labels_used": 100 * r, "holdout_kappa": k, "n_holdout": 50}}
        if r < len(kappas) - 1:
            steps["finetune"] = {"status": "done", "seconds": 60.0}
        rounds[f"r{r:03d}"] = {"round": r, "steps": steps}
    return {"rounds": rounds, "status": "done"}


def test_step_seconds_sum_over_rounds():
    secs = bench_demo.step_seconds(_manifest([0.3, 0.5, 0.6, 0.7]))
    assert secs == {"score": 46.0, "evaluate": 2.0, "finetune": 180.0}


def test_story_needs_three_rounds_and_a_rise():
    assert bench_demo.story_holds(bench_demo.kappa_story(_manifest([0.3, 0.5, 0.6, 0.7])))
    assert not bench_demo.story_holds(bench_demo.kappa_story(_manifest([0.3, 0.5, 0.6])))  # 2 labelled rounds
    assert not bench_demo.story_holds(bench_demo.kappa_story(_manifest([0.7, 0.5, 0.6, 0.6])))  # no rise
