"""Hub probe: no minute of retries on a machine without network."""

import socket

import numpy as np
import pytest

pytest.importorskip("huggingface_hub")
from huggingface_hub import constants  # noqa: E402

from skforensics import _hub  # noqa: E402


@pytest.fixture
def unreachable(monkeypatch):
    for var in _hub._PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("SKFORENSICS_HUB_PROBE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(_hub, "hub_reachable", lambda timeout=None: False)


def test_probe_result_is_cached(monkeypatch):
    calls = []

    def refuse(address, timeout=None):
        calls.append(address)
        raise OSError("no route")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(_hub, "_reachable_cache", {})
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid:8443")
    assert _hub.hub_reachable() is False
    assert _hub.hub_reachable() is False
    assert calls == [("hub.invalid", 8443)]


def test_offline_mode_only_for_the_block(unreachable):
    with _hub.offline_unless_reachable() as switched:
        assert switched and constants.HF_HUB_OFFLINE is True
    assert constants.HF_HUB_OFFLINE is False
    with pytest.raises(KeyError), _hub.offline_unless_reachable():
        raise KeyError("boom")
    assert constants.HF_HUB_OFFLINE is False


@pytest.mark.parametrize("setting", ["proxy", "opt_out", "user_offline"])
def test_user_settings_are_respected(unreachable, monkeypatch, setting):
    if setting == "proxy":
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    elif setting == "opt_out":
        monkeypatch.setenv("SKFORENSICS_HUB_PROBE", "0")
    else:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with _hub.offline_unless_reachable() as switched:
        assert not switched
    assert constants.HF_HUB_OFFLINE is (setting == "user_offline")


@pytest.mark.timeout(120)
def test_clip_pretrained_tag_fails_fast_and_clearly(unreachable):
    pytest.importorskip("open_clip")
    from skforensics._clip import build_clip_visual

    with pytest.raises(RuntimeError, match="hub cannot be reached") as info:
        build_clip_visual("ViT-B-32", "openai")
    assert "pretrained=None" in str(info.value)
    assert constants.HF_HUB_OFFLINE is False


@pytest.mark.timeout(120)
def test_msr_hub_id_fails_fast_and_clearly(unreachable):
    pytest.importorskip("diffusers")
    from skforensics import MultiScaleStyleRetrospection

    msr = MultiScaleStyleRetrospection(diffusion="no-such-org/no-such-model-skforensics")
    with pytest.raises(OSError, match="hub being unreachable"):
        msr.fit(np.zeros((1, 16, 16, 3), np.uint8))
