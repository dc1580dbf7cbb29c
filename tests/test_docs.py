"""The docs cannot drift from the command line: every `winnow ...` line in README.md, docs/*.md
and the Makefile's quickstart goes through the CLI's own parser, in this process, without
running anything.

- A command line in a shell code block (or a `$ winnow ...` prompt in an output block) is
  parsed for real: the subcommand chain is resolved and `make_context` parses the rest, so an
  unknown option, a missing argument or a value of the wrong type fails. Line continuations
  (`\\`), `;`, `&&` and `|` are handled; `$(DEMO)`-style variables are filled in. A
  `winnow score` line's scorers must exist and declare its `-p NAME=VALUE` parameters.
- A synopsis (inline code such as a heading's `winnow score URI SCORER... [--workers N]`, or a
  code line with `[optional]` parts) is checked by name: the subcommand exists, and every
  option it names is one of that command's options.
- An option named alone in prose (`--commit-mb`) must be an option of some command.
Options of torchtitan (`--training.steps 8`) pass through `winnow train` and `winnow compare`
and are allowed there (they hold a dot). `--debug` and `--help` are accepted anywhere.
The pages' relative links must lead to files, and each statement of their ```sql blocks must
parse in DuckDB.
"""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from winnow.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ANYWHERE = {"--debug", "--help"}  # main() strips --debug; --help is every command's
# what the Makefile's variables stand for, and the shell variables of the Slurm example
VARIABLES = {"BIN": ".venv/bin", "DEMO": "demo", "SHARED": "../shared", "SLURM_NNODES": "4", "head": "node0"}
SHELL_FENCES = {"", "sh", "bash", "shell", "console", "text"}
OPTION = re.compile(r"(?:^|(?<=[\s\[(|]))(--?[A-Za-z][\w.-]*)")


@dataclass
class Line:
    where: str  # file:line
    args: list[str]  # the words after `winnow`
    synopsis: bool  # True: check option names only; False: parse for real


@functools.cache
def _root():
    return typer.main.get_command(app)


def _resolve(args: list[str]):
    """(command, its path, the rest of args): the subcommand chain named by args' first words."""
    cmd, path, rest = _root(), ["winnow"], list(args)
    while hasattr(cmd, "commands") and rest and rest[0] in cmd.commands:
        path.append(rest[0])
        cmd = cmd.commands[rest.pop(0)]
    return cmd, " ".join(path), rest


def _options(cmd) -> set[str]:
    names = set(ANYWHERE)
    for p in getattr(cmd, "params", []):
        names.update(getattr(p, "opts", []))
        names.update(getattr(p, "secondary_opts", []))
    return names


def _passes_through(cmd) -> bool:
    """Whether the command hands unknown options on (to torchtitan)."""
    return bool((cmd.context_settings or {}).get("ignore_unknown_options"))


def _all_options() -> set[str]:
    found, todo = set(ANYWHERE), [_root()]
    while todo:
        cmd = todo.pop()
        found |= _options(cmd)
        todo.extend(getattr(cmd, "commands", {}).values())
    return found


def _unknown(cmd, name: str) -> bool:
    if name in _options(cmd):
        return False
    return not (_passes_through(cmd) and name.startswith("--") and "." in name)


def problems(line: Line) -> list[str]:
    """What is wrong with one command line: [] when it parses (or, for a synopsis, when its
    subcommand and every option it names exist)."""
    cmd, path, rest = _resolve(line.args)
    shown = "winnow " + " ".join(line.args)
    if hasattr(cmd, "commands"):  # stopped at a group: `winnow select` alone is fine
        words = [a for a in rest if not a.startswith("-")]
        if words and (not line.synopsis or re.fullmatch(r"[a-z][a-z-]*", words[0])):
            return [f"{line.where}: `{shown}`: {path} has no command {words[0]!r}"]
    if line.synopsis or hasattr(cmd, "commands"):
        named = [m for a in rest for m in OPTION.findall(a)]
        return [f"{line.where}: `{shown}`: {path} has no option {name}" for name in named if _unknown(cmd, name)]
    if "--help" in rest:
        return [f"{line.where}: `{shown}`: {path} has no option {a}" for a in rest
                if a.startswith("-") and _unknown(cmd, a.split("=", 1)[0])]
    found = []
    rest = [a for a in rest if a != "--debug"]
    try:
        ctx = cmd.make_context(path, rest, resilient_parsing=False)
    except Exception as e:  # typer carries its own click: its UsageError is not click's
        return [f"{line.where}: `{shown}`: {type(e).__name__}: {getattr(e, 'format_message', e.__str__)()}"]
    for extra in ctx.args:  # what a pass-through command did not know: torchtitan's --a.b only
        if extra.startswith("-") and not (extra.startswith("--") and "." in extra):
            found.append(f"{line.where}: `{shown}`: {path} has no option {extra}")
    if path == "winnow score":
        found += [f"{line.where}: `{shown}`: {p}" for p in _scorer_problems(cmd, ctx)]
    ctx.close()
    return found


