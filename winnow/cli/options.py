"""What several verbs share: the object-store and engine options, KEY=VALUE pairs, opening
the lake a verb names, and options that take several values after one flag."""

from typing import Optional

import typer

import winnow

from winnow.cli.output import choices

StorageOption = typer.Option(None, "--storage-option", "-o", help="KEY=VALUE passed to the object store (repeatable).")
EngineOption = typer.Option(None, "--engine", help=f"Where the work runs: {choices(winnow.ENGINES)} (default: local, "
                                                   "or $WINNOW_ENGINE).")
RayAddressOption = typer.Option(None, "--ray-address", help="The Ray cluster (HOST:PORT of its head; default "
                                                            "$WINNOW_RAY_ADDRESS; none: a local one is started).")


def pairs(given: Optional[list[str]], what: str = "option") -> dict[str, str]:
    """KEY=VALUE strings as a dict."""
    options = {}
    for pair in given or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{what} {pair!r} is not KEY=VALUE")
        options[key] = value
    return options


def storage_options(given: Optional[list[str]]) -> dict[str, str]:
    return pairs(given, "storage option")


def params(given: Optional[list[str]]) -> dict[str, str]:
    return pairs(given, "parameter")


def open_lake(uri: str, given: Optional[list[str]]) -> "winnow.Lake":
    """The lake at `uri`, with the `--storage-option`s given."""
    return winnow.open(uri, storage_options(given))


MANY = ("--columns",)  # options that take several values after one flag


class ManyValues(typer.core.TyperCommand):
    """A command whose options in MANY take one value or more after one flag, up to the next
    option (`--columns 'gopher_*' 'rps_*'`), as well as the flag repeated."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        return super().parse_args(ctx, spread(args, MANY))


def spread(args: list[str], flags=MANY) -> list[str]:
    """`--columns a b --label x` as `--columns a --columns b --label x`: each value that
    follows one of `flags`, up to the next option (or `--`), gets the flag again."""
    spread_out: list[str] = []
    flag, taken = None, 0
    for at, arg in enumerate(args):
        if arg == "--":
            return spread_out + args[at:]
        if arg.startswith("-") and len(arg) > 1:
            name, equals, _ = arg.partition("=")
            flag, taken = (name, 1 if equals else 0) if name in flags else (None, 0)
        elif flag is not None:
            if taken:
                spread_out.append(flag)
            taken += 1
        spread_out.append(arg)
    return spread_out
