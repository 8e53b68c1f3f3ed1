"""The docs run: every block of README.md and docs/*.md, against a real server and kernel.

One test per block, named ``FILE:LINE`` (the block's first line), in page order. What a
block is decides what its test does:

- **python** (```` ```python ````, ``%magics`` and ``%%magics`` cells included): executed as one
  cell in the page's kernel, in order, so a block can use what an earlier one defined. The
  cell must succeed with nothing on stderr. The README's inline cells (the widget gallery)
  must also show a widget.
- **config** (a python block of ``c.Class.trait = value`` lines): loaded with traitlets'
  config loader; every trait must exist on its class and the values must be accepted.
- **shell** (```` ```sh ````, ```` ```bash ````, the README's indented blocks): each command
  runs with bash where ``$T`` is the server's token, ``http://localhost:8888/`` is rewritten
  to the test server (its port and base_url) and Jupyter's runtime directory is the
  server's, so the CLI finds it as it finds a user's server. Every command must exit 0.
  Long-running commands (``curl -N``, ``jupyter realtime subscribe``/``watch``) run in the
  background until they printed a publication (at most 20 s), then get Ctrl-C.
- **console** (```` ```console ````): the ``$`` lines are the commands, run as above; the lines
  under each are its documented output, compared with the real output by shape (the same
  JSON keys; for text, the first line with digits generalized).
- **output** (```` ```json ````, ```` ```text ````, or JSON lines): compared by shape with real
  JSON: what the page's previous block printed, the publications (and their data) of the
  server's channels, their REST history, list and shared-document answers. A documented
  object with a ``type`` is compared with real ones of that type, when the page produced any;
  at least one object of the block must be compared.
- **shown** (```` ```text ```` that is not JSON: a byte layout, a request line): skipped.
- A block whose Markdown has ``<!-- docs-test: skip: REASON -->`` just above is reported as
  skipped with that reason. Browser code (TypeScript, HTML) and commands that cannot run
  here (``jupyter lab``, a JupyterHub, a benchmark) are tagged that way.

One ``jupyter server`` serves every page (it takes seconds to start on a loaded machine, a
kernel one); each page gets a kernel of its own, shared by its blocks in order, and shut
down when the next page starts. Pages share the server's channels, as users of one
server do. A block
whose earlier blocks did not run (``-k`` selected it alone) runs them first.

Known mismatches between the docs and the code are ``xfail(strict=True)`` here (``XFAIL``),
so that the fix turns the test red until its marker is removed. A few documented claims
that are prose, not blocks, are checked at the end (``test_claim``).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from docblocks import Block, blocks
from docserver import Command, DocServer, Kernel, run_shell, start_kernel, stop_kernel
from traitlets.config import Config, Configurable

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON, SHELL = {"python", "py", "ipython"}, {"sh", "bash", "shell", ""}

# What a page's examples show needs something to show: cells run in the page's kernel first.
SETUP = {
    "protocol.md": [
        'import jupyter_realtime as rt\nrt.channel("train:metrics").publish({"loss": 0.31})'
    ],
    "watch.md": [
        "%load_ext jupyter_realtime",
        '%%realtime mirror train:log\nfor epoch in range(3):\n    print(f"epoch {epoch} loss 0.9")',
    ],
}

# (page, a snippet of the block) -> the known mismatch its test shows
XFAIL: dict[tuple[str, str], str] = {}


def json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def documented_objects(text: str) -> list[dict[str, Any]]:
    """The JSON objects of an output block (``[...]`` and ``{...}`` stand for content)."""
    text = text.replace("[...]", "[]").replace("{...}", "{}")
    whole = json_or_none(text)
    if isinstance(whole, dict):
        return [whole]
    found = []
    for line in text.splitlines():
        if not line.strip():
            continue
        value = json.loads(line)
        if not isinstance(value, dict):
            raise ValueError(line)
        found.append(value)
    return found


def page_name(path: Path) -> str:
    return path.name


def all_blocks() -> list[Block]:
    return [block for path in PAGES for block in blocks(path, page_name(path))]


def kind(block: Block) -> str:
    """What the block is (see the module doc)."""
    if block.tag.startswith("skip"):
        return "skip"
    if block.lang == "text" and not is_json_lines(block.text):
        return "shown"
    if block.lang in ("json", "text") or block.tag == "output" or is_json_lines(block.text):
        return "output"
    if block.lang in PYTHON:
        return "config" if is_config(block.text) else "python"
    if block.lang == "console":
        return "console"
    if block.lang in SHELL:
        return "shell"
    return "unknown"


def is_json_lines(text: str) -> bool:
    try:
        return bool(documented_objects(text))
    except ValueError:
        return False


def is_config(text: str) -> bool:
    """Whether every statement assigns to ``c.Class.trait``, as a config file does."""
    try:
        statements = ast.parse(text).body
    except SyntaxError:  # a %magic
        return False

    def sets_config(node: ast.stmt) -> bool:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            return False
        target = node.targets[0]
        owner = target.value if isinstance(target, ast.Attribute) else None
        base = owner.value if isinstance(owner, ast.Attribute) else None
        return isinstance(base, ast.Name) and base.id == "c"

    return bool(statements) and all(sets_config(node) for node in statements)


def params() -> list[Any]:
    found = []
    for block in all_blocks():
        marks: list[Any] = []
        if kind(block) == "skip":
            marks.append(pytest.mark.skip(reason=block.tag.partition(":")[2].strip()))
        if kind(block) == "shown":
            marks.append(pytest.mark.skip(reason="text shown (a layout, a request line), not run"))
        for (page, snippet), reason in XFAIL.items():
            if block.path == page and snippet in block.text:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
        found.append(pytest.param(block, id=block.id, marks=marks))
    return found


# -- pages: a server and a kernel each, one page at a time -----------------------------------


class Page:
    """One page's server, kernel, the blocks that ran and what they printed."""

    def __init__(self, name: str, server: DocServer, kernels: Callable[[], Kernel]) -> None:
        self.name = name
        self.blocks = [b for path in PAGES if page_name(path) == name for b in blocks(path, name)]
        self.server = server
        self._kernels = kernels
        self._kernel: Kernel | None = None
        self.prefetched: dict[str, Future[Command]] = {}
        self.done = 0
        self.printed = ""  # what the last block that ran printed
        for cell in SETUP.get(name, []):
            result = self.kernel.run(cell)
            assert result.status == "ok" and not result.stderr, f"{name} setup: {result.text()}"

    @property
    def kernel(self) -> Kernel:
        if self._kernel is None:
            self._kernel = self._kernels()
        return self._kernel

    def run_to(self, block: Block) -> None:
        """Run the blocks of the page before ``block`` that did not run yet, then it."""
        index = self.blocks.index(block)
        while self.done < index:
            earlier = self.blocks[self.done]
            self.done += 1
            if kind(earlier) not in ("skip", "shown"):
                try:
                    run_block(self, earlier)
                except Exception:  # it fails in its own test, with its own id
                    pass
        self.done = index + 1
        run_block(self, block)

    def close(self) -> None:
        if self._kernel is not None:
            self._kernel.stop()


