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


def test_bad_arguments(tmp_path, capsys):
    assert main([]) == 2
    assert main(["train", "--data", str(tmp_path), "--pipeline", "nope", "--out", "m"]) == 2
    assert "unknown pipeline" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "missing"), "--pipeline", "spectral-logreg",
                 "--out", "m"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["scan", "--model", str(tmp_path / "none.skf"), str(tmp_path)]) == 2


def test_train_evaluate_scan(small_csv, capsys):
    d = small_csv["dir"]
    model = str(d / "model.skf")
    assert main(["train", "--data", small_csv["train"], "--pipeline", "spectral-logreg",
                 "--out", model, "--cv", "3"]) == 0
    out = capsys.readouterr().out
    assert "3-fold cross-validation on 80 images" in out and os.path.exists(model)

    report = str(d / "report.json")
    assert main(["evaluate", "--model", model, "--data", small_csv["test"], "--json", report]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "stable-diffusion" in out
    with open(report) as f:
        res = json.load(f)
    assert res["n_images"] == 40 and res["n_failed"] == 0
    assert res["accuracy"] > 0.6 and 0.6 < res["roc_auc"] <= 1
    assert res["per_generator"][-1]["generator"] == "mean"

    scan_dir = d / "scan"
    (scan_dir / "sub").mkdir(parents=True)
    with open(small_csv["test"]) as f:
        first = next(csv.DictReader(f))["path"]
    shutil.copy(first, scan_dir / "sub" / "good.jpg")
    (scan_dir / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (scan_dir / "readme.txt").write_text("not an image, not listed")
    out_csv = str(d / "scan.csv")
    assert main(["scan", "--model", model, str(scan_dir), "--csv", out_csv]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 2
    assert "corrupt.jpg" in lines[0] and "error" in lines[0]
    assert "good.jpg" in lines[1] and lines[1].split("\t")[2] in ("real", "fake")
    assert "1 of 2 file(s) could not be read" in captured.err
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["verdict"][:5] for r in rows] == ["error", lines[1].split("\t")[2]]
    assert 0 <= float(rows[1]["prob_fake"]) <= 1


@pytest.mark.parametrize("flags, tty, shown", [([], True, True), ([], False, False),
                                               (["-q"], True, False), (["-v"], False, True)])
def test_progress_default_follows_the_terminal(small_csv, monkeypatch, flags, tty, shown):
    seen = {}

    def fake_load(path, verbose):
        seen["verbose"] = verbose
        raise ValueError("stop here")

    monkeypatch.setattr(cli, "_load_data", fake_load)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    assert main(["train", "--data", small_csv["test"], "--pipeline", "spectral-logreg",
                 "--out", "unused.skf", *flags]) == 2
    assert seen["verbose"] is shown
