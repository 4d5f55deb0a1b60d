import copy
import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import StandardScaler

import skforensics
from skforensics import ModelVersionWarning, UnsafeModelWarning, UntrustedModelError
from skforensics._persistence import (
    ModelVersionError,
    get_untrusted_types,
    pack_tensors,
    read_header,
    unpack_tensors,
)
from skforensics.datasets import load_sample_images
from skforensics.features import ResidualFeatureExtractor, SpectralFeatureExtractor


@pytest.fixture(scope="module")
def sample():
    return load_sample_images("cifake")


@pytest.fixture(scope="module")
def fitted(sample):
    clf = make_pipeline(
        make_union(SpectralFeatureExtractor(n_bins=16), ResidualFeatureExtractor(groups=("npr",))),
        StandardScaler(),
        LogisticRegression(max_iter=1000),
    )
    return clf.fit(sample.paths, sample.y)


def _rewrite_header(path, **versions):
    with open(path, "rb") as f:
        magic, header, rest = f.readline(), json.loads(f.readline()), f.read()
    header["versions"].update(versions)
    with open(path, "wb") as f:
        f.write(magic + json.dumps(header).encode() + b"\n" + rest)


def _archive(path):
    with open(path, "rb") as f:
        f.readline()
        f.readline()
        return zipfile.ZipFile(io.BytesIO(f.read()))


def _assert_same_predictions(loaded, model, X):
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_round_trip(tmp_path, fitted, sample):
    path = tmp_path / "m.skf"
    assert skforensics.save(fitted, path) == str(path)
    with open(path, "rb") as f:
        assert f.readline() == b"SKFORENSICS-MODEL 2\n"
    header = read_header(path)
    assert header["format"] == 2
    assert header["versions"]["skforensics"] == skforensics.__version__
    assert set(header["versions"]) >= {"skforensics", "sklearn", "torch", "skops"}
    assert header["class"].endswith("Pipeline")
    # no torch tensors: the archive holds the skops part only
    assert _archive(path).namelist() == ["model.skops"]
    assert get_untrusted_types(path) == []
    loaded = skforensics.load(path)
    _assert_same_predictions(loaded, fitted, sample.paths)
    assert not os.path.exists(str(path) + ".tmp")


def test_version_mismatch(tmp_path, fitted):
    path = tmp_path / "m.skf"
    skforensics.save(fitted, path, compress=0)
    _rewrite_header(path, sklearn="0.0.1")
    with pytest.warns(ModelVersionWarning, match="sklearn 0.0.1"):
        skforensics.load(path)
    _rewrite_header(path, skforensics="0.0.9")
    with pytest.raises(ModelVersionError, match="skforensics 0.0.9"):
        skforensics.load(path)
    # a different patch / dev release of the same major.minor loads
    major_minor = ".".join(skforensics.__version__.split(".")[:2])
    _rewrite_header(path, skforensics=major_minor + ".99", sklearn=None)
    skforensics.load(path)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        skforensics.load(tmp_path / "missing.skf")
    bad = tmp_path / "bad.skf"
    bad.write_bytes(b"something else")
    with pytest.raises(ValueError, match="not a model saved by skforensics.save"):
        skforensics.load(bad)
    truncated = tmp_path / "truncated.skf"
    truncated.write_bytes(b'SKFORENSICS-MODEL 2\n{"versions": {}}\nPK\x03\x04 nope')
    with pytest.raises(ValueError, match="corrupt skforensics header"):
        skforensics.load(truncated)
    version = json.dumps({"versions": {"skforensics": skforensics.__version__}}).encode()
    truncated.write_bytes(b"SKFORENSICS-MODEL 2\n" + version + b"\nPK\x03\x04 nope")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        skforensics.load(truncated)
    with pytest.raises(ValueError, match="not a regular file"):
        skforensics.load(tmp_path)
    with pytest.raises(ValueError, match="compress"):
        skforensics.save(LogisticRegression(), tmp_path / "x.skf", compress=11)


