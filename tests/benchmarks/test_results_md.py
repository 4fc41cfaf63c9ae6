"""RESULTS.md's generated tables equal what their result files give (`make results` rewrites them)."""

from __future__ import annotations

import json

import pytest

from benchmarks import results_md


def test_results_md_is_up_to_date_with_the_result_files(capsys):
    assert results_md.main(["--check"]) == 0, capsys.readouterr().out


def test_a_hand_edited_figure_is_caught_and_rewritten(tmp_path):
    text = results_md.RESULTS_MD.read_text()
    name = "scout_calibration"
    block = results_md.render_block(name)
    assert f"<!-- generated: {name} -->\n{block}\n<!-- /generated -->" in text
    edited = text.replace(block, block.replace("0.113", "0.999", 1))
    new, changed = results_md.regenerate(edited)
    assert changed == [name] and new == text


def test_a_block_in_a_blockquote_keeps_its_quote_marks():
    name = "scout_calibration"
    body = results_md.render_block(name)
    quoted = "> Measured:\n>\n> " + f"<!-- generated: {name} -->\n> | stale |\n> <!-- /generated -->\n>\n> After.\n"
    new, changed = results_md.regenerate(quoted)
    assert changed == [name]
    assert new == "> Measured:\n>\n> " + f"<!-- generated: {name} -->\n" + "".join(
        f"> {line}\n" for line in body.splitlines()) + "> <!-- /generated -->\n>\n> After.\n"
    assert results_md.blocks(new)[name] == body and results_md.regenerate(new) == (new, [])


def test_an_unknown_block_name_is_an_error(tmp_path):
    with pytest.raises(KeyError, match="does not know"):
        results_md.regenerate("<!-- generated: nope -->\n| x |\n<!-- /generated -->")


def test_blocks_render_from_the_given_folder(tmp_path):
    src = results_md.RESULTS_DIR / "scout_calibration.json"
    data = json.loads(src.read_text())
    data["rows"][0]["zero_shot_kappa"] = 0.5
    (tmp_path / "scout_calibration.json").write_text(json.dumps(data))
    assert "| 0.500 |" in results_md.render_block("scout_calibration", tmp_path)


# blocks with a formatter but no marked table yet: scoring_full.json predates the keys
# bench_scoring.py writes now (wrap section 2's table in `<!-- generated: scoring_full -->` once rerun)
PENDING: set[str] = set()
MARKED = results_md.blocks(results_md.RESULTS_MD.read_text())


@pytest.mark.parametrize("name", sorted(MARKED))
def test_each_marked_block_equals_what_its_files_give(name):
    assert MARKED[name] == results_md.render_block(name)


def test_every_formatter_has_its_block_in_results_md():
    assert set(results_md.BLOCKS) - PENDING <= set(MARKED)


def test_an_indented_block_keeps_its_indentation(tmp_path):
    text = results_md.RESULTS_MD.read_text()
    name = "gpu_planners"  # inside a list item
    first = results_md.render_block(name).splitlines()[2]
    assert f"\n  {first}\n" in text
    new, changed = results_md.regenerate(text.replace(f"  {first}", f"  {first.replace('406.6', '999.9')}"))
    assert changed == [name] and new == text


def test_the_scoring_table_reads_what_bench_scoring_writes_now(tmp_path):
    # scoring_quick.json was written by the current script; as scoring_full.json it must render
    data = json.loads((results_md.RESULTS_DIR / "scoring_quick.json").read_text())
    (tmp_path / "scoring_full.json").write_text(json.dumps(data))
    table = results_md.render_block("scoring_full", tmp_path)
    for mode in ("generative", "classifier"):
        assert f"| **{data[mode]['ratio_job_over_best_bare']:.3f}** |" in table
        assert f"{data[mode]['bare_inline']['wall_seconds_launch_to_exit']:.1f} s launch to exit" in table


def test_a_missing_key_names_the_file_and_the_key(tmp_path):
    data = json.loads((results_md.RESULTS_DIR / "scoring_quick.json").read_text())
    del data["classifier"]["bare_inline"]["wall_seconds_launch_to_exit"]
    (tmp_path / "scoring_full.json").write_text(json.dumps(data))
    with pytest.raises(results_md.MissingKey) as err:
        results_md.render_block("scoring_full", tmp_path)
    assert "block 'scoring_full'" in str(err.value)
    assert "benchmarks/results/scoring_full.json: no key 'wall_seconds_launch_to_exit'" in str(err.value)


