"""``al-ray labels ...``: dispatch a batch to annotators, import their labels, check agreement,
adjudicate, resolve, and (for demos/benchmarks) simulate annotators.

    al-ray labels export RUN/rounds/r000/batch --labels neither,violating --annotators ann1,ann2,ann3
    al-ray labels import ann1.jsonl ls_export.json --batch-dir .../batch --labels-dir .../labels --labels ...
    al-ray labels status --batch-dir ... --labels-dir ... --labels ...
    al-ray labels resolve --batch-dir ... --labels-dir ... --labels ...
    al-ray labels adjudicate .../labels/adjudication.jsonl --batch-dir ... --labels-dir ... --labels ...
    LABEL_STUDIO_API_KEY=... al-ray labels push .../batch --tool labelstudio --url http://127.0.0.1:8080 --task task.yaml
    LABEL_STUDIO_API_KEY=... al-ray labels pull .../batch --labels-dir .../labels --url http://127.0.0.1:8080 --task task.yaml
    al-ray labels simulate .../batch --out-dir sim/ --davidson ../shared/datasets/.../labeled_data.csv \
        --davidson-task violating --mode expert --labels neither,violating
"""

from __future__ import annotations

import json
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from al_ray.config_io import build, deep_merge, load_mapping
from al_ray.cli.options import parse_storage_options, read_task_file, recorded_task, storage_option
from al_ray.errors import ConfigError

labels_app = typer.Typer(
    name="labels", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Labelling stage: export a batch to annotators (JSONL, Label Studio, Argilla), import "
    "their labels, measure agreement (Cohen's kappa, Krippendorff's alpha), gate, adjudicate, "
    "propagate to duplicates.",
)
_out = Console()

TaskOpt = typer.Option(None, "--task",
    help="Task config file (YAML/JSON; a TaskConfig, or a run config with a 'task' key).")
LabelsOpt = typer.Option(None, "--labels", help="Comma-separated label set, instead of --task.")
ConfigOpt = typer.Option(None, "--config",
    help="Labelling config file (LabelingConfig, or a run config with a 'labeling' key).")
StorageOpt = storage_option()
JsonOpt = typer.Option(False, "--json", help="Print the result as JSON.")


def _task(task: Optional[str], labels: Optional[str], batch_dir: Optional[str] = None,
          storage_options: Optional[list[str]] = None):
    """The task: ``--task`` FILE, then ``--labels``; else the task the batch recorded (selection
    writes it into batch.parquet's metadata; older batches give their ``p_<label>`` columns)."""
    from al_ray import layout, storage
    from al_ray.task import TaskConfig

    data: dict[str, Any] = read_task_file(task)
    source = task or "--labels"
    if labels:
        data = deep_merge(data, {"labels": [x.strip() for x in labels.split(",") if x.strip()]})
    if "labels" not in data and batch_dir:
        data = recorded_task(storage.join(batch_dir, layout.BATCH_FILE), _storage(storage_options))
        source = f"the task recorded in {batch_dir}"
    if "labels" not in data:
        raise ConfigError("give the task with --task FILE or --labels a,b" +
                          (f" (found no readable {layout.BATCH_FILE} in {batch_dir})" if batch_dir else ""))
    return build(TaskConfig, data, source=source)


def _config(config: Optional[str], overrides: dict[str, Any] | None = None):
    from al_ray.labeling.config import LabelingConfig

    data = load_mapping(config) if config else {}
    if isinstance(data.get("labeling"), dict):
        data = data["labeling"]
    return build(LabelingConfig, deep_merge(data, overrides or {}), source=config or "labeling options")


def _storage(options: Optional[list[str]]) -> dict[str, Any] | None:
    return parse_storage_options(options) or None


def _print_json(obj: Any) -> None:
    from al_ray.security import redact

    typer.echo(json.dumps(redact(obj), indent=2, sort_keys=True, default=str))


def _fmt(x: Any) -> str:
    return "—" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))


