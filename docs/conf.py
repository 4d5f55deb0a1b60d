"""Sphinx configuration for the skforensics documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
import skforensics

project = "skforensics"
author = "the skforensics developers"
copyright = "2026, the skforensics developers"
release = skforensics.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]
# figures in the user guide are generated at build time by ``.. plot::`` blocks
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 90)]
plot_rcparams = {"figure.autolayout": True}
plot_pre_code = "import numpy as np\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
autosummary_generate = True
# sklearn's generated metadata-routing setters and inherited ``score`` point into
# sklearn's own docs, which are not reachable offline
_SKLEARN_INHERITED = [
    f"set_{m}_request"
    for m in ("fit", "score", "transform", "predict", "predict_proba", "partial_fit",
              "decision_function", "split", "inverse_transform")
] + ["score", "set_output"]
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    "exclude-members": ",".join(_SKLEARN_INHERITED),
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**.codeobj.json"]
intersphinx_mapping = {}  # no network in CI: no cross-project inventories

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # execute every example (quickstart.py too), so that the docs build checks they all run
    "filename_pattern": r"\.py$",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "within_subsection_order": "FileNameSortKey",
}

html_theme = "pydata_sphinx_theme" if os.environ.get("SKF_DOCS_THEME", "1") == "1" else "alabaster"
html_theme_options = {"navigation_with_keys": False}
html_static_path = []
html_title = "skforensics"
