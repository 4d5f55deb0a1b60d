"""Regenerate docs/api.rst from the ``__all__`` of the public modules.

Run ``python docs/gen_api.py`` after adding a public name.
"""

import importlib
import os

MODULES = [
    ("skforensics", "Estimators and persistence"),
    ("skforensics.datasets", "Data sets"),
    ("skforensics.features", "Weight-free features"),
    ("skforensics.perturbations", "Robustness perturbations"),
    ("skforensics.model_selection", "Evaluation protocols"),
    ("skforensics.metrics", "Metrics and diagnostics"),
    ("skforensics.neural", "Neural networks (skorch)"),
    ("skforensics.optim", "Optimizers"),
    ("skforensics.scanning", "Scanning at volume"),
    ("skforensics.distributed", "Scale-out on Dask"),
]


def main():
    lines = ["API reference", "=============", ""]
    for mod_name, title in MODULES:
        mod = importlib.import_module(mod_name)
        names = [
            n for n in getattr(mod, "__all__", []) if not isinstance(getattr(mod, n), type(os))
        ]  # submodules have their own section
        lines += [
            title,
            "-" * len(title),
            "",
            f".. currentmodule:: {mod_name}",
            "",
            ".. autosummary::",
            "   :toctree: gen_modules",
            "   :nosignatures:",
            "",
        ]
        lines += [f"   {n}" for n in sorted(names)] + [""]
    path = os.path.join(os.path.dirname(__file__), "api.rst")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