def test_the_5d_tables_read_the_duplicate_check_and_the_s3_phases():
    dup = results_md.render_block("duplicate_check")
    assert "| 1e8 (10,000 x 10,000) | 100 (10 / 90) | 100 ids, 100 extra rows | 0 / 0 / 0 | **yes** |" in dup
    report = json.loads((results_md.RESULTS_DIR / "duplicate_check.json").read_text())["check"]["report"]
    # since the 2026-12-07 rerun: the tasks' own memory
    assert f"| {report['task_peak_private_mb']:,.0f} MiB private (rise {report['task_private_rise_mb']:,.0f} MiB) |" in dup
    # since 2026-12-08: the incremental check after one rescored shard, with one more planted duplicate
    assert ("| the same, one shard rescored: incremental (1 sidecar read, 9,999 shards from saved partitions) "
            "| 101 (10 / 91) | 101 ids, 101 extra rows | 0 / 0 / 0 | **yes** |") in dup
    s3 = results_md.render_block("scoring_driver_s3")
    # the figures come from the file (a rerun must not break this test), the layout is what is checked
    phases = json.loads((results_md.RESULTS_DIR / "scoring_driver_s3.json").read_text())["phases"]

    def row_start(label: str, phase: str) -> str:
        sec = phases[phase]["seconds"]
        return f"| {label} | {sec:.1f} s | {'yes' if sec <= 60 else '**no**'} |"

    assert row_start("resume (`run_scoring`), all done", "resume") in s3
    assert row_start("resume, one-request reads (`max_concurrency: 1`)", "resume_one_request_reads") in s3
    # one-request reads are the default since the first run: one GET a sidecar, one HEAD in all
    kinds = phases["resume"]["requests"]["by_kind"]
    assert kinds["get"] > 10_000 and kinds["head"] == 1
    assert f"| {kinds['list']} | {kinds['get']:,} | 1 | {kinds['put']} | {phases['resume']['requests']['total']:,} |" in s3
    # the incremental check after one shard was rescored: one sidecar read, the rest from saved partitions
    assert row_start("resume after one shard rescored (incremental check)", "resume_changed") in s3
    assert "| 1 sidecar read (1 map task), 9,999 shards from saved partitions |" in s3


def test_a_rerun_duplicate_check_shows_the_tasks_private_memory(tmp_path):
    # since 2026-12-01 the check reports each task's private memory, not the worker's ru_maxrss: the
    # 5b and 5d tables print whichever figure their file holds, under a header that says which
    dup = json.loads((results_md.RESULTS_DIR / "duplicate_check.json").read_text())
    report = dup["check"]["report"]
    report.pop("task_peak_rss_mb", None)  # absent since the 2026-12-07 rerun
    report.update(task_peak_private_mb=396.8, task_private_rise_mb=234.6)
    (tmp_path / "duplicate_check.json").write_text(json.dumps(dup))
    table = results_md.render_block("duplicate_check", tmp_path)
    assert "| 397 MiB private (rise 235 MiB) |" in table and "ru_maxrss" not in table
    # a file from before that change (2026-12-01 in git history) still renders, saying what it holds
    for key in ("task_peak_private_mb", "task_private_rise_mb"):
        report.pop(key)
    report["task_peak_rss_mb"] = 1346.9
    (tmp_path / "duplicate_check.json").write_text(json.dumps(dup))
    assert "| 1,347 MiB (a worker's ru_maxrss) |" in results_md.render_block("duplicate_check", tmp_path)
    drv = json.loads((results_md.RESULTS_DIR / "scoring_driver.json").read_text())
    for size in drv["sizes"].values():
        check = size["all_done"]["resume"]["duplicate_check"]
        check.pop("task_peak_rss_mb", None)  # the 2026-12-07 rerun already reports private memory
        check.update(task_peak_private_mb=150.0, task_private_rise_mb=20.0)
    (tmp_path / "scoring_driver.json").write_text(json.dumps(drv))
    table = results_md.render_block("scoring_driver", tmp_path)
    assert table.splitlines()[0].endswith("| largest duplicate-check task, private memory |")
    assert "| 150 MiB (rise 20 MiB) |" in table


def test_a_block_without_body_fails_named_and_does_not_swallow_the_next():
    text = ("<!-- generated: recipe_ablation -->\n<!-- /generated -->\n\n"
            "<!-- generated: gate -->\nold\n<!-- /generated -->\n")
    with pytest.raises(ValueError, match="recipe_ablation"):
        results_md.regenerate(text)