class Pages:
    """The server (started once: 20 s on a loaded machine) and the current page.

    The next page's kernel starts while a page runs (a kernel takes seconds to start).
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.server: DocServer | None = None
        self.current: Page | None = None
        self.starter = ThreadPoolExecutor(1)
        self.spare: Future[str] | None = None  # a kernel's id
        self.slow = ThreadPoolExecutor(2)
        self.prefetched: dict[str, Future[Command]] = {}

    def kernel(self) -> Kernel:
        assert self.server is not None
        spare = self.spare or self.starter.submit(start_kernel, self.server)
        self.spare = self.starter.submit(start_kernel, self.server)
        return Kernel(self.server, spare.result(timeout=120))

    def get(self, name: str) -> Page:
        if self.server is None:
            self.server = DocServer(self.workdir)
            for command, env in slow_commands(self.server):  # they need no server: start now
                self.prefetched[command] = self.slow.submit(run_one, command, self.server, env)
            self.server.start()
        if self.current is None or self.current.name != name:
            self.close_page()
            self.current = Page(name, self.server, self.kernel)
            self.current.prefetched = self.prefetched
        return self.current

    def close_page(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None

    def close(self) -> None:
        self.close_page()
        if self.spare is not None and self.server is not None:
            stop_kernel(self.server, self.spare.result(timeout=120))
        self.starter.shutdown()
        self.slow.shutdown()
        if self.server is not None:
            self.server.stop()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    manager = Pages(tmp_path_factory.mktemp("docs"))
    yield manager
    manager.close()


# -- one test per block -----------------------------------------------------------------------


@pytest.mark.parametrize("block", params())
def test_block(block: Block, pages: Pages) -> None:
    assert kind(block) != "unknown", f"{block.id}: a ```{block.lang} block: run it, or tag it"
    if kind(block) == "config":
        check_config(block)
        return
    pages.get(block.path).run_to(block)


def run_block(page: Page, block: Block) -> None:
    what = kind(block)
    if what == "python":
        run_python(page, block)
    elif what in ("shell", "console"):
        run_commands(page, block)
    elif what == "output":
        check_output(page, block)


def run_python(page: Page, block: Block) -> None:
    result = page.kernel.run(block.text)
    page.printed = result.text()
    assert result.status == "ok", f"{block.id} failed:\n{result.error}\n{result.stderr}"
    assert result.stderr == "", f"{block.id} wrote on stderr:\n{result.stderr}"
    if block.kind == "inline":
        assert result.views(), f"{block.id} shows no widget: {result.text()!r}"


def console_commands(text: str) -> list[tuple[str, list[str]]]:
    """The ``$`` commands of a console block, each with its documented output lines."""
    found: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], []))
        elif found and line.strip():
            found[-1][1].append(line)
    return found


def shell_commands(text: str) -> list[str]:
    joined = text.replace("\\\n", " ")
    return [
        line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def run_commands(page: Page, block: Block) -> None:
    if kind(block) == "console":
        documented = console_commands(block.text)
        commands = [command for command, _ in documented]
        expected = {page.server.rewrite(c): len(out) for c, out in documented}

        def ready(command: Command) -> bool:
            return len(command.out.strip().splitlines()) >= max(1, expected.get(command.text, 1))
    else:
        documented = [(command, []) for command in shell_commands(block.text)]
        commands = [command for command, _ in documented]

        def ready(command: Command) -> bool:
            return '"sender"' in command.out

    done = run_shell(commands, page.server, ROOT, ready)
    page.printed = "\n".join(command.out for command in done)
    for command, (_, outputs) in zip(done, documented, strict=True):
        if command.background:
            assert ready(command), f"{command.text!r} printed {command.out!r} {command.err!r}"
        else:
            assert command.code == 0, f"{command.text!r} exited {command.code}: {command.err}"
        if outputs:
            compare_console(command, outputs)


def compare_console(command: Command, outputs: list[str]) -> None:
    real = command.out.splitlines() + command.err.splitlines()
    objects = [json_or_none(line) for line in real]
    for line in outputs:
        expected = json_or_none(line)
        if isinstance(expected, dict):
            keys = set(expected)
            assert any(isinstance(o, dict) and set(o) == keys for o in objects), (
                f"{command.text!r}: no line with the keys {sorted(keys)} in {command.out!r}"
            )
    shown = [line for line in outputs if line.strip() not in ("...", "\u2026")]  # elided
    if shown and json_or_none(shown[0]) is None:
        pattern = re.escape(shown[0]).replace(r"\ ", " ")
        pattern = re.sub(r"\d+(\\\.\d+)?", r"\\d+(\\.\\d+)?", pattern)
        assert any(re.fullmatch(pattern, line.rstrip()) for line in real), (
            f"{command.text!r}: no line like {shown[0]!r} in {command.out!r}"
        )


# -- output blocks: the same shape as real output ------------------------------------------


def real_objects(page: Page) -> list[dict[str, Any]]:
    """JSON objects the server and the page's blocks really produced."""
    found: list[dict[str, Any]] = []
    for line in page.printed.splitlines():
        value = json_or_none(line.removeprefix("data:").strip())
        if isinstance(value, dict):
            found.append(value)
    listing = page.server.get("realtime/api/channels")
    found += listing["channels"]
    for entry in listing["channels"]:
        name = quote(entry["channel"], safe=":@")
        history = page.server.get(f"realtime/api/channels/{name}/history?limit=1000")
        found.append(history)
        for publication in history["publications"]:
            found.append(publication)
            if isinstance(publication.get("data"), dict):
                found.append(publication["data"])
        binary = any("data_b64" in p for p in history["publications"])
        if binary and not entry["channel"].endswith(":awareness"):
            found.append(page.server.get(f"realtime/api/documents/{name}"))
    return found


