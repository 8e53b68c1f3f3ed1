"""The extraction of the docs' code blocks (no server): what tests/test_docs.py runs."""

from __future__ import annotations

from pathlib import Path

from docblocks import blocks

PAGE = """# Title

Run it:

<!-- docs-test: skip: needs a JupyterHub -->

    jupyter lab

- a list item
    whose continuation is not code

```python
x = 1
if x:
    print(x)
```

  ```json
  {"a": 1}
  ```

`LiveLog("alerts")`: a widget.

```
plain
```
"""


def test_blocks_with_their_language_line_tag_and_kind(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text(PAGE)
    found = blocks(path)
    assert [(b.line, b.lang, b.kind, b.tag) for b in found] == [
        (7, "", "indented", "skip: needs a JupyterHub"),
        (13, "python", "fenced", ""),
        (19, "json", "fenced", ""),
        (22, "python", "inline", ""),
        (25, "", "fenced", ""),
    ]
    assert found[0].text == "jupyter lab\n"
    assert found[1].text == "x = 1\nif x:\n    print(x)\n"  # indentation kept
    assert found[2].text == '{"a": 1}\n'  # the list item's indentation removed
    assert found[3].text == 'LiveLog("alerts")\n'
    assert found[0].id == "README.md:7"


def test_inline_cells_are_the_readmes_only(tmp_path: Path) -> None:
    path = tmp_path / "widgets.md"
    path.write_text(PAGE)
    assert "inline" not in [b.kind for b in blocks(path)]
