"""The places that name the optimisers without importing the registry (the command line's help and
suggestions, kept free of the array libraries so that ``gradstep --help`` starts fast) list exactly
:data:`gradstep.optim.REGISTRY`'s names: a new optimiser that is one registry entry fails here until they
name it too. The playground reads the registry itself (its schema's enum and ``GET /api/optimizers``)."""

from __future__ import annotations

import pytest

from gradstep.cli.common import OPTIMIZER_NAMES, SYNONYMS
from gradstep.optim import OPTIMIZERS, REGISTRY


def test_the_registry_is_the_list_of_named_optimizers():
    assert list(OPTIMIZERS) == list(REGISTRY)
    for name, entry in REGISTRY.items():
        assert OPTIMIZERS[name] is entry.factory


def test_command_line_names_are_the_registry_s():
    assert sorted(OPTIMIZER_NAMES) == sorted(REGISTRY)


def test_command_line_suggestions_name_every_optimizer():
    suggested = {flag[2:] for flag, means in SYNONYMS.items() if means[0].startswith("--optimizer ")}
    assert suggested == set(REGISTRY)


def _help(command: str) -> str:
    from typer.testing import CliRunner

    from gradstep.cli import app

    text = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
    return " ".join(text.replace("│", " ").split())   # a help text wrapped inside Rich's panel: one line


@pytest.mark.parametrize("command", ["fit", "minimize", "sweep"])
def test_optimizer_help_names_every_optimizer(command):
    text = _help(command).split("--optimizer NAME", 1)[-1].split("--optimizer A,B,...", 1)[-1]
    listed = text.split("gradient descent", 1)[1].split("), ", 1)[1].split(".", 1)[0]   # after "auto (...), "
    assert {n.strip() for n in listed.replace("/", ",").split(",")} == set(REGISTRY)


def test_playground_race_names_every_optimizer():
    """The race's names are the registry's, all of them (FISTA too: on a formula it is full-batch
    accelerated gradient, which ``minimize`` runs like any other step)."""
    from gradstep.web.app import OptimizerSpec, optimizers

    schema = OptimizerSpec.model_json_schema()["properties"]["name"]
    assert schema["enum"] == list(REGISTRY)
    assert [o["name"] for o in optimizers()] == list(REGISTRY)
