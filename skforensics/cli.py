"""Command-line interface: ``skforensics train | evaluate | scan | pipelines``.

Examples (shell)::

    skforensics pipelines
    skforensics train --data data/diffusiondb_coco --pipeline spectral-logreg \\
        --out model.skf --cv 5
    skforensics evaluate --model model.skf --data data/MANIFEST.csv --json report.json
    skforensics scan --model model.skf photos/ upload.jpg --csv verdicts.csv
    find /photos -name '*.jpg' | skforensics scan --model model.skf - --out v.jsonl --resume

``--data`` is a folder in one of the layouts of
:func:`skforensics.datasets.load_image_folder` or a CSV manifest
``path,label[,generator]``.

Exit codes of every command: 0 success; 1 failure (e.g. a model that cannot be
trained); 2 usage error (bad option, missing or unwritable file, unknown
pipeline); 3 some or all images could not be read (``scan``, ``evaluate``);
130 interrupted (SIGINT, Ctrl-C); 143 terminated (SIGTERM). An interrupted
``scan`` keeps every line it wrote; ``--resume`` completes it.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import signal
import sys
import warnings

import numpy as np

from ._compat import validate_params

__all__ = ["EXIT_INTERRUPTED", "EXIT_TERMINATED", "EXIT_UNREADABLE", "EXIT_USAGE", "main"]

#: exit status when the command line or an input/output file is wrong
EXIT_USAGE = 2
#: exit status when some or all images could not be read
EXIT_UNREADABLE = 3
#: exit status after SIGINT (Ctrl-C)
EXIT_INTERRUPTED = 130
#: exit status after SIGTERM
EXIT_TERMINATED = 143

_CSV_FIELDS = ["path", "prob_fake", "verdict", "error"]


class UsageError(Exception):
    """A user error: reported in one line, exit status 2, no traceback."""


class _Terminated(BaseException):
    """Raised by the SIGTERM handler (like KeyboardInterrupt for SIGINT)."""


def _err(msg):
    print(f"skforensics: error: {_clean(msg)}", file=sys.stderr)


def _clean(msg):
    # the decoder names positions in X; a command-line user never sees an X
    return re.sub(r" \(X\[\d+\](?:, view \d+)?\)", "", str(msg))


# ------------------------------------------------------------------ model set-up
def _walk_estimators(obj, seen=None):
    """``obj`` and every estimator inside it (parameters and fitted attributes)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or not hasattr(obj, "get_params"):
        return
    seen.add(id(obj))
    yield obj
    try:
        children = list(obj.get_params(deep=False).values())
    except Exception:  # noqa: BLE001 - a third-party object with an odd get_params
        children = []
    children += [v for k, v in vars(obj).items() if k.endswith("_") and not k.startswith("_")]
    for v in children:
        if isinstance(v, (list, tuple)):
            for item in v:
                item = item[-1] if isinstance(item, tuple) and len(item) >= 2 else item
                yield from _walk_estimators(item, seen)
        elif isinstance(v, dict):
            for item in v.values():
                yield from _walk_estimators(item, seen)
        else:
            yield from _walk_estimators(v, seen)


def _set_everywhere(model, name, value):
    """Set parameter ``name`` on every estimator of ``model`` that has it; count them."""
    n = 0
    for est in _walk_estimators(model):
        try:
            if name in est.get_params(deep=False):
                est.set_params(**{name: value})
                n += 1
        except Exception:  # noqa: BLE001, S112 - best effort on foreign objects
            continue
    return n


def _move_to_device(model, device):
    """Run the torch parts of a fitted ``model`` on ``device``."""
    from ._torch_utils import resolve_device

    dev = resolve_device(device)  # ValueError on a device this machine lacks
    for est in _walk_estimators(model):
        if "device" not in getattr(est, "get_params", dict)(deep=False):
            continue
        est.set_params(device=device)
        if hasattr(est, "device_"):
            for k, v in vars(est).items():
                if k.endswith("_") and hasattr(v, "to") and hasattr(v, "parameters"):
                    v.to(dev)  # a torch module
            est.device_ = dev


def _configure(model, args):
    """Apply ``--device`` / ``--n-jobs`` and silence the model's own progress bars."""
    _set_everywhere(model, "verbose", False)  # the command's bar counts images; -q wins
    if getattr(args, "n_jobs", None) is not None:
        _set_everywhere(model, "n_jobs", args.n_jobs)
    if getattr(args, "device", None):
        _move_to_device(model, args.device)
    return model