def _print_agreement(report, gate_result) -> None:
    t = Table(title="pairwise agreement (shared items)")
    for col in ("annotator A", "annotator B", "shared", "Cohen's kappa", "% agree"):
        t.add_column(col)
    for p in report.pairs:
        t.add_row(p.annotator_a, p.annotator_b, str(p.n_shared), _fmt(p.cohen_kappa),
                  _fmt(p.observed_agreement))
    _out.print(t)
    _out.print(f"items {report.n_items}, annotations {report.n_annotations}, "
               f"overlap items {report.n_overlap_items}")
    boot = report.bootstrap
    level = f"{boot['confidence']:.0%} interval" if boot else "interval"
    c = Table(title="agreement on the overlap items" + (f" ({level}: bootstrap of {boot['n_samples']} "
                                                       "resamples of the items)" if boot else ""))
    for col in ("coefficient", "estimate", level, ""):
        c.add_column(col)
    names = {"gwet_ac1": "Gwet's AC1", "brennan_prediger": "Brennan–Prediger (PABAK)",
             "mean_cohen_kappa": "Cohen's kappa, mean of pairs",
             "min_cohen_kappa": "Cohen's kappa, min of pairs",
             "krippendorff_alpha": "Krippendorff's alpha", "fleiss_kappa": "Fleiss' kappa",
             "minority_specific_agreement": f"specific agreement on {report.minority_label} (minority)"}
    for name, iv in report.intervals.items():
        ci = "—" if iv["low"] is None else f"[{iv['low']:.3f}, {iv['high']:.3f}]"
        c.add_row(names.get(name, name), _fmt(iv["estimate"]), ci,
                  "gate" if name == gate_result.metric else "")
    _out.print(c)
    per = ", ".join(f"{lab} {_fmt(v['specific_agreement'])}" for lab, v in report.per_label.items())
    _out.print(f"per-label agreement: {per}")
    colour = {"passed": "green", "flagged": "red", "unmeasured": "yellow"}[gate_result.status]
    _out.print(f"gate: [{colour}]{gate_result.status}[/] ({gate_result.reason})", highlight=False)


@labels_app.command("export")
def export_cmd(
    batch_dir: str = typer.Argument(..., help="Batch directory written by selection (any fsspec URL)."),
    out_dir: Optional[str] = typer.Option(None,
        help="Where to write the files (default: the batch directory)."),
    task: Optional[str] = TaskOpt, labels: Optional[str] = LabelsOpt, config: Optional[str] = ConfigOpt,
    annotators: Optional[str] = typer.Option(None, help="Comma-separated annotator ids."),
    overlap: Optional[float] = typer.Option(None, help="Overlap fraction (items seen by >= 2 annotators)."),
    per_item: Optional[int] = typer.Option(None, "--annotators-per-overlap-item",
        help="Annotators per overlap item."),
    formats: Optional[str] = typer.Option(None, help="Comma-separated: jsonl,labelstudio,argilla."),
    seed: int = typer.Option(0, help="Seed of the assignment draw."),
    force: bool = typer.Option(False, help="Redo a completed export (reshuffles assignments)."),
    storage_options: Optional[list[str]] = StorageOpt, as_json: bool = JsonOpt,
) -> None:
    """Assign items to annotators and write batch.jsonl, assignments.jsonl, Label Studio and Argilla files."""
    import numpy as np

    from al_ray.labeling.api import export_batch

    overrides: dict[str, Any] = {
        "annotators": [a.strip() for a in annotators.split(",")] if annotators else None,
        "overlap_fraction": overlap, "annotators_per_overlap_item": per_item,
        "formats": [f.strip() for f in formats.split(",")] if formats else None,
    }
    res = export_batch(batch_dir, _config(config, overrides), _task(task, labels, batch_dir, storage_options),
                       rng=np.random.default_rng(seed),
                       out_dir=out_dir, force=force, storage_options=_storage(storage_options))
    if as_json:
        _print_json(res.to_dict())
        return
    _out.print(f"{'reused completed export' if res.reused else 'exported'}: {res.n_items} items, "
               f"{res.n_overlap_items} overlap items, {res.n_assignments} assignments -> {res.out_dir}")
    for who, n in res.per_annotator.items():
        _out.print(f"  {who}: {n} items")
    for name in res.files:
        _out.print(f"  {name}: {res.files[name]}")


