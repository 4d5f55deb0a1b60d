"""Fail fast (or use the local cache at once) when the Hugging Face hub cannot be reached.

Without network access, ``huggingface_hub`` retries every request with
back-off for about a minute before it falls back to the local cache or gives
up.  Forensics work often runs on air-gapped machines, so before loading
pretrained weights by name we probe the hub once per process (a TCP connect
with a short timeout) and, when it is unreachable, run the load in the hub's
offline mode: cached weights load immediately and missing ones fail in
seconds with the hub's "not in the local cache" error.

The probe is skipped (the hub's own behaviour is kept) when the user already
set ``HF_HUB_OFFLINE``, or when a proxy is configured (a direct connect says
nothing about a proxied one).  ``SKFORENSICS_HUB_PROBE=0`` disables it.
"""

import contextlib
import os
import socket
import urllib.parse

_PROBE_TIMEOUT_S = 3.0
_reachable_cache = {}

_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _endpoint():
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def hub_reachable(timeout=_PROBE_TIMEOUT_S):
    """Whether a TCP connection to the hub endpoint opens (cached per endpoint)."""
    url = urllib.parse.urlsplit(_endpoint())
    key = (url.hostname, url.port or (443 if url.scheme == "https" else 80))
    if key not in _reachable_cache:
        try:
            with socket.create_connection(key, timeout=timeout):
                _reachable_cache[key] = True
        except OSError:
            _reachable_cache[key] = False
    return _reachable_cache[key]


def hub_unreachable():
    """True when the probe ran and the hub could not be reached.

    False when the user set ``HF_HUB_OFFLINE`` (their setting rules), when a
    proxy is configured, when ``SKFORENSICS_HUB_PROBE=0``, or when the hub
    answers.
    """
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - installed with open_clip and diffusers
        return False
    if (
        constants.HF_HUB_OFFLINE
        or os.environ.get("SKFORENSICS_HUB_PROBE", "1") in ("0", "false", "False")
        or any(os.environ.get(v) for v in _PROXY_VARS)
    ):
        return False
    return not hub_reachable()


@contextlib.contextmanager
def offline_unless_reachable():
    """Run the block in ``huggingface_hub`` offline mode when the hub is unreachable.

    Yields ``True`` when offline mode was switched on for the block.
    """
    if not hub_unreachable():
        yield False
        return
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True
    try:
        yield True
    finally:
        constants.HF_HUB_OFFLINE = False
