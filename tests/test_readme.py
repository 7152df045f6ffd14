"""The README's Python examples run and say what they print."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run_and_hold(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 3
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    # The first fit separates (j) and (q); the width search chooses the widest
    # projector, as the comment beside it says.
    printed = capsys.readouterr().out.split("\n")
    amari = float(printed[0].split()[0])
    assert amari < 5
    assert namespace["search"].best_params_ == {"projector_widths": (32,)}
    # The certificate: FastICA's separation of two (q) sources flagged as
    # unfinished (its contrast misses them), VCRegICA's not.
    assert printed[-3:-1] == ["FastICA True", "VCRegICA False"]
