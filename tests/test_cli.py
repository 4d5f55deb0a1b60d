import csv
import json
import os
import shutil
import sys

import numpy as np
import pytest

from skforensics import cli
from skforensics.cli import main


@pytest.fixture(scope="module")
def small_csv(diffusiondb, tmp_path_factory):
    """A CSV manifest of 40 + 40 diffusiondb_coco images (train) and 20 + 20 (test)."""
    paths, y, gen = diffusiondb
    rng = np.random.RandomState(0)
    idx = {c: rng.permutation(np.flatnonzero(y == c)) for c in (0, 1)}
    d = tmp_path_factory.mktemp("cli")
    out = {}
    for name, sl in (("train", slice(0, 40)), ("test", slice(40, 60))):
        rows = np.sort(np.concatenate([idx[0][sl], idx[1][sl]]))
        with open(d / f"{name}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label", "generator"])
            for i in rows:
                w.writerow([paths[i], y[i], gen[i]])
        out[name] = str(d / f"{name}.csv")
    out["dir"] = d
    return out


@pytest.mark.parametrize("cmd", [[], ["train"], ["evaluate"], ["scan"], ["pipelines"]])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main(cmd + ["--help"])
    assert exc.value.code == 0
    assert "usage: skforensics" in capsys.readouterr().out


def test_pipelines(capsys):
    assert main(["pipelines"]) == 0
    out = capsys.readouterr().out
    for name in ("spectral-csam", "spectral-logreg", "clip-csam"):
        assert name in out


def test_version(capsys):
    import skforensics

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert skforensics.__version__ in capsys.readouterr().out


def test_bad_arguments(tmp_path, capsys):
    assert main([]) == 2
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path),
                "--pipeline",
                "spectral-logreq",
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "unknown pipeline" in err and "did you mean 'spectral-logreg'" in err
    assert "Traceback" not in err
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "missing"),
                "--pipeline",
                "spectral-logreg",
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    assert main(["scan", "--model", str(tmp_path / "none.skf"), str(tmp_path)]) == 2
    assert "none.skf" in capsys.readouterr().err


