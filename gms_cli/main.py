"""Entry point of the ``gms`` command.

Each ``gms_cli/cmd_*.py`` module exposes ``register(app)`` and keeps its heavy imports (torch,
onnxruntime, prefect, ...) inside the command functions so that ``gms --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console
from rich.markup import escape

import gms_cli
from gms_models.errors import GmsError

app = typer.Typer(
    name="gms",
    help="Group-Mix SAM: distil, evaluate, export and orchestrate SAM image encoders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _module in sorted(pkgutil.iter_modules(gms_cli.__path__), key=lambda m: m.name):
    if _module.name.startswith("cmd_"):
        importlib.import_module(f"gms_cli.{_module.name}").register(app)


def main() -> None:
    """Run the CLI; a :class:`GmsError` becomes ``error: <message>`` and exit status 2."""
    try:
        app()
    except GmsError as exc:
        # The message is the user's text (paths, values): never markup, never wrapped.
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False
        )
        sys.exit(2)
