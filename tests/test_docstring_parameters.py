"""Docstrings document exactly the parameters of their objects (numpydoc).

As imbalanced-learn's ``test_docstring_parameters``: every public class, its
public methods defined in skforensics, and every public function found by
crawling the public modules is validated by ``numpydoc.validate``. The checked
rules are that a docstring exists (GL08), every parameter is documented (PR01),
no unknown parameter is documented (PR02), the parameters are in the order of
the signature (PR03) and each has a type (PR04).
"""

import inspect

import pytest
from test_common import public_modules

numpydoc_validate = pytest.importorskip("numpydoc.validate")

CHECKED = {"GL08", "PR01", "PR02", "PR03", "PR04"}

# (object, code) pairs still failing, with who fixes them (none now: keep it empty).
KNOWN = set()


def _overrides_upstream(cls, meth):
    """Whether ``meth`` overrides a method documented by torch, skorch or scikit-learn.

    Such overrides (``forward``, skorch's ``infer`` / ``get_loss`` hooks,
    ``get_n_splits``...) keep the upstream contract and its documentation.
    """
    return any(
        meth in vars(base) and not base.__module__.startswith("skforensics")
        for base in cls.__mro__[1:]
    )


def _is_record(obj):
    # NamedTuples document their fields as Attributes, not Parameters
    return inspect.isclass(obj) and issubclass(obj, tuple) and hasattr(obj, "_fields")


def _documented_objects():
    seen = {}
    for mod in public_modules():
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not getattr(obj, "__module__", "").startswith("skforensics"):
                continue
            qual = f"{mod.__name__}.{name}"
            if id(obj) in seen:
                continue
            seen[id(obj)] = qual
            if inspect.isclass(obj):
                for meth, member in vars(obj).items():
                    if meth.startswith("_") or not callable(member):
                        continue
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    if inspect.isfunction(member) and not _overrides_upstream(obj, meth):
                        seen[id(member)] = f"{qual}.{meth}"
    return sorted(seen.values())


OBJECTS = _documented_objects()


def _errors(qualname):
    # numpydoc's validate(), minus the rules this project does not enforce
    res = numpydoc_validate.validate(qualname)
    codes = {code for code, _ in res["errors"] if code in CHECKED}
    if _is_record(res.get("obj", None) or _resolve(qualname)):
        codes.discard("PR01")
    return sorted(codes)


def _resolve(qualname):
    import importlib

    parts = qualname.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for p in parts[i:]:
            obj = getattr(obj, p)
        return obj
    return None


@pytest.mark.parametrize("qualname", OBJECTS)
def test_docstring_parameters(qualname):
    errors = _errors(qualname)
    known = {code for (obj, code) in KNOWN if obj == qualname}
    assert set(errors) - known == set(), (
        f"{qualname}: numpydoc {sorted(set(errors) - known)}: "
        + "; ".join(
            m for c, m in numpydoc_validate.validate(qualname)["errors"] if c in set(errors) - known
        )
    )
    stale = known - set(errors)
    assert not stale, f"{qualname}: fixed, remove {sorted(stale)} from KNOWN"