def _load_model(args):
    import inspect

    import skforensics

    if args.model is None:
        try:
            factory = skforensics.load_default_detector
        except AttributeError:
            raise UsageError(
                "this installation has no default detector; pass --model MODEL (a file "
                "written by 'skforensics train')"
            ) from None
        model = factory()
    else:
        if not os.path.isfile(args.model):
            if os.path.isdir(args.model):
                raise UsageError(f"model path {args.model!r} is a directory, not a model file")
            raise UsageError(f"model file {args.model!r} does not exist")
        kwargs = {}
        if args.trust:
            if "trusted" not in inspect.signature(skforensics.load).parameters:
                raise UsageError("--trust needs a skforensics whose load() takes trusted=")
            kwargs["trusted"] = list(args.trust)
        if getattr(args, "allow_pickle", False):
            if "allow_pickle" not in inspect.signature(skforensics.load).parameters:
                raise UsageError(
                    "--allow-pickle needs a skforensics whose load() takes allow_pickle="
                )
            kwargs["allow_pickle"] = True
        try:
            model = skforensics.load(args.model, **kwargs)
        except ValueError as exc:
            untrusted = getattr(exc, "untrusted", None)
            if untrusted:
                raise UsageError(
                    f"{exc}\nIf you trust this file, rerun with "
                    + " ".join(f"--trust {t}" for t in untrusted)
                ) from None
            raise
    return _configure(model, args)


# ------------------------------------------------------------------ output files
def _check_output(path, option):
    """Fail now, before any work, if ``path`` cannot be written."""
    if path is None or path == "-":
        return
    if os.path.isdir(path):
        raise UsageError(f"{option} {path!r} is a directory; give a file name")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{option} {path!r}: the folder {parent!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path!r}: permission denied, cannot write in {parent!r}")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {path!r}: permission denied, the file is not writable")


def _write_atomic(path, write):
    """``write(f)`` into ``path`` through a temporary file that never stays behind."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", newline="") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ---------------------------------------------------------------------- helpers
def _load_data(path, verbose):
    from .datasets import load_image_folder

    data = load_image_folder(path)
    if verbose:
        gens, counts = np.unique(data.generator, return_counts=True)
        print(
            f"{len(data.paths)} images from {data.root}: "
            + ", ".join(f"{g} ({c})" for g, c in zip(gens, counts))
        )
    return data


def _score_all(model, paths, args, threshold=None):
    """``(prob_fake, fake 0/1, errors)`` of ``paths``: one pass per image."""
    from .scanning import iter_scores

    n = len(paths)
    proba = np.full(n, np.nan)
    pred = np.full(n, -1, dtype=int)
    errors = [None] * n
    records = iter_scores(
        model, paths, batch_size=args.batch_size, threshold=threshold, verbose=args.verbose
    )
    for i, r in enumerate(records):
        if r.error is not None:
            errors[i] = _clean(r.error)
        else:
            proba[i], pred[i] = r.prob_fake, int(r.verdict == "fake")
    return proba, pred, errors


def _reads_images(est):
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(est, FeatureUnion):
        parts = [t for _, t in est.transformer_list if t not in ("drop", "passthrough", None)]
        return bool(parts) and all(_reads_images(t) for t in parts)
    if isinstance(est, Pipeline):
        return _reads_images(est.steps[0][1])
    try:
        return est.__sklearn_tags__().input_tags.two_d_array is False
    except Exception:  # noqa: BLE001 - no tags: assume a feature-matrix step
        return False


def _needs_labels(est):
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(est, FeatureUnion):
        return any(_needs_labels(t) for _, t in est.transformer_list if hasattr(t, "fit"))
    if isinstance(est, Pipeline):
        return any(_needs_labels(s) for _, s in est.steps if hasattr(s, "fit"))
    try:
        return bool(est.__sklearn_tags__().target_tags.required)
    except Exception:  # noqa: BLE001
        return True


def _n_feature_steps(pipe):
    """Number of leading steps of ``pipe`` that turn images into features without labels.

    Those steps (e.g. the weight-free or CLIP extractors) compute each image's
    features from that image alone, so ``train`` fits them once and computes the
    features once, for the cross-validation and the final fit alike.
    """
    from sklearn.pipeline import Pipeline

    if not isinstance(pipe, Pipeline):
        return 0
    k = 0
    for _, step in pipe.steps[:-1]:
        if step in ("passthrough", None) or (_reads_images(step) and not _needs_labels(step)):
            k += 1
        else:
            break
    return k


def _fit_pipeline(pipe, X, y, cv, verbose):
    """Fit ``pipe``; its per-image feature steps are computed once, also for CV."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from sklearn.pipeline import Pipeline

    k = _n_feature_steps(pipe)
    if k:
        prefix = Pipeline(pipe.steps[:k])
        Xf = prefix.fit_transform(X, y)
        head = Pipeline(pipe.steps[k:])
    else:
        prefix, Xf, head = None, X, pipe
    cv_result = None
    if cv:
        res = cross_validate(
            clone(head),
            Xf,
            y,
            cv=StratifiedKFold(cv, shuffle=True, random_state=0),
            scoring=("accuracy", "average_precision", "roc_auc"),
        )
        cv_result = {
            m: [float(np.mean(res[f"test_{m}"])), float(np.std(res[f"test_{m}"]))]
            for m in ("accuracy", "average_precision", "roc_auc")
        }
    head.fit(Xf, y)
    if prefix is None:
        return head, cv_result
    return Pipeline(prefix.steps + head.steps), cv_result


