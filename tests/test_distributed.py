"""skforensics.distributed on a real LocalCluster (2 worker processes, 1 thread each)."""

import os
import pickle
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("distributed")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skforensics import ImageLoadError, SkippedImageWarning  # noqa: E402
from skforensics.datasets import load_sample_images  # noqa: E402
from skforensics.distributed import batches, map_ordered, transform_paths  # noqa: E402
from skforensics.features import SpectralFeatureExtractor  # noqa: E402


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "port 8787 in use" for the dashboard
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
            worker_dashboard_address=None,
        )  # fmt: skip
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def sample():
    return load_sample_images("cifake")


def _slow_square(x, *, delay):
    time.sleep(delay * (5 - x % 5))  # early items finish last
    return x * x


def _fail_on_three(x):
    if x == 3:
        raise KeyError(f"bad item {x}")
    return x


class _CountingPayload:
    """Counts how often it is pickled in this (the client's) process."""

    pickled = 0

    def __init__(self, value):
        self.value = value

    def __getstate__(self):
        type(self).pickled += 1
        return {"value": self.value}


def _use_payload(x, *, payload):
    return x + payload.value


def test_batches():
    assert batches(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert batches([], 3) == []
    with pytest.raises(ValueError, match=r"'batch_size' .* range \[1, inf\)"):
        batches([1], 0)


def test_map_ordered_keeps_order_with_bounded_window(client):
    out = list(map_ordered(client, _slow_square, range(12), max_in_flight=3, delay=0.01))
    assert out == [x * x for x in range(12)]
    # a generator of items is consumed lazily and works too
    assert list(map_ordered(client, _slow_square, (i for i in range(3)), delay=0.0)) == [0, 1, 4]
    assert list(map_ordered(client, _slow_square, [], delay=0.0)) == []
    with pytest.raises(ValueError, match="max_in_flight"):
        list(map_ordered(client, _slow_square, [1], max_in_flight=0, delay=0.0))


def test_map_ordered_reraises_worker_error(client):
    with pytest.raises(KeyError, match="bad item 3") as info:
        list(map_ordered(client, _fail_on_three, range(8), max_in_flight=2))
    assert any("item 3 of map_ordered" in n for n in getattr(info.value, "__notes__", []))
    # the cluster is still usable afterwards
    assert list(map_ordered(client, _fail_on_three, [0, 1])) == [0, 1]


def test_broadcast_is_sent_once(client, monkeypatch):
    calls = []
    scatter = client.scatter

    def counting_scatter(*args, **kw):
        calls.append(kw.get("broadcast"))
        return scatter(*args, **kw)

    monkeypatch.setattr(client, "scatter", counting_scatter)
    _CountingPayload.pickled = 0
    out = list(map_ordered(client, _use_payload, range(20), payload=_CountingPayload(100)))
    assert out == [100 + i for i in range(20)]
    assert calls == [True]  # one scatter, broadcast to every worker
    # pickled at most once per worker, not once per item
    assert 1 <= _CountingPayload.pickled <= len(client.nthreads())


def test_transform_paths_matches_local_run(client, sample):
    ext = SpectralFeatureExtractor().fit(sample.paths)
    local = ext.transform(sample.paths)
    dist = transform_paths(ext, sample.paths, client=client, batch_size=5)
    assert dist.shape == local.shape
    np.testing.assert_array_equal(dist, local)  # same rows, same order, bit for bit
    # a whole feature pipeline works the same way
    pipe = make_pipeline(SpectralFeatureExtractor(), StandardScaler()).fit(sample.paths)
    np.testing.assert_array_equal(
        transform_paths(pipe, sample.paths, client=client, batch_size=7),
        pipe.transform(sample.paths),
    )


def test_transform_paths_keeps_per_image_errors(client, sample, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    paths = list(sample.paths[:9]) + [str(bad)] + list(sample.paths[9:14])
    ext = SpectralFeatureExtractor(on_error="skip").fit(paths)
    with pytest.warns(SkippedImageWarning):
        local = ext.transform(paths)
    with pytest.warns(SkippedImageWarning, match=r"positions \[9\]") as rec:
        dist = transform_paths(ext, paths, client=client, batch_size=4)
    assert "broken.jpg" in str(rec[-1].message)
    np.testing.assert_array_equal(dist, local)  # NaN row at the same place
    assert np.isnan(dist[9]).all() and not np.isnan(np.delete(dist, 9, axis=0)).any()

    strict = SpectralFeatureExtractor(on_error="raise").fit(paths)
    with pytest.raises(ImageLoadError, match="broken.jpg"):
        transform_paths(strict, paths, client=client, batch_size=4)


def test_transform_paths_needs_fitted_transformer(client, sample):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        transform_paths(SpectralFeatureExtractor(), sample.paths, client=client)


def test_grid_search_on_dask_backend(client, sample):
    import joblib

    pipe = make_pipeline(
        SpectralFeatureExtractor(), StandardScaler(), LogisticRegression(max_iter=500)
    )
    grid = {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    X, y = list(sample.paths), sample.y
    local = GridSearchCV(pipe, grid, cv=cv).fit(X, y)
    with joblib.parallel_config(backend="dask"):
        dist = GridSearchCV(pipe, grid, cv=cv, n_jobs=-1).fit(X, y)
    assert dist.best_params_ == local.best_params_
    np.testing.assert_allclose(
        dist.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )


def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, skforensics.distributed; "
        "print(any(m == 'distributed' or m.startswith('dask') or m == 'torch' "
        "for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ})  # fmt: skip
    assert out.stdout.strip() == "False"


def test_pickle_roundtrip_of_skip_warning_payload():
    # what a worker sends back must pickle (plain arrays, lists, str)
    from skforensics.distributed import _transform_batch

    ext = SpectralFeatureExtractor().fit(np.zeros((1, 16, 16, 3), np.uint8))
    out = _transform_batch(np.zeros((2, 16, 16, 3), np.uint8), transformer=ext)
    assert pickle.loads(pickle.dumps(out))[1] == []
