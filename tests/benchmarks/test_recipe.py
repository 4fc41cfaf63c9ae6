"""The few-labels ablation's bookkeeping: which cells train the same model, and its table."""

from benchmarks import bench_recipe as br


def test_recipes_with_the_same_effective_training_are_trained_once():
    # 500 labels, batch 16: 5 epochs are 160 steps, above the 150-step budget -> the same model
    assert br.effective_training("epochs", 500) == br.effective_training("steps", 500)
    # 30 labels: 10 steps against 150
    assert br.effective_training("epochs", 30) != br.effective_training("steps", 30)
    assert br.effective_training("floor", 30) is None
    # the warm start's C is part of what is trained
    assert br.effective_training("warm_steps", 30) != br.effective_training("warm_c001_steps", 30)
    done = {"dataset": "spam", "seed": 0, "recipe": "epochs", "budget": 500, "status": "done", "kappa": 0.9}
    assert br._same_training([done], ("spam", 0, "steps", 500), "steps", 500) is done
    assert br._same_training([done], ("spam", 1, "steps", 500), "steps", 500) is None  # another seed
    assert br._same_training([{**done, "budget": 30}], ("spam", 0, "steps", 30), "steps", 30) is None


def test_summary_and_table():
    cells = [{"dataset": "spam", "seed": s, "recipe": r, "budget": 30, "status": "done", "kappa": k}
             for s, r, k in ((0, "floor", 0.6), (1, "floor", 0.7), (0, "steps", 0.85))]
    cells.append({"dataset": "spam", "seed": 2, "recipe": "steps", "budget": 30, "status": "failed"})
    data = {"summary": br.summarise(cells)}
    assert data["summary"]["spam|floor|30"]["n_seeds"] == 2
    table = br.markdown_table(data)
    assert "| spam | floor | 0.650 ± 0.071 (n=2) |" in table
    assert "| spam | steps | 0.850 (n=1) |" in table
    assert "epochs" not in table  # rows with no measurement are left out
