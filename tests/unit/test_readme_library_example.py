"""The README's event-pattern library example runs as written."""

from __future__ import annotations

import re

from tests.support import ROOT


def test_readme_library_example_runs(capsys):
    found = re.search(
        r"<!-- run: library -->\n```python\n(.*?)\n```", (ROOT / "README.md").read_text(), re.DOTALL
    )
    assert found is not None, "README.md has no `run: library` block"
    exec(compile(found.group(1), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "source" in printed and "com.example.shop" in printed
