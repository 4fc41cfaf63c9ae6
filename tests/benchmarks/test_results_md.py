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


def test_an_unknown_block_name_is_an_error(tmp_path):
    with pytest.raises(KeyError, match="does not know"):
        results_md.regenerate("<!-- generated: nope -->\n| x |\n<!-- /generated -->")


def test_blocks_render_from_the_given_folder(tmp_path):
    src = results_md.RESULTS_DIR / "scout_calibration.json"
    data = json.loads(src.read_text())
    data["rows"][0]["zero_shot_kappa"] = 0.5
    (tmp_path / "scout_calibration.json").write_text(json.dumps(data))
    assert "| 0.500 |" in results_md.render_block("scout_calibration", tmp_path)
