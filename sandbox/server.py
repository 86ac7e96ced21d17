"""Running the sandbox as a server: `serve()` for orderflow's CLI, `main()` for `python -m`.

Every SandboxConfig field has a flag, derived from the model so none is forgotten: `pos_delay_s`
is `--pos-delay-s` (or `--pos-delay`), `require_auth` is `--require-auth/--no-require-auth`,
`offline_locations` (also `--offline`) takes several ids. `--business ID:NAME:BL,BL` (repeatable)
configures the restaurant businesses; without it one business owns every location.
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal, Union, get_args, get_origin

import uvicorn
from pydantic import ValidationError

from sandbox.app import create_app
from sandbox.businesses import Business, BusinessError, Directory, parse_business
from sandbox.config import SandboxConfig

__all__ = ["build_parser", "businesses_from_args", "config_from_args", "main", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8100


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    config: SandboxConfig | None = None,
    *,
    businesses: Sequence[Business] | None = None,
    log_level: str = "info",
) -> None:
    """Serve the sandbox with uvicorn until interrupted (one worker: state is in-process)."""
    app = create_app(config or SandboxConfig(), businesses=businesses)
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1)


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _add_field(parser: argparse.ArgumentParser, name: str, annotation: Any, help_: str) -> None:
    flags = [f"--{name.replace('_', '-')}"]
    if name.endswith("_s"):
        flags.append(f"--{name[:-2].replace('_', '-')}")
    kind = _unwrap_optional(annotation)
    common: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_}
    if kind is bool:
        parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **common)
    elif get_origin(kind) is set:
        flags.append(f"--{name.split('_', maxsplit=1)[0]}")  # --offline 1 2
        parser.add_argument(*flags, nargs="*", type=int, metavar="ID", **common)
    elif get_origin(kind) is Literal:
        parser.add_argument(*flags, choices=[str(a) for a in get_args(kind)], **common)
    elif kind in (int, float, str, Decimal):
        parser.add_argument(*flags, type=kind, **common)
    else:  # pragma: no cover - a new field type needs a rule here
        raise TypeError(f"no command-line rule for {name}: {annotation!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="K-Series sandbox: a local stand-in for the K-Series API and its POS.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--business",
        dest="businesses",
        action="append",
        type=_business,
        default=[],
        metavar="ID:NAME:BL[=NAME],BL",
        help="a restaurant business and the locations it owns (repeatable); default: one "
        "business, id 1, owning every location",
    )
    for name, field in SandboxConfig.model_fields.items():
        default = field.get_default(call_default_factory=True)
        _add_field(parser, name, field.annotation, f"SandboxConfig.{name}, default {default!r}")
    return parser


def _business(text: str) -> Business:
    try:
        return parse_business(text)
    except BusinessError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def businesses_from_args(args: argparse.Namespace) -> list[Business]:
    """The `--business` flags, checked together (ids unique, no location in two businesses).

    Raises:
        BusinessError: two businesses share an id or a location.
    """
    given: list[Business] = list(getattr(args, "businesses", []))
    Directory(given)
    return given


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    given = {k: v for k, v in vars(args).items() if k in SandboxConfig.model_fields}
    return SandboxConfig.model_validate(given)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        businesses = businesses_from_args(args)
    except (ValidationError, BusinessError) as exc:
        parser.error(str(exc))
    serve(args.host, args.port, config, businesses=businesses, log_level=args.log_level)
    return 0
