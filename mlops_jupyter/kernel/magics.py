"""``%%stage`` and ``%mlops``: the notebook's surface (DESIGN §2)."""

from __future__ import annotations

import shlex
import traceback

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from ..core.errors import MlopsError
from ..core.spec import help_text
from .identity import notebook_file
from .stage import StageRunner

_MLOPS_COMMANDS = ("status", "dag", "runs", "show", "diff", "exp", "experiment", "push", "pull", "fetch", "checkout",
                   "add", "remote", "models")
_AS_IS = ("exp", "push", "pull", "fetch", "checkout", "add", "remote", "models")  # CLI commands taken word for word


@magics_class
class StageMagics(Magics):
    def __init__(self, shell):
        super().__init__(shell)
        self.runner = StageRunner(shell)
        callbacks = shell.events.callbacks["post_run_cell"]
        for callback in [c for c in callbacks if isinstance(getattr(c, "__self__", None), StageRunner)]:
            shell.events.unregister("post_run_cell", callback)  # a runner of an earlier load
        shell.events.register("post_run_cell", self.runner.observe)
        shell.set_custom_exc((MlopsError,), _one_line)

    @cell_magic
    def stage(self, line: str, cell: str):
        __tracebackhide__ = True
        return self.runner(line, cell)

    @line_magic
    def mlops(self, line: str) -> None:
        """The CLI inside the kernel.

        %mlops status [NOTEBOOK]        each stage: fresh, stale (and why), never run, failed
        %mlops dag [NOTEBOOK] [--mermaid|--dot]   the pipeline graph
        %mlops runs [runs ls options]   list runs (e.g. %mlops runs -f "metrics.rmse < 0.7")
        %mlops show RUN                 one run in full
        %mlops diff A B [--all]         compare two runs
        %mlops exp show [exp show options]   experiments: each pipeline result with the params and
                                        metrics of its whole lineage (e.g. %mlops exp show -S "metrics.accuracy DESC")
        %mlops exp diff A B [--all]     compare two experiments
        %mlops experiment NAME          the experiment of the runs started next
        %mlops models ls|show|versions|history NAME   the model registry (alias, stage, tag change it)
        %mlops push [TARGETS] [-r NAME] stage results, objects and runs to the remote
        %mlops pull [TARGETS] [-r NAME] fetch and checkout what mlops.lock pins
        %mlops fetch [TARGETS]          only into the cache
        %mlops checkout [TARGETS]       the workspace made to match mlops.lock
        %mlops add PATH...              track a data file or folder in mlops.lock
        %mlops remote add|list|remove|default|modify ...   the project's remotes
        """
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"%mlops: {e}") from None
        if not words or words[0] not in _MLOPS_COMMANDS:
            raise UsageError(f"%mlops needs one of: {', '.join(_MLOPS_COMMANDS)}; see %mlops?")
        command, args = words[0], words[1:]
        if command == "experiment":
            if len(args) != 1:
                raise UsageError("%mlops experiment NAME")
            from . import tracking

            try:
                tracking.set_experiment(args[0])
            except Exception as e:
                raise UsageError(str(e)) from None
            print(f"Experiment of the next runs: {args[0]}")
            return
        if command in ("status", "dag"):
            if not args or args[0].startswith("-"):
                notebook = notebook_file(self.shell)
                if notebook is None:
                    raise UsageError(f"%mlops {command}: this kernel does not know its notebook; give it: %mlops {command} NAME.ipynb")
                args = [str(notebook), *args]
            self._cli([command, *args])
            return
        if command in _AS_IS:
            self._cli([command, *args])
            return
        self._cli(["runs", "ls" if command == "runs" else command, *args])

    @staticmethod
    def _cli(argv: list[str]) -> None:
        import click

        from ..cli import main

        try:
            main.main(args=argv, prog_name="%mlops", standalone_mode=False)
        except click.ClickException as e:
            raise UsageError(e.format_message()) from None
        except click.exceptions.Exit:
            pass


def _one_line(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """mlops-jupyter's own errors (a bad metric, a param logged twice…) as one line, naming the
    line of the cell that caused it, instead of a traceback through our code."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if not str(frame.f_globals.get("__name__", "")).startswith("mlops_jupyter"):
            line = lineno  # the last frame that is not ours: the user's
    where = f" (line {line})" if line is not None else ""
    stb = [f"{etype.__name__}: {value}{where}"]
    shell._showtraceback(etype, value, stb)  # IPython leaves showing it to the handler (ipykernel: an error output)
    return stb


StageMagics.stage.__doc__ = "Make this cell a pipeline stage.\n\n" + help_text()


def load_ipython_extension(ipython) -> None:
    ipython.register_magics(StageMagics)