# ------------------------------------------------------------------ torch models
def test_clip_pipeline_round_trip(tmp_path, sample, one_torch_thread):
    pytest.importorskip("open_clip")
    import torch

    from skforensics import CLIPFeatureExtractor

    ext = CLIPFeatureExtractor("skf-tiny-vit", pretrained=None, random_state=0, batch_size=16)
    clf = make_pipeline(ext, StandardScaler(), LogisticRegression(max_iter=500))
    clf.fit(sample.paths, sample.y)
    path = tmp_path / "clip.skf"
    skforensics.save(clf, path)
    archive = _archive(path)
    assert sorted(archive.namelist()) == ["model.skops", "weights.safetensors"]
    from safetensors.torch import load as st_load

    weights = st_load(archive.read("weights.safetensors"))
    state = clf[0].model_.state_dict()
    assert len(weights) == len(state)
    for name, t in state.items():
        torch.testing.assert_close(weights[f"0/{name}"], t, rtol=0, atol=0)
    rng = torch.get_rng_state()
    loaded = skforensics.load(path)
    assert torch.equal(rng, torch.get_rng_state())  # loading draws no random numbers
    _assert_same_predictions(loaded, clf, sample.paths)


def test_corit_csam_pipeline_round_trip(tmp_path, sample, one_torch_thread):
    pytest.importorskip("open_clip")
    from skforensics import (
        CLIPFeatureExtractor,
        CoRITInjector,
        CorrentropySparseAdditiveClassifier,
    )

    corit = CoRITInjector(
        backbone=CLIPFeatureExtractor("skf-tiny-vit", pretrained=None, random_state=0),
        grid=2,
        batch_size=16,
    )
    clf = make_pipeline(corit, StandardScaler(), CorrentropySparseAdditiveClassifier())
    clf.fit(sample.paths, sample.y)
    path = tmp_path / "corit.skf"
    skforensics.save(clf, path)
    assert "weights.safetensors" in _archive(path).namelist()
    loaded = skforensics.load(path)
    assert type(loaded[0]) is CoRITInjector
    np.testing.assert_array_equal(loaded[0].region_mask_, clf[0].region_mask_)
    _assert_same_predictions(loaded, clf, sample.paths)


def test_samnet_cnn_round_trip(tmp_path, sample, one_torch_thread):
    pytest.importorskip("skorch")
    import torch

    from skforensics.neural import SAMNetClassifier, SmallForensicCNN

    net = SAMNetClassifier(
        SmallForensicCNN,
        module__widths=(8, 16),
        max_epochs=2,
        batch_size=16,
        image_size=32,
        optimizer__momentum=0.9,
        random_state=0,
        device="cpu",
    ).fit(sample.paths, sample.y)
    path = tmp_path / "net.skf"
    skforensics.save(net, path)
    rng = torch.get_rng_state()
    loaded = skforensics.load(path)
    assert torch.equal(rng, torch.get_rng_state())
    _assert_same_predictions(loaded, net, sample.paths)
    assert len(loaded.history) == 2
    # the optimizer state (SAM + its base SGD's momentum) comes back too
    before = net.optimizer_.state_dict()["base_optimizer"]
    after = loaded.optimizer_.state_dict()["base_optimizer"]
    assert before["state"].keys() == after["state"].keys() and before["state"]
    for k, v in before["state"].items():
        for name, t in v.items():
            torch.testing.assert_close(after["state"][k][name], t, rtol=0, atol=0)
    loaded.partial_fit(sample.paths, sample.y)  # still trainable
    assert len(loaded.history) == 4  # max_epochs more
    # plain pickling keeps working (skorch's own path)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(net)).predict_proba(sample.paths), net.predict_proba(sample.paths)
    )


def test_samnet_feature_pipeline_round_trip(tmp_path, one_torch_thread):
    pytest.importorskip("skorch")
    from skforensics.neural import MLPHead, SAMNetClassifier

    rng = np.random.RandomState(0)
    X = rng.randn(60, 5).astype(np.float32)
    y = np.where(X[:, 0] > 0, "fake", "real")
    clf = make_pipeline(
        StandardScaler(),
        SAMNetClassifier(MLPHead, max_epochs=3, batch_size=16, random_state=0, device="cpu"),
    ).fit(X, y)
    path = tmp_path / "mlp.skf"
    skforensics.save(clf, path)
    loaded = skforensics.load(path)
    _assert_same_predictions(loaded, clf, X)
    assert list(loaded.classes_) == ["fake", "real"]


