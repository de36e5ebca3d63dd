"""Entry point of ``gms``: the commands of every ``cmd_*.py``, heavy imports inside them."""

from __future__ import annotations

import errno
import importlib
import os
import pkgutil
import sys

import typer
from rich.console import Console
from rich.markup import escape

import gms_cli
from gms_models.errors import GmsError
from gms_models.files import os_error_in

app = typer.Typer(
    name="gms",
    help="Group-Mix SAM: distil, evaluate, export and orchestrate SAM image encoders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# each cmd_*.py names its commands and groups in COMMANDS
for _module in sorted(pkgutil.iter_modules(gms_cli.__path__), key=lambda m: m.name):
    if _module.name.startswith("cmd_"):
        _commands = getattr(importlib.import_module(f"gms_cli.{_module.name}"), "COMMANDS", {})
        for _name, _command in _commands.items():
            if isinstance(_command, typer.Typer):
                app.add_typer(_command, name=_name)
            else:
                app.command(_name)(_command)


#: File-system failures that are the environment's, not a bug: reported as ``error:``, exit 2.
ENVIRONMENT_ERRNOS = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT,
    errno.ENOTDIR, errno.EISDIR,
})  # fmt: skip


def main() -> None:
    """Run the CLI; bad input (a :class:`GmsError`, or a file-system failure of the environment,
    also when a writer wrapped it, as torch does) becomes ``error: <message>`` and exit status 2."""
    try:
        app()
    except GmsError as exc:
        _fail(str(exc))
    except (OSError, RuntimeError) as exc:
        cause = os_error_in(exc)
        if cause is None or cause.errno not in ENVIRONMENT_ERRNOS:
            raise
        where = f"{cause.filename}: " if cause.filename is not None else ""
        reason = cause.strerror or os.strerror(cause.errno)
        _fail(f"{where}{reason} ({errno.errorcode[cause.errno]})")


def _fail(message: str) -> None:
    # The message is the user's text (paths, values): never markup, never wrapped.
    Console(stderr=True, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(message)}", highlight=False
    )
    sys.exit(2)