def check_output(page: Page, block: Block) -> None:
    documented = documented_objects(block.text)
    assert documented, f"{block.id}: an output block with no JSON to compare"
    real = real_objects(page)
    compared = 0
    for expected in documented:
        if set(expected) == {"id", "result"}:
            expected = expected["result"]  # a command's reply: its result, as REST answers it
        same_kind = [o for o in real if "type" not in expected or o.get("type") == expected["type"]]
        if not same_kind:
            continue  # the page produced none of this type
        compared += 1
        assert any(set(o) == set(expected) for o in same_kind), (
            f"{block.id}: no real object has the keys {sorted(expected)}; "
            f"real ones: {sorted({tuple(sorted(o)) for o in same_kind})}"
        )
    assert compared, f"{block.id}: nothing real to compare with"


# -- config blocks ---------------------------------------------------------------------------


def config_classes() -> dict[str, type[Configurable]]:
    from IPython.core.shellapp import InteractiveShellApp

    from jupyter_realtime.app import RealtimeApp
    from jupyter_realtime.kernel._settings import RealtimeMirror

    return {cls.__name__: cls for cls in (RealtimeApp, RealtimeMirror, InteractiveShellApp)}


def check_config(block: Block) -> None:
    config = Config()
    exec(compile(block.text, block.id, "exec"), {"c": config})  # as traitlets loads a .py config
    classes = config_classes()
    for section, values in config.items():
        assert section in classes, f"{block.id}: unknown class {section}"
        cls = classes[section]
        known = cls.class_trait_names(config=True)
        for name in values:
            assert name in known, f"{block.id}: {section} has no trait {name!r}"
        configured = cls(config=Config({section: values}))  # a bad value raises TraitError
        for name, value in values.items():
            assert getattr(configured, name) == value, f"{block.id}: {section}.{name}"


