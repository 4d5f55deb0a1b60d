"""The README's quick start must run as written, and compute the image features once per fold."""

import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def _quick_start():
    text = open(README).read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python block"
    return blocks[0]


def test_readme_quick_start_runs(monkeypatch, one_torch_thread):
    from skforensics import CLIPFeatureExtractor

    # count the images the CLIP backbone encodes (every CoRIT pass goes through encode)
    encoded = []
    encode = CLIPFeatureExtractor.encode

    def counting_encode(self, x, *args, **kw):
        encoded.append(int(x.shape[0]))
        return encode(self, x, *args, **kw)

    monkeypatch.setattr(CLIPFeatureExtractor, "encode", counting_encode)
    ns = {}
    exec(compile(_quick_start(), "README.md", "exec"), ns)
    search, n = ns["search"], len(ns["data"].paths)
    n_candidates = len(search.cv_results_["params"])
    assert n_candidates == 2 and search.n_splits_ == 3
    # features once per fold (train + test = every image) plus the refit on all images,
    # plus the 4 images of the final predict_proba -- not once per candidate and fold
    assert sum(encoded) == (search.n_splits_ + 1) * n + 4
    assert sum(encoded) < n_candidates * search.n_splits_ * n

    proba = search.predict_proba(ns["data"].paths[:4])[:, 1]
    assert proba.shape == (4,) and ((proba >= 0) & (proba <= 1)).all()
    assert set(search.best_params_) == {"correntropysparseadditiveclassifier__lam"}
