"""The README's Python examples run and say what they print."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run_and_hold(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    # The first fit separates (j) and (q); the width search chooses the widest
    # projector, as the comment beside it says.
    amari = float(capsys.readouterr().out.split()[0])
    assert amari < 5
    assert namespace["search"].best_params_ == {"projector_widths": (32,)}