def test_train_evaluate_scan(small_csv, capsys):
    d = small_csv["dir"]
    model = str(d / "model.skf")
    assert (
        main(
            [
                "train",
                "--data",
                small_csv["train"],
                "--pipeline",
                "spectral-logreg",
                "--out",
                model,
                "--cv",
                "3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "3-fold cross-validation on 80 images" in out and os.path.exists(model)

    report = str(d / "report.json")
    assert main(["evaluate", "--model", model, "--data", small_csv["test"], "--json", report]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "stable-diffusion" in out and "false_positive_rate" in out
    with open(report) as f:
        res = json.load(f)
    assert res["n_images"] == 40 and res["n_failed"] == 0
    assert res["accuracy"] > 0.6 and 0.6 < res["roc_auc"] <= 1
    assert res["per_generator"][-1]["generator"] == "mean"
    assert 0 <= res["false_positive_rate"] <= 1 and 0 <= res["true_positive_rate"] <= 1

    scan_dir = d / "scan"
    (scan_dir / "sub").mkdir(parents=True)
    with open(small_csv["test"]) as f:
        first = next(csv.DictReader(f))["path"]
    shutil.copy(first, scan_dir / "sub" / "good.jpg")
    (scan_dir / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (scan_dir / "readme.txt").write_text("not an image: reported, not scanned")
    out_csv = str(d / "scan.csv")
    assert main(["scan", "--model", model, str(scan_dir), "--csv", out_csv]) == cli.EXIT_UNREADABLE
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 2
    assert "corrupt.jpg" in lines[0] and "error" in lines[0] and "X[" not in lines[0]
    assert "good.jpg" in lines[1] and lines[1].split("\t")[2] in ("real", "fake")
    assert "1 scored" in captured.err and "1 unreadable" in captured.err
    assert "readme.txt" in captured.err  # unsupported files are reported
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["verdict"] for r in rows] == ["error", lines[1].split("\t")[2]]
    assert "corrupt.jpg" in rows[0]["error"] and rows[0]["prob_fake"] == ""
    assert 0 <= float(rows[1]["prob_fake"]) <= 1


@pytest.mark.parametrize(
    "flags, tty, shown",
    [([], True, True), ([], False, False), (["-q"], True, False), (["-v"], False, True)],
)
def test_progress_default_follows_the_terminal(small_csv, monkeypatch, flags, tty, shown):
    seen = {}

    def fake_load(path, verbose):
        seen["verbose"] = verbose
        raise ValueError("stop here")

    monkeypatch.setattr(cli, "_load_data", fake_load)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    assert (
        main(
            [
                "train",
                "--data",
                small_csv["test"],
                "--pipeline",
                "spectral-logreg",
                "--out",
                "unused.skf",
                *flags,
            ]
        )
        == 2
    )
    assert seen["verbose"] is shown


# ------------------------------------------------------------- tiny-image tests
_SLOW_MODULE = '''
import time

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from skforensics.datasets import load_images


class Sleepy(TransformerMixin, BaseEstimator):
    """Identity on images, sleeping per image (makes a scan slow enough to interrupt)."""

    def __init__(self, seconds=0.01):
        self.seconds = seconds

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        time.sleep(self.seconds * len(X))
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags


class CountingFeatures(TransformerMixin, BaseEstimator):
    """Mean and std per image; counts every image it transforms."""

    n_images = 0

    def __init__(self, verbose=False):
        self.verbose = verbose

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        imgs = load_images(X)
        type(self).n_images += len(imgs)
        return np.array([[im.mean(), im.std()] for im in imgs])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags


def make_counting():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline([("feat", CountingFeatures()), ("clf", LogisticRegression())])
'''


def _write_images(folder, n, label=None, seed=0, prefix="img"):
    """``n`` 16x16 PNGs; real (label 0) dark and smooth, generated (1) bright and noisy."""
    from PIL import Image

    rng = np.random.RandomState(seed)
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(n):
        lab = i % 2 if label is None else label
        img = np.clip(60 + 120 * lab + rng.randn(16, 16, 3) * (5 + 40 * lab), 1, 255)
        p = os.path.join(folder, f"{prefix}{i:04d}.png")
        Image.fromarray(img.astype(np.uint8)).save(p)
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Labelled tiny images, a saved fast model and a helper module on a temporary path."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import skforensics
    from skforensics.datasets import load_image_folder
    from skforensics.features import SpectralFeatureExtractor

    d = tmp_path_factory.mktemp("tiny")
    _write_images(str(d / "data" / "real"), 20, label=0, seed=1)
    _write_images(str(d / "data" / "fake"), 20, label=1, seed=2)
    data = load_image_folder(str(d / "data"))
    pipe = make_pipeline(SpectralFeatureExtractor(n_bins=8), LogisticRegression())
    model = str(d / "model.skf")
    skforensics.save(pipe.fit(data.paths, data.y), model)
    many = _write_images(str(d / "many"), 300, seed=3)
    (d / "skf_cli_helpers.py").write_text(_SLOW_MODULE)
    return {
        "dir": d,
        "data": str(d / "data"),
        "model": model,
        "many": many,
        "paths": list(data.paths),
        "y": data.y,
    }


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_scan_writes_csv_jsonl_and_stdout(tiny, tmp_path, capsys):
    paths = tiny["paths"][:6]
    out_csv, out_jsonl = str(tmp_path / "v.csv"), str(tmp_path / "v.jsonl")
    assert main(["scan", "--model", tiny["model"], *paths, "--csv", out_csv, "-q"]) == 0
    rows = _read_csv(out_csv)
    assert list(rows[0]) == ["path", "prob_fake", "verdict", "error"]
    assert [r["path"] for r in rows] == paths
    text = capsys.readouterr()
    assert len(text.out.splitlines()) == 6 and "6 scored" in text.err
    assert (
        main(["scan", "--model", tiny["model"], *paths, "--out", out_jsonl, "-q", "--no-print"])
        == 0
    )
    recs = [json.loads(line) for line in open(out_jsonl)]
    assert [r["path"] for r in recs] == paths and capsys.readouterr().out == ""
    assert [r["verdict"] for r in recs] == [r["verdict"] for r in rows]
    np.testing.assert_allclose(
        [r["prob_fake"] for r in recs], [float(r["prob_fake"]) for r in rows], atol=1e-6
    )
    assert main(["scan", "--model", tiny["model"], paths[0], "--format", "jsonl", "-q"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["path"] == paths[0] and line["error"] is None


def test_scan_exit_codes(tiny, tmp_path, capsys):
    good = tiny["paths"][0]
    assert main(["scan", "--model", tiny["model"], good, "-q"]) == 0
    missing = str(tmp_path / "missing.png")
    assert main(["scan", "--model", tiny["model"], good, missing, "-q"]) == 3
    assert main(["scan", "--model", tiny["model"], missing, "-q"]) == 3
    out = capsys.readouterr().out
    assert out.count("does not exist") == 2
    (tmp_path / "empty").mkdir()
    assert main(["scan", "--model", tiny["model"], str(tmp_path / "empty"), "-q"]) == 3
    assert "no image found" in capsys.readouterr().err
    # usage errors
    assert main(["scan", "--model", tiny["model"], good, "--resume"]) == 2
    assert main(["scan", "--model", tiny["model"], good, "--fpr", "0.1"]) == 2
    assert main(["scan", "--model", tiny["model"], good, "--csv", "a.csv", "--out", "b.csv"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["scan", "--model", tiny["model"], good, "--threshold", "1.5"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["scan", "--model", tiny["model"], good, "--batch-size", "0"])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_scan_reads_stdin_and_scores_duplicates_once(tiny, tmp_path, monkeypatch, capsys):
    import io

    folder = os.path.dirname(tiny["paths"][0])
    listed = "\n".join([tiny["paths"][0], "", tiny["paths"][0], folder]) + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(listed))
    out = str(tmp_path / "v.csv")
    assert main(["scan", "--model", tiny["model"], "-", tiny["paths"][1], "--csv", out, "-q"]) == 0
    rows = [r["path"] for r in _read_csv(out)]
    n_folder = len([f for f in os.listdir(folder) if f.endswith(".png")])
    assert len(rows) == len(set(map(os.path.realpath, rows))) == n_folder
    assert rows[0] == tiny["paths"][0]


def test_resume_completes_a_partial_output(tiny, tmp_path, capsys):
    paths = tiny["paths"]
    for ext in ("csv", "jsonl"):
        full = str(tmp_path / f"full.{ext}")
        assert main(["scan", "--model", tiny["model"], tiny["data"], "--out", full, "-q"]) == 0
        lines = open(full).read().splitlines(keepends=True)
        part = str(tmp_path / f"part.{ext}")
        keep = 11 if ext == "csv" else 10  # the header and 10 records
        with open(part, "w") as f:
            f.writelines(lines[:keep])
            f.write(lines[keep][:9])  # a line torn by the interruption
        capsys.readouterr()
        assert (
            main(["scan", "--model", tiny["model"], tiny["data"], "--out", part, "--resume", "-q"])
            == 0
        )
        assert "10 already in" in capsys.readouterr().err
        assert open(part).read() == open(full).read()
    assert len(_read_csv(str(tmp_path / "part.csv"))) == len(paths)


def _slow_model(tiny):
    import importlib

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import skforensics
    from skforensics.features import SpectralFeatureExtractor

    path = str(tiny["dir"] / "slow.skf")
    if not os.path.exists(path):
        sys.path.insert(0, str(tiny["dir"]))
        try:
            helpers = importlib.import_module("skf_cli_helpers")
        finally:
            sys.path.remove(str(tiny["dir"]))
        pipe = make_pipeline(
            helpers.Sleepy(0.03), SpectralFeatureExtractor(n_bins=8), LogisticRegression()
        )
        skforensics.save(pipe.fit(tiny["paths"], tiny["y"]), path)
    return path


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_interrupted_scan_keeps_its_lines_and_resumes(tiny, tmp_path, sig, code):
    import signal
    import subprocess
    import time

    model = _slow_model(tiny)
    folder = os.path.dirname(tiny["many"][0])
    out = str(tmp_path / "scan.csv")
    env = dict(os.environ, PYTHONPATH=str(tiny["dir"]), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "skforensics.cli",
        "scan",
        "--model",
        model,
        folder,
        "--csv",
        out,
        "--trust",
        "skf_cli_helpers.Sleepy",
        "--batch-size",
        "4",
        "-q",
        "--no-print",
    ]
    # a shell that starts a job in the background (nohup, "&" without job control) makes it
    # ignore SIGINT, and Python keeps an ignored SIGINT ignored: run the scan as a job of
    # the user's shell would run, with SIGINT at its default (seen: CI started with nohup)
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if os.path.exists(out) and len(open(out).read().splitlines()) > 40:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the scan ended before it could be interrupted"
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "interrupted" in err and "--resume" in err
    rows = _read_csv(out)
    assert 40 <= len(rows) < len(tiny["many"])  # half way, nothing lost
    assert [r["path"] for r in rows] == tiny["many"][: len(rows)]
    assert all(r["verdict"] in ("real", "fake") for r in rows)
    if sig == "SIGTERM":
        return  # resuming is the same as after SIGINT

    done = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = _read_csv(out)
    assert [r["path"] for r in rows] == tiny["many"]  # each image exactly once, in order


@pytest.mark.parametrize("sig, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_whose_exception_python_swallowed_still_stops_the_scan(
    tiny, tmp_path, monkeypatch, capsys, sig, code
):
    # Python loses a signal handler's exception when the handler runs inside a __del__
    # method ("Exception ignored in ..."); the scan must stop at the next image anyway
    import gc
    import signal

    from skforensics import cli, scanning

    signum = getattr(signal, sig)

    class Finalizer:
        def __del__(self):
            cli._on_signal(signum, None)  # what Python does when the signal lands here

    real = scanning.score_batch
    calls = []

    def score_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            Finalizer()  # collected at once: its __del__ swallows the handler's exception
            gc.collect()
        return real(*args, **kwargs)

    monkeypatch.setattr(scanning, "score_batch", score_batch)
    lost = []  # Python hands an exception it cannot raise to sys.unraisablehook
    monkeypatch.setattr(sys, "unraisablehook", lambda u: lost.append(u.exc_type))
    out = str(tmp_path / "scan.csv")
    args = ["scan", "--model", tiny["model"], *tiny["many"][:40], "--csv", out, "-q"]
    assert main([*args, "--batch-size", "4", "--no-print"]) == code
    assert lost == [cli._Terminated if sig == "SIGTERM" else KeyboardInterrupt]
    assert "--resume" in capsys.readouterr().err
    rows = _read_csv(out)
    assert [r["path"] for r in rows] == tiny["many"][: len(rows)]
    assert 8 <= len(rows) <= 12  # stopped at the next image, every line written kept
    assert not cli._PENDING_SIGNALS and signal.getsignal(signal.SIGTERM) is not cli._on_signal


def test_scan_uses_the_saved_models_own_threshold(tiny, tmp_path, capsys):
    # a FixedFPRThreshold saved with its threshold: scan applies it, not 0.5
    import skforensics
    from skforensics.model_selection import FixedFPRThreshold

    inner = skforensics.load(tiny["model"])
    calib = tiny["many"][:100]  # taken as real: flag at most 30% of them
    wrapped = FixedFPRThreshold(inner, fpr=0.3, cv="prefit").fit(calib, np.zeros(100, int))
    path = str(tmp_path / "calibrated.skf")
    skforensics.save(wrapped, path)
    folder = os.path.dirname(tiny["many"][0])
    out = str(tmp_path / "v.csv")
    assert main(["scan", "--model", path, folder, "--csv", out, "-q", "--no-print"]) == 0
    rows = _read_csv(out)
    prob = np.array([float(r["prob_fake"]) for r in rows])  # rounded to 6 decimals
    flagged = np.array([r["verdict"] == "fake" for r in rows])
    np.testing.assert_array_equal(flagged, wrapped.predict([r["path"] for r in rows]) == 1)
    assert (prob > 0.5).sum() != flagged.sum()  # 0.5 would have given other verdicts
    assert f"prob_fake > {wrapped.threshold_:g}" in capsys.readouterr().err
    # an explicit --threshold still wins
    out2 = str(tmp_path / "w.csv")
    argv = ["scan", "--model", path, folder, "--csv", out2, "-q", "--no-print"]
    assert main([*argv, "--threshold", "0.5"]) == 0
    flagged2 = np.array([r["verdict"] == "fake" for r in _read_csv(out2)])
    np.testing.assert_array_equal(flagged2, prob > 0.5)


def test_output_paths_are_checked_before_any_work(tiny, tmp_path, monkeypatch, capsys):
    def no_work(*a, **k):
        raise AssertionError("work started before the output path was checked")

    monkeypatch.setattr(cli, "_load_model", no_work)
    monkeypatch.setattr(cli, "_load_data", no_work)
    monkeypatch.setattr(cli, "_make_pipeline", no_work)
    missing_dir = str(tmp_path / "nope" / "out.csv")
    cases = [
        ["scan", "--model", tiny["model"], tiny["data"], "--csv", missing_dir],
        ["scan", "--model", tiny["model"], tiny["data"], "--out", str(tmp_path)],
        ["evaluate", "--model", tiny["model"], "--data", tiny["data"], "--json", str(tmp_path)],
        ["train", "--data", tiny["data"], "--pipeline", "spectral-logreg", "--out", missing_dir],
        ["train", "--data", tiny["data"], "--pipeline", "spectral-logreg", "--out", str(tmp_path)],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert ("does not exist" in err or "is a directory" in err) and "Traceback" not in err
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def test_string_label_model(tiny, tmp_path, capsys):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import skforensics
    from skforensics.features import SpectralFeatureExtractor

    labels = np.where(tiny["y"] == 1, "fake", "real")
    pipe = make_pipeline(SpectralFeatureExtractor(n_bins=8), LogisticRegression())
    model = str(tmp_path / "str.skf")
    skforensics.save(pipe.fit(tiny["paths"], labels), model)
    out_s, out_i = str(tmp_path / "s.csv"), str(tmp_path / "i.csv")
    assert main(["scan", "--model", model, tiny["data"], "--csv", out_s, "-q"]) == 0
    assert main(["scan", "--model", tiny["model"], tiny["data"], "--csv", out_i, "-q"]) == 0
    rs, ri = _read_csv(out_s), _read_csv(out_i)
    assert [r["verdict"] for r in rs] == [r["verdict"] for r in ri]
    np.testing.assert_allclose(
        [float(r["prob_fake"]) for r in rs], [float(r["prob_fake"]) for r in ri], atol=1e-6
    )
    assert main(["evaluate", "--model", model, "--data", tiny["data"], "-q"]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_one_feature_pass_per_image_and_default_detector(tiny, monkeypatch, capsys):
    import skforensics

    monkeypatch.syspath_prepend(str(tiny["dir"]))
    import skf_cli_helpers as helpers

    fitted = helpers.make_counting().fit(tiny["paths"], tiny["y"])
    monkeypatch.setattr(skforensics, "load_default_detector", lambda: fitted, raising=False)
    n = len(tiny["paths"])
    helpers.CountingFeatures.n_images = 0
    assert main(["scan", tiny["data"], "-q", "--batch-size", "7"]) == 0
    assert helpers.CountingFeatures.n_images == n
    helpers.CountingFeatures.n_images = 0
    assert main(["evaluate", "--data", tiny["data"], "-q"]) == 0
    assert helpers.CountingFeatures.n_images == n
    assert "default detector" not in capsys.readouterr().err
    monkeypatch.delattr(skforensics, "load_default_detector", raising=False)
    if not hasattr(skforensics, "load_default_detector"):
        assert main(["scan", tiny["data"], "-q"]) == 2
        assert "--model" in capsys.readouterr().err


def test_evaluate_one_class_reports_rates(tiny, tmp_path, capsys):
    for sub, key, other in (
        ("real", "false_positive_rate", "true_positive_rate"),
        ("fake", "true_positive_rate", "false_positive_rate"),
    ):
        report = str(tmp_path / f"{sub}.json")
        shutil.copytree(os.path.join(tiny["data"], sub), tmp_path / f"only_{sub}" / sub)
        assert (
            main(
                [
                    "evaluate",
                    "--model",
                    tiny["model"],
                    "--data",
                    str(tmp_path / f"only_{sub}"),
                    "--json",
                    report,
                    "-q",
                ]
            )
            == 0
        )
        out = capsys.readouterr().out
        res = json.load(open(report))
        assert 0 <= res[key] <= 1 and res[other] is None and key in out
        assert "nan" not in out


def test_fpr_calibration(tiny, tmp_path, capsys):
    out = str(tmp_path / "v.csv")
    assert (
        main(
            [
                "scan",
                "--model",
                tiny["model"],
                os.path.join(tiny["data"], "real"),
                "--fpr",
                "0.1",
                "--calibrate",
                tiny["data"],
                "--csv",
                out,
                "-q",
            ]
        )
        == 0
    )
    assert "threshold" in capsys.readouterr().err
    flagged = [r["verdict"] == "fake" for r in _read_csv(out)]
    assert np.mean(flagged) <= 0.1


def test_verbose_is_not_saved_and_quiet_wins(tiny, tmp_path, capfd):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import skforensics
    from skforensics.features import SpectralFeatureExtractor

    model = str(tmp_path / "m.skf")
    assert (
        main(["train", "--data", tiny["data"], "--pipeline", "radial-logreg", "--out", model, "-v"])
        == 0
    )
    params = skforensics.load(model).get_params(deep=True)
    assert not any(v for k, v in params.items() if k.endswith("verbose"))
    noisy = make_pipeline(SpectralFeatureExtractor(n_bins=8, verbose=True), LogisticRegression())
    skforensics.save(noisy.fit(tiny["paths"], tiny["y"]), model)
    capfd.readouterr()
    assert main(["scan", "--model", model, tiny["data"], "-q"]) == 0
    err = capfd.readouterr().err
    assert "it/s" not in err and "%|" not in err


def test_train_user_pipeline_and_features_once(tiny, tmp_path, monkeypatch, capsys):
    import skforensics

    monkeypatch.syspath_prepend(str(tiny["dir"]))
    import skf_cli_helpers as helpers

    model = str(tmp_path / "m.skf")
    helpers.CountingFeatures.n_images = 0
    assert (
        main(
            [
                "train",
                "--data",
                tiny["data"],
                "--pipeline",
                "skf_cli_helpers:make_counting",
                "--out",
                model,
                "--cv",
                "3",
                "-q",
            ]
        )
        == 0
    )
    assert "3-fold cross-validation on 40 images" in capsys.readouterr().out
    assert helpers.CountingFeatures.n_images == 40  # features once, for CV and the final fit
    # a saved unfitted pipeline file
    unfitted = str(tmp_path / "unfitted.skf")
    skforensics.save(helpers.make_counting(), unfitted)
    assert (
        main(
            [
                "train",
                "--data",
                tiny["data"],
                "--pipeline",
                unfitted,
                "--out",
                model,
                "--trust",
                "skf_cli_helpers.CountingFeatures",
                "-q",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                "--data",
                tiny["data"],
                "--pipeline",
                "skf_cli_helpers:nothing",
                "--out",
                model,
            ]
        )
        == 2
    )
    assert "no attribute" in capsys.readouterr().err


def test_train_pretrained_reaches_the_clip_step(tiny, tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_fit(pipe, X, y, cv, verbose):
        seen["pretrained"] = pipe.get_params()["features__pretrained"]
        raise ValueError("stop here")

    monkeypatch.setattr(cli, "_fit_pipeline", fake_fit)
    ckpt = str(tmp_path / "clip.pt")
    assert main(
        [
            "train",
            "--data",
            tiny["data"],
            "--pipeline",
            "clip-csam",
            "--pretrained",
            ckpt,
            "--out",
            str(tmp_path / "m.skf"),
        ]
    ) in (1, 2)
    assert seen["pretrained"] == ckpt
    assert (
        main(
            [
                "train",
                "--data",
                tiny["data"],
                "--pipeline",
                "spectral-logreg",
                "--pretrained",
                ckpt,
                "--out",
                str(tmp_path / "m.skf"),
            ]
        )
        == 2
    )
    assert "pretrained" in capsys.readouterr().err


def test_training_errors_name_the_file_without_index(tiny, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny["data"], data)
    (data / "fake" / "zz_broken.png").write_bytes(b"\x89PNG broken")
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--pipeline",
                "radial-logreg",
                "--out",
                str(tmp_path / "m.skf"),
                "-q",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "zz_broken.png" in err and "X[" not in err and "Traceback" not in err
    assert not (tmp_path / "m.skf").exists() and not (tmp_path / "m.skf.tmp").exists()


def test_scan_on_dask(tiny, tmp_path, monkeypatch):
    distributed = pytest.importorskip("skforensics.distributed")
    if not hasattr(distributed, "map_ordered"):
        pytest.skip("skforensics.distributed.map_ordered is not available yet")
    dd = pytest.importorskip("distributed")

    def in_process(args):
        if not args.dask_workers:
            return None, None
        assert args.dask_workers == 2
        return dd.Client(
            processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
        ), None

    monkeypatch.setattr(cli, "_dask_client", in_process)
    out_d, out_l = str(tmp_path / "d.csv"), str(tmp_path / "l.csv")
    assert (
        main(
            [
                "scan",
                "--model",
                tiny["model"],
                tiny["data"],
                "--dask-workers",
                "2",
                "--csv",
                out_d,
                "-q",
                "--batch-size",
                "5",
            ]
        )
        == 0
    )
    assert main(["scan", "--model", tiny["model"], tiny["data"], "--csv", out_l, "-q"]) == 0
    assert _read_csv(out_d) == _read_csv(out_l)


class _Hostile:
    """Unpickling this writes a file: it must never happen through the CLI."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_model_files_are_not_trusted_blindly(tiny, tmp_path, capsys):
    import pickle

    import skforensics

    marker = str(tmp_path / "pwned")
    evil = tmp_path / "evil.skf"
    header = json.dumps({"versions": {"skforensics": skforensics.__version__}})
    evil.write_bytes(
        b"SKFORENSICS-MODEL 1\n" + header.encode() + b"\n" + pickle.dumps(_Hostile(marker))
    )
    assert main(["scan", "--model", str(evil), tiny["paths"][0], "-q"]) == 2
    err = capsys.readouterr().err
    assert not os.path.exists(marker)
    assert "evil.skf" in err and "Traceback" not in err
    # a custom type is refused until it is trusted by name
    slow = _slow_model(tiny)
    assert main(["scan", "--model", slow, tiny["paths"][0], "-q"]) == 2
    err = capsys.readouterr().err
    assert "skf_cli_helpers.Sleepy" in err and "--trust skf_cli_helpers.Sleepy" in err


def test_device_and_n_jobs_reach_the_model(tiny, tmp_path, monkeypatch, capsys):
    import torch

    seen = {}
    real_configure = cli._configure

    def spy(model, args):
        out = real_configure(model, args)
        seen.update({k: v for k, v in out.get_params(deep=True).items() if k.endswith("n_jobs")})
        return out

    monkeypatch.setattr(cli, "_configure", spy)
    assert (
        main(
            [
                "scan",
                "--model",
                tiny["model"],
                tiny["paths"][0],
                "--device",
                "cpu",
                "--n-jobs",
                "2",
                "-q",
            ]
        )
        == 0
    )
    assert seen and all(v == 2 for v in seen.values())
    if not torch.cuda.is_available():
        assert (
            main(["scan", "--model", tiny["model"], tiny["paths"][0], "--device", "cuda", "-q"])
            == 2
        )
        assert "CUDA is not available" in capsys.readouterr().err