def _user_pipeline(spec, args):
    """An unfitted estimator from a saved file or ``module:attribute``."""
    import importlib

    from sklearn.base import clone

    if os.path.isfile(spec):
        obj = _load_model(
            argparse.Namespace(
                model=spec, trust=args.trust, n_jobs=None, device=None, allow_pickle=False
            )
        )
    else:
        module, _, attr = spec.partition(":")
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            obj = importlib.import_module(module)
        except ImportError as exc:
            raise UsageError(
                f"--pipeline {spec!r}: cannot import module {module!r}: {exc}"
            ) from None
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise UsageError(
                    f"--pipeline {spec!r}: {module!r} has no attribute {attr!r}"
                ) from None
        if callable(obj) and not hasattr(obj, "fit"):
            obj = obj()  # a factory
    if not (hasattr(obj, "fit") and hasattr(obj, "get_params")):
        raise UsageError(f"--pipeline {spec!r} is a {type(obj).__name__}, not an estimator")
    return clone(obj)


def _make_pipeline(args):
    from ._pipelines import PIPELINES, make_named_pipeline

    spec = args.pipeline
    if spec in PIPELINES:
        return make_named_pipeline(
            spec, n_jobs=args.n_jobs, verbose=args.verbose, pretrained=args.pretrained
        ), PIPELINES[spec].needs_weights
    if os.path.isfile(spec) or (":" in spec and not os.path.exists(spec)):
        pipe = _user_pipeline(spec, args)
        if args.pretrained is not None and not _set_everywhere(pipe, "pretrained", args.pretrained):
            raise UsageError(f"--pretrained: pipeline {spec!r} has no 'pretrained' parameter")
        if args.n_jobs is not None:
            _set_everywhere(pipe, "n_jobs", args.n_jobs)
        _set_everywhere(pipe, "verbose", bool(args.verbose))
        return pipe, False
    try:
        make_named_pipeline(spec)
    except ValueError as exc:
        raise UsageError(
            f"{exc}. Or give a saved unfitted pipeline file or 'module:attribute'; run "
            "'skforensics pipelines' to list the named ones"
        ) from None
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------- commands
def _cmd_pipelines(args):
    from ._pipelines import describe_pipelines

    for name, desc in describe_pipelines():
        print(f"{name:18s} {desc}")
    return 0