# -- claims made in prose --------------------------------------------------------------------


def claim_line(page: str, snippet: str) -> int:
    path = next(p for p in PAGES if page_name(p) == page)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if snippet in line:
            return number
    raise LookupError(f"{page}: no line with {snippet!r}")


def sh(page: Page, command: str, env: dict[str, str] | None = None) -> Command:
    if command in page.prefetched:
        return page.prefetched[command].result(timeout=120)
    return run_shell([command], page.server, ROOT, env=env)[0]


def run_one(command: str, server: DocServer, env: dict[str, str]) -> Command:
    return run_shell([command], server, ROOT, env=env)[0]


def slow_commands(server: DocServer) -> list[tuple[str, dict[str, str]]]:
    """Commands of the claims that take seconds and need no server: started with it."""
    return [(EXTENSION_LIST, bare_env(server)), (HELP_ALL, server.env())]


EXTENSION_LIST, HELP_ALL = "jupyter server extension list", "jupyter realtime config"


def bare_env(server: DocServer) -> dict[str, str]:
    """No config of the user's: what the package installed only."""
    return {**server.env(), "JUPYTER_CONFIG_DIR": str(server.home / "empty")}


def claim_extension_enabled(page: Page) -> None:
    """Enabled on install: with no config of the user's, only what the package installed."""
    done = sh(page, EXTENSION_LIST, bare_env(page.server))
    listed = re.sub(r"\x1b\[[0-9;]*m", "", done.out + done.err)  # colours on a terminal
    assert re.search(r"jupyter_realtime\s+enabled", listed), listed


