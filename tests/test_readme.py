"""The README's Python examples run as written and print what the README says."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def test_the_readme_has_python_examples() -> None:
    assert BLOCKS, "no ```python block in README.md"


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_readme_python_block(number: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A block of '>>>' examples is checked by doctest; a plain block is executed."""
    monkeypatch.chdir(tmp_path)
    text = BLOCKS[number]
    if ">>>" not in text:
        exec(compile(text, f"README.md block {number + 1}", "exec"), {})
        return
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, f"README.md block {number + 1}", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0 and result.attempted > 0, f"{result.failed} README example(s) failed"