def test_samnet_module_instance_is_refused(tmp_path, one_torch_thread):
    pytest.importorskip("skorch")
    from skforensics.neural import LinearProbe, SAMNetClassifier

    X = np.random.RandomState(0).randn(20, 3).astype(np.float32)
    net = SAMNetClassifier(LinearProbe(3), max_epochs=1, device="cpu").fit(X, np.arange(20) % 2)
    with pytest.raises(TypeError, match="module class"):
        skforensics.save(net, tmp_path / "inst.skf")
    assert not os.path.exists(tmp_path / "inst.skf")
    assert not os.path.exists(str(tmp_path / "inst.skf") + ".tmp")


def test_pack_tensors_outside_save_is_torch_bytes():
    torch = pytest.importorskip("torch")
    sd = {"w": torch.arange(6.0).reshape(2, 3), "step": 3, "nested": [torch.ones(2)]}
    packed = pack_tensors(sd)
    assert isinstance(packed, bytes)
    back = unpack_tensors(packed)
    torch.testing.assert_close(back["w"], sd["w"])
    assert back["step"] == 3
    with pytest.raises(ValueError, match="inside skforensics.load"):
        unpack_tensors({"w": {"__skforensics_tensor__": "0/w"}})


@pytest.mark.gpu
def test_cuda_fitted_model_loads(tmp_path, sample, monkeypatch):
    torch = pytest.importorskip("torch")
    pytest.importorskip("open_clip")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from skforensics import CLIPFeatureExtractor

    clf = make_pipeline(
        CLIPFeatureExtractor("skf-tiny-vit", pretrained=None, random_state=0, device="cuda"),
        LogisticRegression(max_iter=500),
    ).fit(sample.paths, sample.y)
    path = tmp_path / "cuda.skf"
    skforensics.save(clf, path)
    on_cuda = skforensics.load(path)
    assert on_cuda[0].device_.type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    on_cpu = skforensics.load(path)
    assert on_cpu[0].device_.type == "cpu"
    np.testing.assert_allclose(
        on_cpu.predict_proba(sample.paths), clf.predict_proba(sample.paths), atol=1e-4
    )


# ------------------------------------------------------------------------ trust
class MarkerTransformer(TransformerMixin, BaseEstimator):
    """A harmless type from outside skforensics / scikit-learn."""

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        return X


class Hostile(BaseEstimator):
    """Writes a file when it is restored: stands for any code a payload could run."""

    def __init__(self, target=None):
        self.target = target

    def __setstate__(self, state):
        with open(state["target"], "w") as f:
            f.write("pwned")
        self.__dict__.update(state)


class _ExecPayload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (exec, (f"open({self.target!r}, 'w').write('pwned')",))


MARKER = f"{__name__}.MarkerTransformer"


def test_untrusted_types_are_refused(tmp_path):
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 1, 0, 1])
    clf = make_pipeline(MarkerTransformer(), LogisticRegression()).fit(X, y)
    path = tmp_path / "custom.skf"
    skforensics.save(clf, path)
    assert get_untrusted_types(path) == [MARKER]
    with pytest.raises(UntrustedModelError, match="MarkerTransformer") as info:
        skforensics.load(path)
    assert info.value.untrusted == [MARKER]
    assert "trusted=" in str(info.value) and "--trust" in str(info.value)
    for trusted in ([MARKER], [MarkerTransformer]):
        loaded = skforensics.load(path, trusted=trusted)
        np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
        assert isinstance(loaded[0], MarkerTransformer)


