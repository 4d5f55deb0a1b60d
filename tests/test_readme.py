"""The README's quick start must run as written."""

import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def test_readme_quick_start_runs(capsys):
    text = open(README).read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python block"
    ns = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)
    proba = ns["search"].predict_proba(ns["data"].paths[:4])[:, 1]
    assert proba.shape == (4,) and ((proba >= 0) & (proba <= 1)).all()
    assert set(ns["search"].best_params_) == {"correntropysparseadditiveclassifier__lam"}