def _cmd_train(args):
    from . import save

    _check_output(args.out, "--out")
    if args.device:
        from ._torch_utils import resolve_device

        resolve_device(args.device)
    pipe, needs_weights = _make_pipeline(args)
    if args.device:
        _set_everywhere(pipe, "device", args.device)
    data = _load_data(args.data, args.verbose)
    if len(np.unique(data.y)) < 2:
        raise UsageError(f"{args.data!r} needs both real and generated images to train")
    try:
        model, cv_result = _fit_pipeline(pipe, data.paths, data.y, args.cv, args.verbose)
    except Exception as exc:
        if needs_weights:
            _err(
                f"pipeline {args.pipeline!r} could not be trained; it needs pretrained "
                f"weights (downloaded on first use, so network access or a filled open_clip "
                f"cache, or --pretrained PATH of a local checkpoint): "
                f"{type(exc).__name__}: {exc}"
            )
            return 1
        raise
    if cv_result:
        print(f"{args.cv}-fold cross-validation on {len(data.y)} images:")
        for k, (m, s) in cv_result.items():
            print(f"  {k:18s} {m:.4f} +- {s:.4f}")
    _set_everywhere(model, "verbose", False)  # progress bars are a property of a run
    try:
        save(model, args.out)
    finally:
        if os.path.exists(args.out + ".tmp"):
            os.remove(args.out + ".tmp")
    print(f"saved {args.pipeline} model to {args.out}")
    return 0


def _cmd_evaluate(args):
    from sklearn.metrics import average_precision_score, roc_auc_score

    from .model_selection import ReportTable, per_generator_table

    _check_output(args.json, "--json")
    model = _load_model(args)
    data = _load_data(args.data, args.verbose)
    proba, pred, errors = _score_all(model, list(data.paths), args, threshold=args.threshold)
    ok = np.array([e is None for e in errors])
    failed = [{"path": p, "error": e} for p, e in zip(data.paths, errors) if e is not None]
    for f in failed:
        print(f"unreadable: {f['error']}", file=sys.stderr)
    if not ok.any():
        _err(f"none of the {len(errors)} images could be read")
        return EXIT_UNREADABLE
    y, p, s, g = np.asarray(data.y)[ok], pred[ok], proba[ok], np.asarray(data.generator)[ok]
    real, fake = y == 0, y == 1
    both = real.any() and fake.any()
    result = {
        "model": "default detector" if args.model is None else os.path.abspath(args.model),
        "data": data.root,
        "threshold": args.threshold,
        "n_images": int(ok.sum()),
        "n_real": int(real.sum()),
        "n_fake": int(fake.sum()),
        "n_failed": len(failed),
        "accuracy": float(np.mean(p == y)),
        # share of real images flagged as generated / of generated images caught
        "false_positive_rate": float(np.mean(p[real] == 1)) if real.any() else None,
        "true_positive_rate": float(np.mean(p[fake] == 1)) if fake.any() else None,
        "average_precision": float(average_precision_score(y, s)) if both else None,
        "roc_auc": float(roc_auc_score(y, s)) if both else None,
    }
    print(
        f"images: {result['n_images']} ({result['n_real']} real, {result['n_fake']} "
        f"generated; unreadable: {result['n_failed']})"
    )
    for k in (
        "accuracy",
        "false_positive_rate",
        "true_positive_rate",
        "average_precision",
        "roc_auc",
    ):
        v = result[k]
        if v is not None:
            print(f"{k:20s} {v:.4f}")
    if not both:
        print("(one class only: average precision and ROC AUC need real and generated images)")
    table = None
    if both:
        table = per_generator_table(y, g, s, threshold=_effective_threshold(model, args.threshold))
    elif fake.any():  # generated images only: the detection rate of each generator
        rows = [
            {
                "generator": gen,
                "n_fake": int((g == gen).sum()),
                "true_positive_rate": float(np.mean(p[g == gen] == 1)),
            }
            for gen in sorted(set(g.tolist()))
        ]
        table = ReportTable(
            ["generator", "n_fake", "true_positive_rate"], rows, title="per-generator results"
        )
    if table is not None:
        print(table)
    result["per_generator"] = table.to_dict("records") if table is not None else []
    result["failed"] = failed
    if args.json:
        clean = json.loads(json.dumps(result), parse_constant=lambda c: None)  # NaN -> null
        _write_atomic(args.json, lambda f: json.dump(clean, f, indent=2, allow_nan=False))
        print(f"wrote {args.json}")
    return EXIT_UNREADABLE if failed else 0