def _hostile_v2(tmp_path, target):
    """New-format files whose payload writes ``target`` when loaded."""
    path = tmp_path / "hostile_obj.skf"
    skforensics.save(make_pipeline(Hostile(str(target))), path)
    # a hand-written skops schema calling os.system(...) as a "constructor"
    schema = {
        "__class__": "system",
        "__module__": "os",
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [
                {
                    "__class__": "str",
                    "__module__": "builtins",
                    "__loader__": "JsonNode",
                    "content": json.dumps(f"touch {target}"),
                    "is_json": True,
                }
            ],
        },
        "protocol": 2,
        "_skops_version": "0.16.0",
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
    header = read_header(path)
    system_path = tmp_path / "hostile_system.skf"
    arc = io.BytesIO()
    with zipfile.ZipFile(arc, "w") as zf:
        zf.writestr("model.skops", buf.getvalue())
    system_path.write_bytes(
        b"SKFORENSICS-MODEL 2\n" + json.dumps(header).encode() + b"\n" + arc.getvalue()
    )
    return [(path, f"{__name__}.Hostile"), (system_path, "os.system")]


def _hostile_v1(tmp_path, target):
    header = {"versions": {"skforensics": skforensics.__version__}}
    path = tmp_path / "hostile_pickle.skf"
    path.write_bytes(
        b"SKFORENSICS-MODEL 1\n"
        + json.dumps(header).encode()
        + b"\n"
        + pickle.dumps(_ExecPayload(str(target)))
    )
    return path


def _run_cli(argv):
    from skforensics.cli import main

    try:
        return main(argv)
    except SystemExit as exc:  # argparse-style exits count as a refusal too
        return exc.code


def test_hostile_files_never_run(tmp_path, sample, capsys):
    target = tmp_path / "PWNED"
    img = sample.paths[0]
    hostile = _hostile_v2(tmp_path, target) + [(_hostile_v1(tmp_path, target), None)]
    for path, bad_type in hostile:
        with pytest.raises(ValueError) as info:
            skforensics.load(path)
        if bad_type is None:
            assert "allow_pickle" in str(info.value)
        else:
            assert isinstance(info.value, UntrustedModelError)
            assert bad_type in info.value.untrusted
        assert not target.exists(), f"loading {path.name} ran its payload"
        code = _run_cli(["scan", "--model", str(path), img])
        assert code not in (0, None)
        assert not target.exists(), f"scan --model {path.name} ran its payload"
    capsys.readouterr()
    # control: the payloads are live, so the checks above could fail
    skforensics.load(hostile[0][0], trusted=[hostile[0][1]])
    assert target.read_text() == "pwned"
    target.unlink()
    with pytest.warns(UnsafeModelWarning, match="old pickle-format"):
        skforensics.load(hostile[2][0], allow_pickle=True)
    assert target.exists()


def test_old_format_needs_opt_in(tmp_path, fitted, sample):
    import joblib

    path = tmp_path / "old.skf"
    with open(path, "wb") as f:
        f.write(b"SKFORENSICS-MODEL 1\n")
        f.write(json.dumps({"versions": {"skforensics": skforensics.__version__}}).encode() + b"\n")
        joblib.dump(fitted, f, compress=3)
    assert read_header(path)["format"] == 1
    with pytest.raises(ValueError, match="old pickle model format.*allow_pickle=True"):
        skforensics.load(path)
    with pytest.warns(UnsafeModelWarning):
        old = skforensics.load(path, allow_pickle=True)
    _assert_same_predictions(old, fitted, sample.paths)
    # re-saving converts it
    skforensics.save(old, path)
    _assert_same_predictions(skforensics.load(path), fitted, sample.paths)


def test_deepcopy_of_clip_unchanged(sample, one_torch_thread):
    pytest.importorskip("open_clip")
    from skforensics import CLIPFeatureExtractor

    ext = CLIPFeatureExtractor("skf-tiny-vit", pretrained=None, random_state=0).fit(sample.paths)
    assert isinstance(ext.__getstate__()["_model_state"], bytes)
    np.testing.assert_array_equal(
        copy.deepcopy(ext).transform(sample.paths[:4]), ext.transform(sample.paths[:4])
    )
