"""The places that name the optimisers without importing the registry (the command line's help and
suggestions, kept free of the array libraries so that ``gradstep --help`` starts fast; the playground's
schema) list exactly :data:`gradstep.optim.REGISTRY`'s names: a new optimiser that is one registry entry
fails here until they name it too."""

from __future__ import annotations

import typing

from gradstep.cli.common import SYNONYMS
from gradstep.optim import OPTIMIZERS, REGISTRY


def test_the_registry_is_the_list_of_named_optimizers():
    assert list(OPTIMIZERS) == list(REGISTRY)
    for name, entry in REGISTRY.items():
        assert OPTIMIZERS[name] is entry.factory


def test_command_line_suggestions_name_every_optimizer():
    suggested = {flag[2:] for flag, means in SYNONYMS.items() if means[0].startswith("--optimizer ")}
    assert suggested == set(REGISTRY)


def test_fit_help_names_every_optimizer():
    from typer.testing import CliRunner

    from gradstep.cli import app

    text = " ".join(CliRunner().invoke(app, ["fit", "--help"], env={"COLUMNS": "200"}).output.split())
    listed = text.split("plain gradient descent: gd),", 1)[1].split(".", 1)[0]
    assert {n.strip() for n in listed.replace("/", ",").split(",")} == set(REGISTRY)


def test_playground_race_names_every_optimizer_but_fista():
    from gradstep.web.app import OptimizerSpec

    names = set(typing.get_args(OptimizerSpec.model_fields["name"].annotation))
    # FISTA is a full-batch method for composite objectives (a step with restarts), not a racer on a formula
    assert names == set(REGISTRY) - {"fista"}