# ------------------------------------------------------------------------- scan
def _output_format(args):
    out = args.csv or args.out
    if args.csv and args.out:
        raise UsageError("give either --csv or --out, not both")
    fmt = args.format
    if args.csv:
        if fmt not in (None, "csv"):
            raise UsageError(f"--csv writes CSV; use --out {args.csv} --format {fmt}")
        fmt = "csv"
    if fmt is None:
        fmt = (
            "jsonl"
            if out and out.lower().endswith((".jsonl", ".ndjson"))
            else ("csv" if out else "text")
        )
    if out and fmt == "text":
        raise UsageError("--format text is for the terminal; files are csv or jsonl")
    if args.resume and not out:
        raise UsageError("--resume needs the output file of the interrupted scan (--out/--csv)")
    return out, fmt


def _format_line(rec, fmt):
    err = None if rec.error is None else _clean(rec.error)
    if fmt == "jsonl":
        prob = None if math.isnan(rec.prob_fake) else round(rec.prob_fake, 6)
        return (
            json.dumps(
                {
                    "path": rec.path,
                    "prob_fake": prob,
                    "verdict": rec.verdict or "error",
                    "error": err,
                }
            )
            + "\n"
        )
    if fmt == "text":
        if err is not None:
            return f"{rec.path}\t-\terror: {err}\n"
        return f"{rec.path}\t{rec.prob_fake:.4f}\t{rec.verdict}\n"
    raise AssertionError(fmt)  # pragma: no cover - csv goes through _csv_row


def _csv_row(rec):
    err = None if rec.error is None else _clean(rec.error)
    prob = "" if err is not None else f"{rec.prob_fake:.6f}"
    return [rec.path, prob, rec.verdict or "error", err or ""]


def _sink(stream, fmt, header):
    """A function writing one record to ``stream`` in ``fmt`` (and flushing it)."""
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        if header:
            writer.writerow(_CSV_FIELDS)
            stream.flush()

        def write(rec):
            writer.writerow(_csv_row(rec))
            stream.flush()
    else:

        def write(rec):
            stream.write(_format_line(rec, fmt))
            stream.flush()

    return write


def _done_paths(out, fmt):
    """Paths already in the output file of an interrupted scan; cut a torn last line."""
    if not os.path.exists(out) or os.path.getsize(out) == 0:
        return set(), False
    with open(out, "rb") as f:
        data = f.read()
    if not data.endswith(b"\n"):  # killed in the middle of a line: drop the torn line
        cut = data.rfind(b"\n") + 1
        with open(out, "r+b") as f:
            f.truncate(cut)
        data = data[:cut]
    text = data.decode("utf-8", errors="replace")
    done = set()
    if fmt == "jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    done.add(json.loads(line)["path"])
                except (ValueError, KeyError, TypeError):
                    raise UsageError(
                        f"--resume: line {n} of {out!r} is not a scan record "
                        "(JSON Lines with a 'path')"
                    ) from None
        return done, True
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return done, False
    if rows[0][:1] != ["path"]:
        raise UsageError(
            f"--resume: {out!r} is not a CSV written by 'skforensics scan' "
            f"(its header is {rows[0]})"
        )
    done.update(r[0] for r in rows[1:] if r)
    return done, True


def _realpath(p):
    try:
        return os.path.realpath(p)
    except (OSError, ValueError):
        return p


def _list_inputs(args):
    """``(paths, error_records)`` from the path arguments (folders walked, '-' = stdin)."""
    from .datasets import list_images

    listing = list_images(args.paths)
    if listing.unsupported:
        shown = ", ".join(p for p, _ in listing.unsupported[:5])
        more = len(listing.unsupported) - 5
        print(
            f"note: {len(listing.unsupported)} file(s) in the folders are not images and were "
            f"not scanned: {shown}{f' and {more} more' if more > 0 else ''}",
            file=sys.stderr,
        )
    return list(listing.paths), list(listing.errors)


def _effective_threshold(model, threshold):
    """``threshold``, or the model's own (``threshold_`` of a saved FixedFPRThreshold), else 0.5."""
    return getattr(model, "threshold_", 0.5) if threshold is None else threshold


def _calibrated_threshold(model, args):
    from .model_selection import threshold_at_fpr

    data = _load_data(args.calibrate, False)
    proba, _, errors = _score_all(model, list(data.paths), args)
    ok = np.array([e is None for e in errors])
    y = np.asarray(data.y)[ok]
    if not (y == 0).any():
        raise UsageError(
            f"--calibrate {args.calibrate!r} has no readable real image to set "
            "the false-positive rate on"
        )
    thr = threshold_at_fpr(y, proba[ok], args.fpr)
    print(
        f"threshold {thr:.4f}: false-positive rate <= {args.fpr} on the "
        f"{int((y == 0).sum())} real images of {args.calibrate}",
        file=sys.stderr,
    )
    return thr


