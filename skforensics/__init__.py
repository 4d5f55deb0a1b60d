"""skforensics: scikit-learn estimators for detecting AI-generated images.

Heavy dependencies (torch, open_clip, diffusers) are imported only when an
estimator that needs them is first used, so ``import skforensics`` is fast.
"""

import importlib

__version__ = "0.1.0.dev0"

# public name -> private module that defines it
_LAZY = {
    "CLIPFeatureExtractor": "._clip",
    "CachedTransformer": "._caching",
    "MultiScaleStyleRetrospection": "._retrospection",
    "CoRITInjector": "._corit",
    "CorrentropySparseAdditiveClassifier": "._csam",
    "CorrentropySparseAdditiveClassifierCV": "._csam",
    "RegularizationPathDisplay": "._csam",
    "ImageLoadError": "._image_io",
    "SkippedImageWarning": "._image_io",
    "SkipInvalidRows": "._skipping",
    "save": "._persistence",
    "load": "._persistence",
    "get_untrusted_types": "._persistence",
    "ModelVersionError": "._persistence",
    "ModelVersionWarning": "._persistence",
    "UntrustedModelError": "._persistence",
    "UnsafeModelWarning": "._persistence",
    "RegionMaskDisplay": "._displays",
    "ComponentFunctionDisplay": "._csam",
    "PseudoFakeClassifier": "._detector",
    "make_default_detector": "._detector",
    "load_default_detector": "._detector",
    "make_named_pipeline": "._pipelines",
    "DEFAULT_DETECTOR_PATH": "._detector",
}
_SUBMODULES = (
    "datasets",
    "metrics",
    "neural",
    "optim",
    "model_selection",
    "features",
    "perturbations",
    "cli",
    "distributed",
    "scanning",
)

__all__ = sorted(_LAZY) + list(_SUBMODULES)


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        return getattr(module, name)
    if name in _SUBMODULES:
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'skforensics' has no attribute {name!r}")


def __dir__():
    return __all__