@labels_app.command("import")
def import_cmd(
    files: list[str] = typer.Argument(...,
        help="Annotation files: .jsonl/.csv (canonical), .json (Label Studio or Argilla export)."),
    batch_dir: str = typer.Option(..., help="The batch these annotations are for."),
    labels_dir: str = typer.Option(..., help="Labels directory (annotations.parquet is merged there)."),
    round: Optional[int] = typer.Option(None, "--round",
        help="Round of the batch (default: read from the batch)."),
    fmt: Optional[str] = typer.Option(None, "--format",
        help="canonical | csv | labelstudio | argilla (default: detect)."),
    replace: bool = typer.Option(False, help="Let these files overwrite labels imported before."),
    user_map: Optional[list[str]] = typer.Option(None, "--user-map",
        help="Label Studio user id=annotator name (repeatable, or comma-separated: 11=ann1,12=ann2), for "
        "exports that name users by number and cannot be told apart by the assignments."),
    task: Optional[str] = TaskOpt, labels: Optional[str] = LabelsOpt,
    storage_options: Optional[list[str]] = StorageOpt, as_json: bool = JsonOpt,
) -> None:
    """Validate annotation files (errors name file:line) and merge them; re-importing is a no-op."""
    from al_ray.labeling.api import import_annotations
    from al_ray.labeling.batch import read_batch

    so = _storage(storage_options)
    t = _task(task, labels, batch_dir, storage_options)
    if round is None:
        round = read_batch(batch_dir, so, with_dedup=False).round
        if round is None:
            raise ConfigError("the batch carries no round; pass --round")
    res = import_annotations(files, batch_dir, labels_dir, t, round=round, fmt=fmt, replace=replace,
                             storage_options=so, user_map=_user_map(user_map))
    if as_json:
        _print_json(res.to_dict())
        return
    _out.print(f"read {res.n_read} annotations from {res.n_files} file(s): {res.n_new} new, {res.n_updated} "
               f"updated, {res.n_unchanged} unchanged, {res.n_skipped} skipped")
    _out.print(f"{res.n_total} annotations on {res.n_items_annotated}/{res.n_items} items "
               f"-> {res.annotations_url}")
    for loc, why in res.skipped[:10]:
        _out.print(f"  skipped {loc}: {why}", highlight=False)


def _status(batch_dir, labels_dir, task, labels, config, storage_options, as_json) -> None:
    from al_ray.labeling.api import agreement_report

    report, g = agreement_report(batch_dir, labels_dir, _task(task, labels, batch_dir, storage_options),
                                 _config(config),
                                 storage_options=_storage(storage_options))
    if as_json:
        _print_json({"agreement": report.to_dict(), "gate": g.to_dict()})
    else:
        _print_agreement(report, g)


@labels_app.command("status")
def status_cmd(
    batch_dir: str = typer.Option(...), labels_dir: str = typer.Option(...),
    task: Optional[str] = TaskOpt, labels: Optional[str] = LabelsOpt, config: Optional[str] = ConfigOpt,
    storage_options: Optional[list[str]] = StorageOpt, as_json: bool = JsonOpt,
) -> None:
    """Agreement so far (pairwise Cohen's kappa, Krippendorff's alpha, Fleiss' kappa) and the gate."""
    _status(batch_dir, labels_dir, task, labels, config, storage_options, as_json)


@labels_app.command("agreement")
def agreement_cmd(
    batch_dir: str = typer.Option(...), labels_dir: str = typer.Option(...),
    task: Optional[str] = TaskOpt, labels: Optional[str] = LabelsOpt, config: Optional[str] = ConfigOpt,
    storage_options: Optional[list[str]] = StorageOpt, as_json: bool = JsonOpt,
) -> None:
    """Same as ``status``."""
    _status(batch_dir, labels_dir, task, labels, config, storage_options, as_json)


def _print_resolve(res) -> None:
    _print_agreement(res.agreement, res.gate)
    _out.print(f"resolved {res.n_resolved}/{res.n_items} items {res.by_source}, {res.n_propagated} "
               f"propagated to duplicates, {res.n_pending_adjudication} pending adjudication, "
               f"{res.n_unlabelled} unlabelled")
    _out.print(f"labels -> {res.labels_url}")
    if res.n_pending_adjudication:
        _out.print(f"adjudication queue -> {res.adjudication_url} "
                   "(fill 'label', then `al-ray labels adjudicate`)")


