"""HTML as the terminal watcher prints it (``client/_html_text.py``), without a server."""

from __future__ import annotations

from jupyter_realtime.client._html_text import html_to_text
from jupyter_realtime.client._terminal import plain_text


def test_a_table_becomes_aligned_columns_with_numbers_on_the_right() -> None:
    markup = (
        "<table><thead><tr><th></th><th>name</th><th>score</th></tr></thead>"
        "<tbody><tr><th>0</th><td>alice</td><td>9.5</td></tr>"
        "<tr><th>1</th><td>bob &lt;b&gt;</td><td>10.25</td></tr></tbody></table>"
    )
    assert html_to_text(markup).splitlines() == [
        "   name     score",
        "0  alice      9.5",
        "1  bob <b>  10.25",
    ]


def test_blocks_break_lines_and_scripts_styles_and_bad_markup_do_not_show() -> None:
    markup = (
        "<style>p {color: red}</style><h2>Run  3</h2><p>loss <i>0.31</i><br>acc 0.9</p>"
        "<script>alert(1)</script><ul><li>one</li><li>two</li></ul><pre>a  b\n  c</pre>"
        "<table><tr><td>open"
    )
    assert html_to_text(markup) == "Run 3\nloss 0.31\nacc 0.9\none\ntwo\na  b\n  c\nopen"


def test_plain_text_prefers_a_real_text_form_over_the_html() -> None:
    html = "<b>bold</b>"
    assert plain_text({"text/html": html, "text/plain": "<IPython.core.display.HTML object>"}) == (
        "bold"
    )
    assert plain_text({"text/html": html, "text/plain": "<foo.Bar object at 0x7f00aa>"}) == "bold"
    assert plain_text({"text/html": html, "text/plain": "   a\n0  1"}) == "   a\n0  1"
    assert plain_text({"text/html": html}) == "bold"
    assert plain_text({"text/plain": "<IPython.core.display.HTML object>"}) == (
        "<IPython.core.display.HTML object>"
    )  # nothing better to show
