"""The docs cannot drift from the code: every %%stage flag and %mlops command is documented."""

from pathlib import Path

from mlops_jupyter.core.spec import build_parser
from mlops_jupyter.kernel.magics import _MLOPS_COMMANDS, StageMagics

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_stage_flag_has_help_and_is_in_the_readme():
    for action in build_parser()._actions:
        assert action.help, f"{action.dest} has no help"
        if action.option_strings:
            long = max(action.option_strings, key=len)
            assert f"`{long}" in README or f"/{long}" in README, f"README does not document {long}"


def test_magics_have_help_listing_every_command():
    assert "-p [FILE:]KEYS" in StageMagics.stage.__doc__
    for command in _MLOPS_COMMANDS:
        assert f"%mlops {command}" in StageMagics.mlops.__doc__
    assert "`%mlops status|dag|runs|show|diff|exp|experiment|push|pull|fetch|checkout|add|remote`" in README