def _scorer_problems(cmd, ctx) -> list[str]:
    """`winnow score`: the scorers exist and declare the `-p NAME=` parameters given (checked as
    the command checks them before it opens the lake)."""
    from winnow.scoring import params_for

    value = {opt: ctx.params.get(p.name) for p in cmd.params for opt in getattr(p, "opts", [])}
    scorers = next(ctx.params[p.name] for p in cmd.params if p.param_type_name == "argument" and p.nargs == -1)
    given = dict(v.split("=", 1) for v in value.get("-p") or [] if "=" in v)
    for shortcut in ("--tokenizer", "--model"):
        if value.get(shortcut):
            given[shortcut[2:]] = value[shortcut]
    try:
        params_for(list(scorers), given)
    except Exception as e:  # an unknown scorer, a parameter none of them declares, a bad value
        return [f"{type(e).__name__}: {e}"]
    return []


# -- finding the command lines ----------------------------------------------------------------------


def _fill(text: str) -> str:
    """Variables of the Makefile and of the examples, filled in."""
    def value(m):
        name = m.group(1) or m.group(2) or m.group(3)
        return VARIABLES.get(name, m.group(0))
    return re.sub(r"\$\((\w+)\)|\$\{(\w+)\}|\$(\w+)", value, text)


def _commands(shell: str, where: str, synopsis: bool = False) -> list[Line]:
    """The winnow commands of one logical shell line (`a; b && c | d` is four commands) that
    starts with one (other lines of a block are a program's output or other programs)."""
    if not re.match(r"\s*(\$\s+)?((srun|time)\s+|\w+=\S*\s+)*(\S*/)?winnow\s", _fill(shell)):
        return []
    if synopsis:  # `--engine local|ray`, `(--id ID | --text TEXT)`: alternatives, not pipes
        words = _fill(shell).split()
        return [Line(where, words[1:], True)] if words[0] == "winnow" else []
    lexer = shlex.shlex(_fill(shell), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        words = list(lexer)
    except ValueError as e:  # an unbalanced quote
        return [Line(where, ["<unparsable>", str(e)], False)]
    found, command = [], []
    for word in words + [";"]:
        if word and set(word) <= set(";&|"):
            found.append(command)
            command = []
        else:
            command.append(word)
    lines = []
    for command in found:
        while command and (command[0] in {"$", "srun", "time"} or re.fullmatch(r"\w+=.*", command[0])):
            command = command[1:]  # a prompt, a launcher, VAR=value
        if command and (command[0] == "winnow" or command[0].endswith("/winnow")):
            args = command[1:]
            placeholder = any(a.startswith("[") or a.endswith("]") or a in ("...", "…") for a in args)
            lines.append(Line(where, args, synopsis or placeholder))
    return lines


def _logical(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Lines joined where they end with a backslash."""
    out, buffer, start = [], "", None
    for number, text in lines:
        if start is None:
            start = number
        if text.rstrip().endswith("\\"):
            buffer += text.rstrip()[:-1] + " "
            continue
        out.append((start, buffer + text))
        buffer, start = "", None
    if buffer:
        out.append((start, buffer))
    return out


def command_lines(text: str, name: str) -> list[Line]:
    """Every winnow command line a markdown text shows: in its shell code blocks (parsed for
    real) and in inline code (a synopsis)."""
    found, prose, block, fence = [], [], [], None
    for number, raw in enumerate(text.split("\n"), 1):
        stripped = raw.strip()
        if fence is None and stripped.startswith("```"):
            fence, block = stripped[3:].strip().lower(), []
            continue
        if fence is not None:
            if stripped.startswith("```"):
                if fence in SHELL_FENCES:
                    for start, logical in _logical(block):
                        found += _commands(logical, f"{name}:{start}")
                fence = None
            else:
                block.append((number, raw))
            continue
        if re.match(r"^ {4,}(\$ )?winnow ", raw) and not re.match(r"^\s*[-*] ", raw):  # an indented code block
            found += _commands(stripped, f"{name}:{number}")
            prose.append((number, ""))
        else:
            prose.append((number, raw))
    # inline code, which may wrap over lines: spans of the prose joined
    joined, starts = "", []
    for number, raw in prose:
        starts.append((len(joined), number))
        joined += raw + "\n"
    for m in re.finditer(r"(?<!`)`([^`]+)`(?!`)", joined):
        span = " ".join(m.group(1).split())
        number = max(n for at, n in starts if at <= m.start())
        if span.startswith("winnow "):
            found += _commands(span, f"{name}:{number}", synopsis=True)
    return found


def prose_options(text: str, name: str) -> list[tuple[str, str]]:
    """(where, option) for each inline code span that starts with an option (`--commit-mb 64`)."""
    text = re.sub(r"```.*?```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    found = []
    for m in re.finditer(r"(?<!`)`(--?[A-Za-z][\w.-]*)[^`]*`(?!`)", text):
        found.append((f"{name}:{text.count(chr(10), 0, m.start()) + 1}", m.group(1)))
    return found


def makefile_lines() -> list[Line]:
    lines = []
    for number, raw in enumerate((ROOT / "Makefile").read_text().split("\n"), 1):
        if raw.startswith("\t$(BIN)/winnow "):
            lines += _commands(raw.strip(), f"Makefile:{number}")
    return lines


# -- the tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_line_parses(path):
    lines = command_lines(path.read_text(), str(path.relative_to(ROOT)))
    wrong = [p for line in lines for p in problems(line)]
    assert not wrong, "\n".join(wrong)


def test_the_docs_show_commands_to_check():
    """The finder finds what is there (a finder that finds nothing would pass every doc)."""
    lines = [line for path in DOCS for line in command_lines(path.read_text(), path.name)]
    concrete = [line for line in lines if not line.synopsis]
    verbs = {_resolve(line.args)[1] for line in concrete}
    assert len(concrete) >= 40 and len(lines) - len(concrete) >= 60, (len(concrete), len(lines))
    assert {"winnow init", "winnow ingest", "winnow score", "winnow sql", "winnow select create",
            "winnow materialize", "winnow train", "winnow compare", "winnow dedup", "winnow report",
            "winnow serve", "winnow weights fit", "winnow weights sample", "winnow rater train",
            "winnow eval", "winnow similar", "winnow index"} <= verbs
    readme = [line for line in command_lines(DOCS[0].read_text(), "README.md") if not line.synopsis]
    assert len(readme) >= 9  # the tour


def test_options_named_in_prose_exist():
    """An option named alone (`--commit-mb`) is some command's, or a benchmark script's (bench/*.py)."""
    known = _all_options() | {o for script in (ROOT / "bench").rglob("*.py")
                              for o in re.findall(r"[\"'](--[\w-]+)[\"']", script.read_text())}
    wrong = [f"{where}: {option}" for path in DOCS
             for where, option in prose_options(path.read_text(), str(path.relative_to(ROOT)))
             if option not in known and not (option.startswith("--") and "." in option)]
    assert not wrong, "options no command has:\n" + "\n".join(wrong)


def test_the_quickstart_parses():
    lines = makefile_lines()
    assert len(lines) >= 30, len(lines)
    wrong = [p for line in lines for p in problems(line)]
    assert not wrong, "\n".join(wrong)


def test_the_readme_links_resolve():
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" not in target:
                assert (path.parent / target).exists(), f"{path.name}: link to {target}"


def test_the_checker_catches_what_is_wrong():
    doc = "\n".join([
        "### `winnow score URI SCORER... [--workers N] [--no-such-option N]`",
        "```sh",
        "winnow score demo gopher --frobnicate 3",
        "winnow ingest demo data.jsonl \\",
        "    --workers two",
        "winnow materialize demo top --tokenizer t.json",
        "winnow select frobnicate demo",
        "winnow train demo shards --flavor tiny --training.steps 8 --made-up",
        "winnow score demo gopher --workers 2 && winnow sql demo 'SELECT 1'",
        "winnow score demo minhash -p bands=14 -p rowz=8",
        "```",
        "See `--commit-mb 64` and `--no-such-flag`, and `winnow dedup URI [--engine local|ray] [--bogus]`.",
    ])
    found = "\n".join(p for line in command_lines(doc, "doc.md") for p in problems(line))
    assert "doc.md:1: `winnow score URI SCORER... [--workers N] [--no-such-option N]`: winnow score has no " \
           "option --no-such-option" in found
    assert "--workers N]` " not in found.replace("--no-such-option", "")  # --workers exists
    assert "doc.md:3:" in found and "--frobnicate" in found
    assert "doc.md:4: `winnow ingest demo data.jsonl --workers two`: BadParameter" in found  # joined over the \
    assert "doc.md:6:" in found and "--out" in found  # a missing required option
    assert "doc.md:7:" in found and "no command 'frobnicate'" in found
    assert "winnow train has no option --made-up" in found and "no option --training.steps" not in found
    assert "doc.md:9:" not in found  # both commands of the line parse
    assert "doc.md:10:" in found and "rowz" in found  # a scorer parameter that does not exist
    assert "doc.md:12: `winnow dedup URI [--engine local|ray] [--bogus]`: winnow dedup has no option --bogus" \
           in found  # an alternative's bar is not a pipe: the options after it are checked too
    assert [o for _, o in prose_options(doc, "doc.md") if o not in _all_options()] == ["--no-such-flag"]


def sql_statements(text: str, name: str) -> list[tuple[str, str]]:
    """(where, statement) for each statement of the ```sql blocks; one that elides (`...`) is
    left out."""
    found, block, start, fence = [], [], 0, None
    for number, raw in enumerate(text.split("\n"), 1):
        stripped = raw.strip()
        if fence is None and stripped.startswith("```"):
            fence, block, start = stripped[3:].strip().lower(), [], number + 1
        elif fence is not None and stripped.startswith("```"):
            if fence == "sql":
                code = "\n".join(re.sub(r"--.*", "", line) for line in block)
                found += [(f"{name}:{start}", s.strip()) for s in code.split(";") if s.strip() and "..." not in s]
            fence = None
        elif fence is not None:
            block.append(raw)
    return found


def sql_problems(statements: list[tuple[str, str]]) -> list[str]:
    """The statements DuckDB's parser refuses (macros and tables are bound only when run)."""
    import duckdb
    import orjson

    con, wrong = duckdb.connect(), []
    for where, statement in statements:
        tree = orjson.loads(con.execute("SELECT json_serialize_sql(?::VARCHAR)", [statement]).fetchone()[0])
        if tree.get("error"):
            wrong.append(f"{where}: {tree.get('error_message')}\n{statement}")
    return wrong


def test_the_sql_shown_parses():
    statements = [s for path in DOCS for s in sql_statements(path.read_text(), str(path.relative_to(ROOT)))]
    assert len(statements) >= 15, len(statements)
    wrong = sql_problems(statements)
    assert not wrong, "\n".join(wrong)
    bad = sql_statements("```sql\nSELEC 1; -- a typo\nSELECT 2 + ... -- elided\n```\n", "doc.md")
    assert bad == [("doc.md:2", "SELEC 1")]
    assert [line.split("\n")[0] for line in sql_problems(bad)] == ['doc.md:2: syntax error at or near "SELEC"']


# -- the Python names the pages show ----------------------------------------------------------------

PACKAGE_DIRS = {"winnow.lake": "lake", "winnow.ingest": "ingest", "winnow.scoring": "scoring", "winnow.sql": "sql",
                "winnow.train": "train", "winnow": "winnow"}  # pyproject's package-dir mapping
NOT_MODULES = {"winnow.scorers"}  # the entry-point group of scorers


def _module_file(dotted: str) -> Path | None:
    for prefix in sorted(PACKAGE_DIRS, key=len, reverse=True):
        if dotted == prefix or dotted.startswith(prefix + "."):
            relative = PACKAGE_DIRS[prefix] + dotted[len(prefix):].replace(".", "/")
            for candidate in (ROOT / f"{relative}.py", ROOT / relative / "__init__.py"):
                if candidate.exists():
                    return candidate
            return None
    return None


def _defines(path: Path, name: str) -> bool:
    """Whether a module's top level defines or imports `name`, or lists it in `__all__` (a
    package whose names are imported when first read, lake/lazy.py; tests/test_startup.py
    reads each of them); read, not imported: no torch."""
    import ast

    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
                and name in ast.literal_eval(node.value)):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                (a.asname or a.name.split(".")[0]) == name for a in node.names):
            return True
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
    return False


def python_name_exists(dotted: str) -> bool:
    """`winnow.train.llm.config_registry.metarater_1_3b`: the longest prefix that is a module of
    the tree, then the next name defined in it (what follows, a method, is not checked)."""
    parts = dotted.split(".")
    for at in range(len(parts), 0, -1):
        path = _module_file(".".join(parts[:at]))
        if path is not None:
            return at == len(parts) or _defines(path, parts[at]) or _module_file(".".join(parts[:at + 1])) is not None
    return False


def test_the_python_names_shown_exist():
    wrong = []
    for path in DOCS:
        text = path.read_text()
        for m in re.finditer(r"(?<![\w/.-])winnow(?:\.[A-Za-z_]\w*)+", text):
            if m.group(0) not in NOT_MODULES and not python_name_exists(m.group(0)):
                wrong.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}")
    assert not wrong, "names the pages show that the code does not have:\n" + "\n".join(wrong)
    assert python_name_exists("winnow.train.llm.config_registry.metarater_1_3b")
    assert python_name_exists("winnow.ingest_files") and python_name_exists("winnow.sql.Session")
    assert not python_name_exists("winnow.ingest_file") and not python_name_exists("winnow.train.shards.open_shards")