def _dask_client(args):
    if not (args.dask or args.dask_workers):
        return None, None
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(
            "--dask needs the 'distributed' package: pip install distributed"
        ) from None
    if args.dask:
        return Client(args.dask), None
    cluster = LocalCluster(
        n_workers=args.dask_workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster), cluster


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"skforensics: warning: {_clean(message)}", file=sys.stderr)


# Signals received while a command runs. Python loses a handler's exception when it runs
# the handler inside a ``__del__`` method or a weakref callback ("Exception ignored in"):
# the scan loop raises again from here after every image, so that no signal is lost.
_PENDING_SIGNALS = []


def _on_signal(signum, frame):
    _PENDING_SIGNALS.append(signum)
    _raise_for_signal(signum)


def _raise_for_signal(signum):
    if signum == signal.SIGTERM:
        raise _Terminated()
    raise KeyboardInterrupt()


def _check_signals():
    """Raise for a signal whose handler's exception was lost (see ``_PENDING_SIGNALS``)."""
    if _PENDING_SIGNALS:
        _raise_for_signal(_PENDING_SIGNALS[-1])


def _cmd_scan(args):
    from .scanning import ScanRecord, iter_scores

    if args.fpr is not None and not args.calibrate:
        raise UsageError(
            "--fpr needs --calibrate DIR_OR_CSV: labelled images to choose the threshold on"
        )
    if args.calibrate and args.fpr is None:
        raise UsageError("--calibrate needs --fpr RATE")
    out, fmt = _output_format(args)
    _check_output(out, "--csv" if args.csv else "--out")
    paths, listing_errors = _list_inputs(args)
    done, resuming = _done_paths(out, fmt) if (out and args.resume) else (set(), False)
    n_skipped = 0
    if done:
        done_keys = {_realpath(p) for p in done} | done
        keep = [p for p in paths if p not in done_keys and _realpath(p) not in done_keys]
        n_skipped = len(paths) - len(keep)
        paths = keep
        listing_errors = [(p, e) for p, e in listing_errors if p not in done]
    model = _load_model(args)
    threshold = args.threshold
    if args.fpr is not None:
        threshold = _calibrated_threshold(model, args)
    # None is passed on: score_batch resolves the model's own threshold for every image
    shown = _effective_threshold(model, threshold)

    counts = {"scored": 0, "fake": 0, "unreadable": 0}
    status = 0
    fh = None
    client = cluster = None
    try:
        sinks = []
        if out:
            fh = open(out, "a" if resuming else "w", newline="", encoding="utf-8")
            sinks.append(_sink(fh, fmt, header=not resuming))
        if not (out and args.no_print):
            sinks.append(_sink(sys.stdout, "text" if out else fmt, header=True))

        def emit(rec):
            if rec.error is not None:
                counts["unreadable"] += 1
            else:
                counts["scored"] += 1
                counts["fake"] += rec.verdict == "fake"
            for write in sinks:
                write(rec)
            _check_signals()

        for p, reason in listing_errors:
            emit(ScanRecord(p, float("nan"), None, f"{p!r}: {reason}"))
        client, cluster = _dask_client(args)
        for rec in iter_scores(
            model,
            paths,
            batch_size=args.batch_size,
            threshold=threshold,
            client=client,
            verbose=args.verbose,
        ):
            emit(rec)
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    except _Terminated:
        status = EXIT_TERMINATED
    finally:
        if fh is not None:
            fh.close()
        for c in (client, cluster):
            if c is not None:
                try:
                    c.close()
                except Exception:  # noqa: BLE001, S110 - shutting down anyway
                    pass
    n = counts["scored"] + counts["unreadable"]
    summary = (
        f"{n} image(s): {counts['scored']} scored, {counts['fake']} flagged as generated "
        f"(prob_fake > {shown:g}), {counts['unreadable']} unreadable"
    )
    if n_skipped:
        summary += f"; {n_skipped} already in {out} (resumed)"
    if status:
        where = f" in {out}; rerun with --resume to finish" if out else ""
        print(
            f"\ninterrupted: {summary}. Every line written so far is kept{where}.", file=sys.stderr
        )
        return status
    print(summary, file=sys.stderr)
    if n == 0 and not n_skipped:
        _err("no image found in the given paths")
        return EXIT_UNREADABLE
    return EXIT_UNREADABLE if counts["unreadable"] else 0