def claim_help_all(page: Page) -> None:
    done = sh(page, HELP_ALL)
    for trait in ("history_size", "max_message_size", "token_user", "max_publish_rate"):
        assert f"--RealtimeApp.{trait}" in done.out, f"{HELP_ALL} does not list {trait}"


def exit_code(expected: int, command: str) -> Any:
    def claim(page: Page) -> None:
        done = sh(page, command)
        assert done.code == expected, f"{command!r} exited {done.code}: {done.err}"
        assert done.err.startswith("jupyter realtime: error: "), done.err

    return claim


def claim_magic_bad_name_runs_the_cell(page: Page) -> None:
    page.kernel.run("%load_ext jupyter_realtime\nran = False")
    result = page.kernel.run("%%realtime mirror bad name\nran = True")
    assert result.status == "ok", result.error + result.stderr
    assert page.kernel.run("ran").results == [{"text/plain": "True"}]
    assert result.stderr.startswith("jupyter_realtime: "), result.stderr


def claim_cell_publish_is_quiet(page: Page) -> None:
    page.kernel.run("%load_ext jupyter_realtime")
    result = page.kernel.run('%%realtime publish claims\n{"x": 41 + 1}')
    assert result.status == "ok", result.error
    newest = page.server.get("realtime/api/channels/claims/history?limit=1")["publications"]
    assert [p["data"] for p in newest] == [{"x": 42}]
    assert result.stderr == "", "success is reported on stderr, which the docs keep for failures"


CLAIMS = [
    # (page, a snippet of the line that says it, test id, check, known mismatch or "")
    ("README.md", "`jupyter server extension list` shows", "enabled", claim_extension_enabled, ""),
    (
        "README.md",
        "`jupyter realtime config` (or `jupyter realtime --help-all`) lists them all",
        "help-all",
        claim_help_all,
        "",
    ),
    (
        "client.md",
        "Exit codes: `0` ok;",
        "exit-2-not-json",
        exit_code(2, "jupyter realtime publish demo 'not json'"),
        "",
    ),
    (
        "client.md",
        "Exit codes: `0` ok;",
        "exit-2-bad-channel",
        exit_code(2, "jupyter realtime publish 'bad name' 1"),
        "",
    ),
    (
        "client.md",
        "Exit codes: `0` ok;",
        "exit-3-no-server",
        exit_code(3, "jupyter realtime publish demo 1 --url http://127.0.0.1:9/ --token x"),
        "",
    ),
    (
        "kernel.md",
        "When a magic cannot do",
        "bad-name-runs-cell",
        claim_magic_bad_name_runs_the_cell,
        "",
    ),
    (
        "kernel.md",
        "`%%realtime publish CHANNEL` | runs the cell",
        "publish-quiet",
        claim_cell_publish_is_quiet,
        "",
    ),
]


def claim_params() -> list[Any]:
    found = []
    for page, snippet, name, check, mismatch in CLAIMS:
        marks = [pytest.mark.xfail(strict=True, reason=mismatch)] if mismatch else []
        label = f"{page}:{claim_line(page, snippet)}:{name}"
        found.append(pytest.param(check, id=label, marks=marks))
    return found


@pytest.mark.parametrize("check", claim_params())
def test_claim(check: Any, pages: Pages) -> None:
    """A documented claim made in prose, checked on the real server (a kernel of its own)."""
    check(pages.get("claims"))
