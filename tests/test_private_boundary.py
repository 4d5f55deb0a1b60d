"""The private boundary: no module imports another module's private names.

A name is private when it starts with an underscore (``_helper``, ``_COLUMNS``).
What a neighbour needs becomes a public name; it may live in a private module
(``from ._clip import CLIPFeatureExtractor`` is fine). Upstream private APIs
(scikit-learn's ``_fit_context``, ``sklearn.utils._param_validation``, ...) are
reached only through ``skforensics/_compat.py``, which bounds their versions.
Docs, user guides and examples import only from public modules.
"""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = ROOT / "skforensics"

# Known offenders, each as (file relative to the repository root, imported name);
# none today. The test also fails on an entry that no longer occurs.
ALLOWED = set()
# the same for docs pages (empty: every page imports public names)
ALLOWED_DOCS = set()

_UPSTREAM = ("sklearn", "skorch", "torch", "open_clip", "diffusers")


def _is_private(part):
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _module_name(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(node, path):
    """Absolute module of an ``ImportFrom`` node in ``path``."""
    if node.level == 0:
        return node.module or ""
    pkg = _module_name(path).split(".")
    if path.name != "__init__.py":
        pkg = pkg[:-1]
    base = pkg[: len(pkg) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_submodule(module, name):
    base = ROOT.joinpath(*module.split("."), name)
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def violations(path):
    """``(name, lineno)`` of every private import in one Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own = _module_name(path) if path.is_relative_to(PKG) else ""
    is_compat = path == PKG / "_compat.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = _resolve(node, path)
            top = module.split(".")[0]
            for alias in node.names:
                full = f"{module}.{alias.name}"
                if top == "skforensics":
                    # a private module may be imported by its parent package only
                    if _is_private(alias.name) and not _is_submodule(module, alias.name):
                        if module != own:
                            out.append((full, node.lineno))
                    elif not own and any(_is_private(p) for p in module.split(".")):
                        # outside the package: public modules only
                        out.append((full, node.lineno))
                elif top in _UPSTREAM and not is_compat:
                    if any(_is_private(p) for p in full.split(".")):
                        out.append((full, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in _UPSTREAM + ("skforensics",) and not is_compat:
                    if any(_is_private(p) for p in alias.name.split(".")) and not (
                        top == "skforensics" and own
                    ):
                        out.append((alias.name, node.lineno))
    return out


def _python_files():
    files = sorted(PKG.rglob("*.py"))
    files += sorted((ROOT / "examples").glob("*.py"))
    files += [ROOT / "docs" / "conf.py", ROOT / "docs" / "gen_api.py"]
    return [f for f in files if f.exists()]


def test_no_cross_module_private_imports():
    found = set()
    messages = []
    for path in _python_files():
        rel = path.relative_to(ROOT).as_posix()
        for name, line in violations(path):
            found.add((rel, name))
            if (rel, name) not in ALLOWED:
                messages.append(f"{rel}:{line} imports private {name}")
    assert not messages, "private names crossing module boundaries:\n" + "\n".join(messages)
    stale = sorted(ALLOWED - found)
    assert not stale, f"fixed: remove these from ALLOWED: {stale}"


_RST_IMPORT = re.compile(r"(?:from|import)\s+(skforensics(?:\.\w+)*)")


@pytest.mark.parametrize(
    "path",
    sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "docs").rglob("*.rst")
        if "gen_modules" not in p.parts and "auto_examples" not in p.parts
    ),
)
def test_docs_import_public_modules_only(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    bad = [m for m in _RST_IMPORT.findall(text) if any(_is_private(p) for p in m.split("."))]
    if path in ALLOWED_DOCS:
        assert bad, f"fixed: remove {path} from ALLOWED_DOCS"
        return
    assert not bad, f"{path} imports from private modules {bad}; use the public names"


_DOCTEST_IMPORT = re.compile(
    r"^\s*(?:>>>|\.\.\.)\s+(?:from|import)\s+(skforensics(?:\.\w+)*)", re.M
)


def test_docstring_examples_import_public_modules_only():
    # the Examples sections are what users copy
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        own = _module_name(path)  # an internal module's doctest may import the module itself
        for m in _DOCTEST_IMPORT.findall(path.read_text(encoding="utf-8")):
            if m != own and any(_is_private(p) for p in m.split(".")):
                bad.append(f"{path.relative_to(ROOT).as_posix()}: {m}")
    assert not bad, "doctests importing from private modules:\n" + "\n".join(bad)


def test_checker_catches_private_imports(tmp_path, monkeypatch):
    # the checker itself must flag what it is meant to flag
    fake = PKG / "_not_a_module_boundary_probe.py"
    src = (
        "from ._clip import _open_clip\n"
        "from ._clip import CLIPFeatureExtractor\n"
        "from sklearn.utils._param_validation import Interval\n"
        "from sklearn.utils.validation import _check_sample_weight\n"
        "from sklearn.base import clone\n"
    )
    monkeypatch.setattr(pathlib.Path, "read_text", lambda self, encoding=None: src)
    names = [n for n, _ in violations(fake)]
    assert names == [
        "skforensics._clip._open_clip",
        "sklearn.utils._param_validation.Interval",
        "sklearn.utils.validation._check_sample_weight",
    ]
