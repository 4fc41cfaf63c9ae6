"""The ``al-ray`` console command.

Each stage contributes its commands from its own module (``register(app)``) so that the stages stay
independent; this module only assembles them and turns ``AlRayError`` into a clean message and a
non-zero exit code.
"""

from __future__ import annotations

import os
import sys

# Rich (tables, typer's help) falls back to 80 columns when output is not a terminal (a pipe, a CI
# log, `| less`), which cut status tables and help text mid-word. Widen that fallback before any
# Console exists; a real terminal's width and an explicit COLUMNS still win.
if "COLUMNS" not in os.environ and not sys.stdout.isatty():
    os.environ["COLUMNS"] = "160"

import typer  # noqa: E402
from rich.console import Console  # noqa: E402

from al_ray.errors import AlRayError, ExitCode, exit_code_for  # noqa: E402
from al_ray.security import scrub  # noqa: E402

app = typer.Typer(
    name="al-ray",
    help="Active learning at corpus scale: score uncertainty with vLLM on Ray, select what experts "
    "should label, ingest their labels, LoRA fine-tune, repeat until the model agrees with them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_err = Console(stderr=True)


def _register_all() -> None:
    from al_ray.cli import data, labels, model, plan, run, score, select

    for module in (model, score, select, labels, run, plan, data):
        module.register(app)


_register_all()


def _click_exceptions() -> tuple[type, ...]:
    """Click's exception base, wherever it lives: typer >= 0.17 vendors click as ``typer._click``
    (its usage errors are not ``click.ClickException``), older typer uses click itself."""
    found: list[type] = []
    try:
        from typer._click.exceptions import ClickException as vendored

        found.append(vendored)
    except ImportError:
        pass
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(found)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code instead of raising SystemExit where it can."""
    # Quiet third-party chatter (transformers' load reports) here and in the Ray workers this
    # process starts; users can still override both.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        # Without standalone mode click *returns* the code of a typer.Exit instead of raising it.
        result = app(args=argv, standalone_mode=False)
        if isinstance(result, int):
            return result
    except AlRayError as exc:
        _err.print("[bold red]error:[/] ", end="")
        # soft_wrap: paths in messages must stay whole (users copy them); markup off for the message.
        _err.print(scrub(str(exc)), markup=False, highlight=False, soft_wrap=True)
        return int(exit_code_for(exc))  # the jobs' table: bad input 2, storage failing after retries 4
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        _err.print("aborted")
        return 130
    except SystemExit as exc:  # click usage errors
        return int(exc.code or 0)
    except Exception as exc:  # usage errors: a bad flag value, a missing argument
        if isinstance(exc, _click_exceptions()):
            exc.show()
            return exc.exit_code
        if exit_code_for(exc) == ExitCode.BAD_INPUT:  # e.g. a pydantic ValidationError from a stage
            _err.print("[bold red]error:[/] ", end="")
            _err.print(scrub(str(exc)), markup=False, highlight=False, soft_wrap=True)
            return int(ExitCode.BAD_INPUT)
        # Anything else is ours to fix: the (scrubbed) traceback for the bug report, then exit 4 as
        # the jobs do ("internal error; retrying may help"), never an unscrubbed crash with exit 1.
        import traceback

        _err.print(scrub("".join(traceback.format_exception(exc))), markup=False, highlight=False, soft_wrap=True)
        _err.print("[bold red]internal error:[/] ", end="")
        _err.print(f"{type(exc).__name__}: {scrub(str(exc))}", markup=False, highlight=False, soft_wrap=True)
        return int(ExitCode.INTERNAL_ERROR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
