"""The blocks of ``%realtime watch`` and its terminal text, without a kernel."""

from __future__ import annotations

from jupyter_realtime.kernel._blocks import BLOCK_CHARS, blocks, write_stream


def test_carriage_returns_rewrite_the_last_line_as_a_terminal_does() -> None:
    text = ""
    for i in range(1000):  # tqdm writing to a file: the text stays one line long
        text = write_stream(text, f"\r{i:4d}/1000")
    assert text == " 999/1000"
    assert write_stream("done\n 10%", "\r 20%\r\nnext") == "done\n 20%\nnext"
    text = ""
    for i in range(3):  # print(i, end="\r"): the next one overwrites it
        text = write_stream(text, f"{i * 10}%\r")
    assert text == "20%\r"
    assert write_stream(text, "100%\n") == "100%\n"
    assert write_stream("abcdef", "\rXY") == "XYcdef"  # as a terminal: the rest stays


def test_blocks_are_cut_at_line_ends_and_only_the_last_one_changes_as_text_grows() -> None:
    header = {"output_type": "display_data", "header": True, "data": {"text/plain": "── In [1] ──"},
              "metadata": {}}  # fmt: skip
    lines = [f"line {i:05d} {'x' * 40}\n" for i in range(2000)]
    before = blocks([header, {"output_type": "stream", "name": "stdout",
                              "text": "".join(lines[:1000])}])  # fmt: skip
    after = blocks([header, {"output_type": "stream", "name": "stdout",
                             "text": "".join(lines)}])  # fmt: skip
    assert "header" not in after[0][0]  # the view's own keys are not shown
    assert after[: len(before) - 1] == before[:-1]  # the full blocks did not change
    assert after[len(before) - 1][-1]["text"].startswith(before[-1][-1]["text"])
    for block in after:
        size = sum(len(o.get("text", "")) for o in block)
        assert size < BLOCK_CHARS + 100
        assert block[-1].get("text", "\n").endswith("\n")
    text = "".join(o["text"] for block in after for o in block if o["output_type"] == "stream")
    assert text == "".join(lines)
