"""Command-line interface: ``skforensics train | evaluate | scan | pipelines``.

Examples (shell)::

    skforensics pipelines
    skforensics train --data data/diffusiondb_coco --pipeline spectral-logreg \\
        --out model.skf --cv 5
    skforensics evaluate --model model.skf --data data/MANIFEST.csv --json report.json
    skforensics scan --model model.skf photos/ upload.jpg --csv verdicts.csv

``--data`` is a folder in one of the layouts of
:func:`skforensics.datasets.load_image_folder` or a CSV manifest
``path,label[,generator]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys

import numpy as np

__all__ = ["main"]

_BATCH = 64


def _err(msg):
    print(f"skforensics: error: {msg}", file=sys.stderr)


# --------------------------------------------------------------------- helpers
def _load_data(path, verbose):
    from .datasets import load_image_folder

    data = load_image_folder(path)
    if verbose:
        gens, counts = np.unique(data.generator, return_counts=True)
        print(f"{len(data.paths)} images from {data.root}: " + ", ".join(
            f"{g} ({c})" for g, c in zip(gens, counts)))
    return data


def _predict_batches(model, paths, verbose=False):
    """Probability of 'fake', predicted label and error message for every path.

    Images are decoded here, batch by batch, so that an unreadable file gives an
    error entry instead of stopping the run.
    """
    from ._image_io import ImageLoadError, load_image
    from ._torch_utils import progress
    from .model_selection import scores_of

    n = len(paths)
    proba = np.full(n, np.nan)
    pred = np.full(n, -1, dtype=int)
    errors = [None] * n
    starts = range(0, n, _BATCH)
    for s in progress(starts, verbose, desc="images", total=len(starts)):
        idx, imgs = [], []
        for i in range(s, min(s + _BATCH, n)):
            try:
                imgs.append(load_image(paths[i], index=i))
                idx.append(i)
            except ImageLoadError as exc:
                errors[i] = str(exc)
        if not imgs:
            continue
        proba[idx] = scores_of(model, imgs)
        pred[idx] = np.asarray(model.predict(imgs)).astype(int)
    return proba, pred, errors


def _expand(paths):
    from .datasets._folder import IMAGE_EXTENSIONS

    out = []
    for p in paths:
        if os.path.isdir(p):
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames.sort()
                out += [
                    os.path.join(dirpath, f)
                    for f in sorted(filenames)
                    if f.lower().endswith(IMAGE_EXTENSIONS)
                ]
        else:
            out.append(p)  # missing / unreadable files are reported per line
    return out


def _fit_pipeline(pipe, X, y, cv, verbose):
    """Fit ``pipe``; the (stateless) feature step is computed once, also for CV."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from sklearn.pipeline import Pipeline

    first_name, first = pipe.steps[0]
    if first_name == "features" and len(pipe.steps) > 1:
        F = first.fit_transform(X)
        head = Pipeline(pipe.steps[1:])
        Xf = F
    else:
        head, Xf, first = pipe, X, None
    cv_result = None
    if cv:
        res = cross_validate(
            clone(head), Xf, y,
            cv=StratifiedKFold(cv, shuffle=True, random_state=0),
            scoring=("accuracy", "average_precision", "roc_auc"),
        )
        cv_result = {
            k: [float(np.mean(res[f"test_{k}"])), float(np.std(res[f"test_{k}"]))]
            for k in ("accuracy", "average_precision", "roc_auc")
        }
    head.fit(Xf, y)
    if first is None:
        return head, cv_result
    return Pipeline([(first_name, first)] + head.steps), cv_result


# --------------------------------------------------------------------- commands
def _cmd_pipelines(args):
    from ._pipelines import describe_pipelines

    for name, desc in describe_pipelines():
        print(f"{name:18s} {desc}")
    return 0


def _cmd_train(args):
    from . import save
    from ._pipelines import PIPELINES, make_named_pipeline

    if args.pipeline not in PIPELINES:
        _err(f"unknown pipeline {args.pipeline!r}; run 'skforensics pipelines' to list them")
        return 2
    data = _load_data(args.data, args.verbose)
    if len(np.unique(data.y)) < 2:
        _err(f"{args.data!r} needs both real and generated images to train")
        return 2
    pipe = make_named_pipeline(args.pipeline, n_jobs=args.n_jobs, verbose=args.verbose)
    try:
        model, cv_result = _fit_pipeline(pipe, data.paths, data.y, args.cv, args.verbose)
    except Exception as exc:
        if PIPELINES[args.pipeline][2]:
            _err(
                f"pipeline {args.pipeline!r} could not be trained; it needs pretrained "
                f"weights (downloaded on first use, so network access or a filled open_clip "
                f"cache): {type(exc).__name__}: {exc}"
            )
            return 1
        raise
    if cv_result:
        print(f"{args.cv}-fold cross-validation on {len(data.y)} images:")
        for k, (m, s) in cv_result.items():
            print(f"  {k:18s} {m:.4f} +- {s:.4f}")
    save(model, args.out)
    print(f"saved {args.pipeline} model to {args.out}")
    return 0