@labels_app.command("resolve")
def resolve_cmd(
    batch_dir: str = typer.Option(...), labels_dir: str = typer.Option(...),
    task: Optional[str] = TaskOpt, labels: Optional[str] = LabelsOpt, config: Optional[str] = ConfigOpt,
    storage_options: Optional[list[str]] = StorageOpt, as_json: bool = JsonOpt,
) -> None:
    """Gate, resolve (adjudicated > majority; ties to adjudication), propagate; write labels.parquet."""
    from al_ray.labeling.api import resolve_labels

    res = resolve_labels(batch_dir, labels_dir, _task(task, labels, batch_dir, storage_options),
                         _config(config),
                         storage_options=_storage(storage_options))
    _print_json(res.to_dict()) if as_json else _print_resolve(res)


@labels_app.command("adjudicate")
def adjudicate_cmd(
    file: str = typer.Argument(...,
        help="adjudication.jsonl with 'label' filled in, or JSONL/CSV with id,label."),
    batch_dir: str = typer.Option(...), labels_dir: str = typer.Option(...),
    task: Optional[str] = TaskOpt, labels: Optional[str] = LabelsOpt, config: Optional[str] = ConfigOpt,
    storage_options: Optional[list[str]] = StorageOpt, as_json: bool = JsonOpt,
) -> None:
    """Apply adjudicated labels, then re-resolve the batch."""
    from al_ray.labeling.api import apply_adjudication

    res = apply_adjudication(file, labels_dir, _task(task, labels, batch_dir, storage_options),
                             batch_dir=batch_dir,
                             config=_config(config),
                             storage_options=_storage(storage_options))
    if as_json:
        _print_json(res.to_dict())
        return
    _out.print(f"applied {res.n_applied} adjudications ({res.n_unchanged} unchanged, "
               f"{res.n_undecided} still undecided)")
    if res.resolve:
        _print_resolve(res.resolve)


