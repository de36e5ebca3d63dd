"""Command-line options generated from a pydantic model's fields (types, help, defaults)."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


def _cli_type(annotation: Any) -> Any:
    """The field's type without None and pydantic constraints, as typer takes it."""
    if typing.get_origin(annotation) is Annotated:
        return _cli_type(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [_cli_type(a) for a in typing.get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else typing.Union[tuple(members)]  # noqa: UP007
    return annotation


def _help(field: FieldInfo) -> str:
    text = field.description or ""
    if field.default not in (PydanticUndefined, None):
        text += f" (default: {field.default})"
    return text.strip()


def model_options(
    model: type[BaseModel], fields: Sequence[str], flags: Mapping[str, str] | None = None
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a typer command one option per name of ``fields`` (``--field-name``, or the flag in
    ``flags``), typed and documented by ``model``. The command takes ``overrides``: the options
    given, by field name; the others are left to the model's defaults."""
    flags = flags or {}

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True)
        generated = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[
                    _cli_type(model.model_fields[name].annotation) | None,
                    typer.Option(
                        flags.get(name, f"--{name.replace('_', '-')}"),
                        help=_help(model.model_fields[name]),
                    ),
                ],
            )
            for name in fields
        ]

        @functools.wraps(command)
        def with_options(**values: Any) -> None:
            given = {name: values.pop(name) for name in fields}
            command(overrides={k: v for k, v in given.items() if v is not None}, **values)

        kept = [p for p in own.parameters.values() if p.name != "overrides"]
        with_options.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[*kept, *generated]
        )
        return with_options

    return decorate