def _cmd_evaluate(args):
    from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

    from . import load
    from .model_selection import ReportTable
    from .model_selection._report import _COLUMNS, _mean_row, _per_generator_rows

    model = load(args.model)
    data = _load_data(args.data, args.verbose)
    proba, pred, errors = _predict_batches(model, data.paths, args.verbose)
    ok = np.array([e is None for e in errors])
    failed = [{"path": p, "error": e} for p, e in zip(data.paths, errors) if e is not None]
    for f in failed:
        print(f"unreadable: {f['path']}: {f['error']}", file=sys.stderr)
    if not ok.any():
        _err("no image could be read")
        return 1
    y, p, s, g = data.y[ok], pred[ok], proba[ok], data.generator[ok]
    both = len(np.unique(y)) == 2
    result = {
        "model": os.path.abspath(args.model),
        "data": data.root,
        "n_images": int(ok.sum()),
        "n_failed": len(failed),
        "accuracy": float(accuracy_score(y, p)),
        "average_precision": float(average_precision_score(y, s)) if both else None,
        "roc_auc": float(roc_auc_score(y, s)) if both else None,
    }
    rows = _per_generator_rows(y, g, p, s)
    rows.append(_mean_row(rows, "generator"))
    table = ReportTable(_COLUMNS, rows, title="per-generator results")
    result["per_generator"] = table.to_dict("records")
    result["failed"] = failed
    print(f"images: {result['n_images']} (unreadable: {result['n_failed']})")
    for k in ("accuracy", "average_precision", "roc_auc"):
        v = result[k]
        print(f"{k:18s} {'n/a (one class)' if v is None else f'{v:.4f}'}")
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.json}")
    return 0


def _cmd_scan(args):
    from . import load

    model = load(args.model)
    paths = _expand(args.paths)
    if not paths:
        _err("no image found in the given paths")
        return 1
    proba, pred, errors = _predict_batches(model, paths, args.verbose)
    rows = []
    for path, pr, pd_, err in zip(paths, proba, pred, errors):
        if err is not None:
            rows.append((path, "", f"error: {err}"))
        else:
            rows.append((path, f"{pr:.4f}", "fake" if pd_ == 1 else "real"))
    for path, pr, verdict in rows:
        print(f"{path}\t{pr if pr else '-'}\t{verdict}")
    n_bad = sum(e is not None for e in errors)
    if n_bad:
        print(f"{n_bad} of {len(paths)} file(s) could not be read", file=sys.stderr)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "prob_fake", "verdict"])
            w.writerows(rows)
    return 0


# ----------------------------------------------------------------------- parser
def _parser():
    p = argparse.ArgumentParser(
        prog="skforensics",
        description="Detect AI-generated images with scikit-learn pipelines.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def common(sp):
        g = sp.add_mutually_exclusive_group()
        g.add_argument("-v", "--verbose", action="store_const", const=True, default=None,
                       help="progress bars and details (default when run in a terminal)")
        g.add_argument("-q", "--quiet", action="store_const", const=False, dest="verbose",
                       help="no progress bars")

    sp = sub.add_parser("pipelines", help="list the named pipelines",
                        description="List the named pipelines that 'train' accepts.")
    sp.set_defaults(func=_cmd_pipelines)

    sp = sub.add_parser("train", help="train a named pipeline and save it",
                        description="Train a named pipeline on a labelled folder or CSV "
                        "manifest and save the fitted model (skforensics.save format).")
    sp.add_argument("--data", required=True, metavar="DIR_OR_CSV",
                    help="folder (real/fake, 0_real/1_fake, nature/ai) or CSV path,label[,generator]")
    sp.add_argument("--pipeline", required=True, metavar="NAME",
                    help="pipeline name (see 'skforensics pipelines')")
    sp.add_argument("--out", required=True, metavar="MODEL", help="output model file")
    sp.add_argument("--cv", type=int, default=0, metavar="K",
                    help="also report K-fold cross-validated accuracy / AP / ROC AUC")
    sp.add_argument("--n-jobs", type=int, default=None,
                    help="threads for the weight-free feature extractors")
    common(sp)
    sp.set_defaults(func=_cmd_train)

    sp = sub.add_parser("evaluate", help="evaluate a saved model on labelled images",
                        description="Accuracy, average precision, ROC AUC and a per-generator "
                        "table of a saved model on a labelled folder or CSV manifest.")
    sp.add_argument("--model", required=True, metavar="MODEL", help="model saved by 'train'")
    sp.add_argument("--data", required=True, metavar="DIR_OR_CSV", help="labelled images")
    sp.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    common(sp)
    sp.set_defaults(func=_cmd_evaluate)

    sp = sub.add_parser("scan", help="score images with a saved model",
                        description="Print one line per image: path, probability of being "
                        "generated, verdict. Folders are expanded recursively; unreadable "
                        "files are reported, not fatal.")
    sp.add_argument("--model", required=True, metavar="MODEL", help="model saved by 'train'")
    sp.add_argument("paths", nargs="+", metavar="PATHS", help="image files or folders")
    sp.add_argument("--csv", metavar="OUT", help="also write path,prob_fake,verdict to a CSV")
    common(sp)
    sp.set_defaults(func=_cmd_scan)
    return p


def main(argv=None):
    """Entry point of the ``skforensics`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "verbose", False) is None:  # progress bars when a person is watching
        args.verbose = sys.stderr.isatty()
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        _err(str(exc))
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