def _user_map(pairs: Optional[list[str]]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for pair in (p.strip() for raw in pairs or [] for p in raw.split(",")):
        if not pair:
            continue
        uid, sep, name = pair.partition("=")
        if not sep or not uid.strip() or not name.strip():
            raise ConfigError(f"--user-map expects USER_ID=NAME, got {pair!r}")
        out[uid.strip()] = name.strip()
    return out or None


ToolOpt = typer.Option("labelstudio", "--tool", help="The live labelling tool: labelstudio.")
UrlOpt = typer.Option(None, "--url",
    help="Label Studio base URL (default: labeling.labelstudio.url, else $LABEL_STUDIO_URL).")
ProjectOpt = typer.Option(None, "--project",
    help="Project title prefix (default 'al-ray <task name>'); each batch is its own project, '<prefix> round <r>'.")
TokenEnvOpt = typer.Option(None, "--token-env",
    help="Environment variable holding the Label Studio access token (default LABEL_STUDIO_API_KEY). "
    "The token is read from there only, and never printed.")


def _tool_config(config: Optional[str], tool: str, project: Optional[str], token_env: Optional[str],
                 overrides: dict[str, Any] | None = None):
    if tool != "labelstudio":
        raise ConfigError(f"--tool {tool!r}: only labelstudio is a live tool here; other tools use files "
                          "(`al-ray labels export` / `import`), see docs/LABELING.md")
    ls = {k: v for k, v in (("project_title", project), ("env_var", token_env)) if v is not None}
    return _config(config, {**(overrides or {}), "tool": "labelstudio", "labelstudio": ls})


@labels_app.command("push")
def push_cmd(
    batch_dir: str = typer.Argument(..., help="Batch directory written by selection (any fsspec URL)."),
    tool: str = ToolOpt, url: Optional[str] = UrlOpt, project: Optional[str] = ProjectOpt,
    token_env: Optional[str] = TokenEnvOpt,
    out_dir: Optional[str] = typer.Option(None,
        help="Where the export files are (or go, when the batch was not exported yet): default the batch directory."),
    task: Optional[str] = TaskOpt, labels: Optional[str] = LabelsOpt, config: Optional[str] = ConfigOpt,
    annotators: Optional[str] = typer.Option(None,
        help="Comma-separated annotators: Label Studio users' e-mails or usernames."),
    overlap: Optional[float] = typer.Option(None, help="Overlap fraction (items seen by >= 2 annotators)."),
    seed: int = typer.Option(0, help="Seed of the assignment draw (when the batch is exported here)."),
    storage_options: Optional[list[str]] = StorageOpt, as_json: bool = JsonOpt,
) -> None:
    """Send a batch to Label Studio: project, tasks with the model's pre-annotations, overlap per item.

    Exports the batch first if that was not done (a completed export is reused). Pushing again
    creates nothing: the project is found again and only missing tasks are imported.
    """
    import numpy as np

    from al_ray.labeling.api import export_batch
    from al_ray.labeling.tools import labelstudio as lst

    overrides = {"annotators": [a.strip() for a in annotators.split(",")] if annotators else None,
                 "overlap_fraction": overlap}
    cfg = _tool_config(config, tool, project, token_env, overrides)
    t, so = _task(task, labels, batch_dir, storage_options), _storage(storage_options)
    exp = export_batch(batch_dir, cfg, t, rng=np.random.default_rng(seed), out_dir=out_dir, storage_options=so)
    with lst.connect(cfg.labelstudio, url) as client:
        res = lst.push(batch_dir, cfg, t, client, export_dir=exp.out_dir, storage_options=so)
    if as_json:
        _print_json({"export": exp.to_dict(), "push": res.to_dict()})
        return
    what = "created" if res.created_project else "found"
    _out.print(f"Label Studio project {res.project_id} {what}: {res.n_created} task(s) imported, "
               f"{res.n_existing} already there, {res.n_items} items in the batch "
               f"({exp.n_overlap_items} overlap items for 2+ annotators) -> {res.project_url}",
               highlight=False, soft_wrap=True)


@labels_app.command("pull")
def pull_cmd(
    batch_dir: str = typer.Argument(..., help="The pushed batch directory."),
    labels_dir: Optional[str] = typer.Option(None,
        help="Labels directory (annotations.parquet is merged there); default: 'labels' beside a folder named 'batch'."),
    tool: str = ToolOpt, url: Optional[str] = UrlOpt, project: Optional[str] = ProjectOpt,
    token_env: Optional[str] = TokenEnvOpt,
    out_dir: Optional[str] = typer.Option(None, help="Where the export files are (default: the batch directory)."),
    replace: bool = typer.Option(False, help="Let changed annotations overwrite labels imported before."),
    task: Optional[str] = TaskOpt, labels: Optional[str] = LabelsOpt, config: Optional[str] = ConfigOpt,
    storage_options: Optional[list[str]] = StorageOpt, as_json: bool = JsonOpt,
) -> None:
    """Fetch a batch's annotations from Label Studio and import them as a file import would (all or nothing).

    Annotators are named by their Label Studio e-mail (or the configured name it matches), never by
    number. Pulling again changes nothing. Says how many items are still open.
    """
    from al_ray import storage
    from al_ray.labeling.tools import labelstudio as lst

    cfg = _tool_config(config, tool, project, token_env)
    t, so = _task(task, labels, batch_dir, storage_options), _storage(storage_options)
    if labels_dir is None:
        if batch_dir.rstrip("/").rsplit("/", 1)[-1] != "batch":
            raise ConfigError("pass --labels-dir (the default, 'labels' beside the batch, needs a batch folder "
                              "named 'batch')")
        labels_dir = storage.join(batch_dir.rstrip("/").rsplit("/", 1)[0], "labels")
    with lst.connect(cfg.labelstudio, url) as client:
        res = lst.pull(batch_dir, labels_dir, cfg, t, client, export_dir=out_dir, replace=replace,
                       storage_options=so)
    if as_json:
        _print_json(res.to_dict())
        return
    imp = res.imported
    _out.print(f"pulled {imp.n_read} annotations from Label Studio project {res.project_id}: {imp.n_new} new, "
               f"{imp.n_updated} updated, {imp.n_unchanged} unchanged -> {imp.annotations_url}",
               highlight=False, soft_wrap=True)
    for who, n in imp.per_annotator.items():
        _out.print(f"  {who}: {n} annotations", highlight=False)
    if res.complete:
        _out.print(f"all {res.n_items} items have every annotation they were assigned")
    else:
        _out.print(f"{res.n_open} of {res.n_items} items still open ({res.n_annotations_missing} annotations to "
                   f"make), e.g. {', '.join(res.open_ids[:5])}: {res.project_url}", highlight=False, soft_wrap=True)


@labels_app.command("simulate")
def simulate_cmd(
    batch_dir: str = typer.Argument(..., help="Exported batch directory (reads assignments.jsonl)."),
    out_dir: str = typer.Option(..., help="Where to write the simulated annotation files."),
    mode: str = typer.Option("expert", help="crowd | expert (vote counts) | gold (noisy gold column)."),
    davidson: Optional[str] = typer.Option(None, help="Davidson labeled_data.csv (per-item vote counts)."),
    davidson_task: str = typer.Option("violating",
        help="violating | hate: how Davidson votes map to labels."),
    gold: Optional[str] = typer.Option(None,
        help="Parquet/CSV file with id and a gold label column (mode gold)."),
    gold_column: str = typer.Option("label", help="Gold label column."),
    flip_prob: float = typer.Option(0.0,
        help="Per-annotator probability of flipping the label (vote-count modes)."),
    error_rate: float = typer.Option(0.1, help="Per-annotator error rate (mode gold)."),
    seed: int = typer.Option(0), task: Optional[str] = TaskOpt, labels: Optional[str] = LabelsOpt,
    storage_options: Optional[list[str]] = StorageOpt, as_json: bool = JsonOpt,
) -> None:
    """FOR DEMOS/BENCHMARKS: write annotation files from simulated annotators, and their quality."""
    import numpy as np

    from al_ray.labeling import simulated as sim_mod

    t = _task(task, labels, batch_dir, storage_options)
    so = _storage(storage_options)
    rng = np.random.default_rng(seed)
    if mode in ("crowd", "expert"):
        if not davidson:
            raise ConfigError("modes crowd/expert need --davidson CSV (per-item vote counts)")
        if davidson_task not in sim_mod.DAVIDSON_TASKS:
            raise ConfigError(f"--davidson-task must be one of {sorted(sim_mod.DAVIDSON_TASKS)}")
        mapping = sim_mod.DAVIDSON_TASKS[davidson_task]
        if set(mapping) != set(t.labels):
            raise ConfigError(f"task labels {t.labels} do not match the Davidson '{davidson_task}' "
                              f"labels {sorted(mapping)}")
        votes = sim_mod.derive_votes(sim_mod.load_davidson(davidson, so), mapping)
        sim = sim_mod.VoteCountAnnotators(votes, t.labels, mode=mode, flip_prob=flip_prob, rng=rng)
    elif mode == "gold":
        if not gold:
            raise ConfigError("mode gold needs --gold FILE")
        from al_ray import storage

        if gold.endswith(".csv"):
            import io

            import pyarrow.csv as pacsv

            table = pacsv.read_csv(io.BytesIO(storage.read_bytes(gold, so)),
                                   convert_options=pacsv.ConvertOptions(column_types={"id": "string"}))
        else:
            table = storage.read_parquet(gold, so)
        sim = sim_mod.NoisyGoldAnnotators(sim_mod.gold_from_table(table, gold_column), t.labels,
                                          error_rate=error_rate, rng=rng)
    else:
        raise ConfigError(f"--mode must be crowd, expert or gold, got {mode!r}")
    res = sim.write_annotation_files(batch_dir, out_dir, storage_options=so)
    if as_json:
        _print_json({"files": res.files, "quality": res.quality})
        return
    q = res.quality
    _out.print(f"simulated {res.n_annotations} annotations ({q['simulator']}) -> {len(res.files)} "
               f"file(s) in {out_dir}")
    _out.print(f"label quality: kappa vs reference {_fmt(q['kappa_vs_reference'])}, accuracy "
               f"{_fmt(q['accuracy_vs_reference'])}, inter-annotator mean kappa "
               f"{_fmt(q['inter_annotator']['mean_cohen_kappa'])}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(labels_app, name="labels")