# ----------------------------------------------------------------------- parser
def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _probability(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {v}")
    return v


def _fpr(text):
    v = _probability(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {v}")
    return v


def _parser():
    from . import __version__

    p = argparse.ArgumentParser(
        prog="skforensics",
        description="Detect AI-generated images with scikit-learn pipelines.",
        epilog="Exit status: 0 success, 1 failure, 2 usage error, 3 some images could not "
        "be read, 130 interrupted (SIGINT), 143 terminated (SIGTERM).",
    )
    p.add_argument("--version", action="version", version=f"skforensics {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def common(sp):
        g = sp.add_mutually_exclusive_group()
        g.add_argument(
            "-v",
            "--verbose",
            action="store_const",
            const=True,
            default=None,
            help="progress bars and details (default when run in a terminal)",
        )
        g.add_argument(
            "-q",
            "--quiet",
            action="store_const",
            const=False,
            dest="verbose",
            help="no progress bars",
        )

    def compute(sp, batch=True):
        sp.add_argument(
            "--device",
            metavar="DEVICE",
            help="torch device of the neural steps: cpu, cuda, cuda:1, mps",
        )
        sp.add_argument(
            "--n-jobs",
            type=int,
            default=None,
            metavar="N",
            help="threads of the weight-free feature extractors",
        )
        if batch:
            sp.add_argument(
                "--batch-size",
                type=_positive_int,
                default=64,
                metavar="N",
                help="images per model call (default 64)",
            )

    def model_opts(sp):
        sp.add_argument(
            "--model",
            metavar="MODEL",
            help="model saved by 'train' (default: the shipped default detector)",
        )
        sp.add_argument(
            "--trust",
            action="append",
            default=[],
            metavar="TYPE",
            help="also trust this type when loading the model file (repeatable; "
            "only for files you trust)",
        )
        sp.add_argument(
            "--allow-pickle",
            action="store_true",
            help="load a model file of the old pickle format (it can run code: only "
            "for files you made); re-save it with skforensics.save",
        )

    sp = sub.add_parser(
        "pipelines",
        help="list the named pipelines",
        description="List the named pipelines that 'train' accepts.",
    )
    sp.set_defaults(func=_cmd_pipelines)

    sp = sub.add_parser(
        "train",
        help="train a pipeline and save it",
        description="Train a named pipeline, or your own unfitted one, on a "
        "labelled folder or CSV manifest and save the fitted model.",
    )
    sp.add_argument(
        "--data",
        required=True,
        metavar="DIR_OR_CSV",
        help="folder (real/fake, 0_real/1_fake, nature/ai) or CSV path,label[,generator]",
    )
    sp.add_argument(
        "--pipeline",
        required=True,
        metavar="NAME_OR_FILE",
        help="pipeline name (see 'skforensics pipelines'), a file holding a saved "
        "unfitted pipeline, or 'module:attribute' (an estimator or a factory)",
    )
    sp.add_argument(
        "--pretrained",
        metavar="TAG_OR_PATH",
        help="CLIP pipelines: open_clip pretrained tag or a local checkpoint file",
    )
    sp.add_argument("--out", required=True, metavar="MODEL", help="output model file")
    sp.add_argument(
        "--cv",
        type=int,
        default=0,
        metavar="K",
        help="also report K-fold cross-validated accuracy / AP / ROC AUC",
    )
    sp.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="trust this type when loading a pipeline file (repeatable)",
    )
    compute(sp, batch=False)
    common(sp)
    sp.set_defaults(func=_cmd_train)

    sp = sub.add_parser(
        "evaluate",
        help="evaluate a model on labelled images",
        description="Accuracy, false-positive rate on real images, true-"
        "positive rate on generated ones, average precision, ROC AUC and a "
        "per-generator table of a model on a labelled folder or CSV manifest.",
    )
    model_opts(sp)
    sp.add_argument("--data", required=True, metavar="DIR_OR_CSV", help="labelled images")
    sp.add_argument(
        "--threshold",
        type=_probability,
        default=None,
        metavar="T",
        help="flag images with prob_fake > T (default: the model's own, 0.5)",
    )
    sp.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    compute(sp)
    common(sp)
    sp.set_defaults(func=_cmd_evaluate)

    sp = sub.add_parser(
        "scan",
        help="score images with a model",
        description="Write one line per image, as soon as it is scored: path, probability of "
        "being generated, verdict, error. Folders are walked recursively; '-' reads paths from "
        "stdin; a file given twice is scored once; unreadable files get an error line. "
        "Ctrl-C or SIGTERM keep every line written; --resume completes the scan.",
        epilog="Exit status: 0 every image scored, 2 usage error, 3 some or all images could "
        "not be read, 130 interrupted (SIGINT), 143 terminated (SIGTERM).",
    )
    model_opts(sp)
    sp.add_argument("paths", nargs="+", metavar="PATHS", help="image files, folders, or '-'")
    sp.add_argument(
        "--out",
        metavar="FILE",
        help="write the lines to FILE (CSV, or JSON Lines for *.jsonl / --format jsonl)",
    )
    sp.add_argument("--csv", metavar="FILE", help="write path,prob_fake,verdict,error to a CSV")
    sp.add_argument(
        "--format",
        choices=("text", "csv", "jsonl"),
        default=None,
        help="output format (default: text on the terminal, csv in files)",
    )
    sp.add_argument(
        "--resume",
        action="store_true",
        help="skip the images already in the output file and append the others",
    )
    sp.add_argument(
        "--no-print",
        action="store_true",
        help="with --out/--csv: do not also print the lines on stdout",
    )
    g = sp.add_mutually_exclusive_group()
    g.add_argument(
        "--threshold",
        type=_probability,
        default=None,
        metavar="T",
        help="flag images with prob_fake > T (default: the model's own threshold_, e.g. of a "
        "saved FixedFPRThreshold, else 0.5)",
    )
    g.add_argument(
        "--fpr",
        type=_fpr,
        default=None,
        metavar="RATE",
        help="choose the threshold that flags at most RATE of the real images of --calibrate",
    )
    sp.add_argument(
        "--calibrate", metavar="DIR_OR_CSV", help="labelled images (with real ones) for --fpr"
    )
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--dask", metavar="ADDRESS", help="score on this Dask scheduler")
    g.add_argument(
        "--dask-workers",
        type=_positive_int,
        metavar="N",
        help="score on a local Dask cluster of N worker processes",
    )
    compute(sp)
    common(sp)
    sp.set_defaults(func=_cmd_scan)
    return p


@validate_params(
    {"argv": [list, tuple, None]},  # argparse validates the arguments themselves
    prefer_skip_nested_validation=False,  # the pipelines a command fits validate theirs
)
def main(argv=None):
    """Entry point of the ``skforensics`` console script.

    Parameters
    ----------
    argv : list or tuple of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 2 on a usage error, 3 when images could not be read,
        130 / 143 when interrupted (see the module docstring).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    if getattr(args, "verbose", False) is None:  # progress bars when a person is watching
        args.verbose = sys.stderr.isatty()
    old_show, warnings.showwarning = warnings.showwarning, _show_warning
    old_handlers = {}
    try:
        old_handlers[signal.SIGTERM] = signal.signal(signal.SIGTERM, _on_signal)
        # SIGINT as Python handles it by default, but remembered; an ignored SIGINT (a job
        # started in the background) stays ignored
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            old_handlers[signal.SIGINT] = signal.signal(signal.SIGINT, _on_signal)
    except ValueError:  # not the main thread: the signals keep their handlers
        pass
    try:
        return args.func(args)
    except UsageError as exc:
        _err(exc)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated:
        print("\nterminated", file=sys.stderr)
        return EXIT_TERMINATED
    except (
        FileNotFoundError,
        NotADirectoryError,
        IsADirectoryError,
        PermissionError,
        ValueError,
    ) as exc:
        _err(exc)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - no traceback for users; SKFORENSICS_DEBUG shows it
        if os.environ.get("SKFORENSICS_DEBUG"):
            raise
        _err(f"{type(exc).__name__}: {exc} (set SKFORENSICS_DEBUG=1 for the traceback)")
        return 1
    finally:
        warnings.showwarning = old_show
        for signum, handler in old_handlers.items():
            signal.signal(signum, handler)
        _PENDING_SIGNALS.clear()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
