"""Building and running the detector never touches the network."""

from __future__ import annotations

import socket
from typing import Any, NoReturn

import pytest

from anonymizers.analyzer import build_analyzer
from anonymizers.recognizers._lexicon import common_words


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError("network access attempted")


@pytest.mark.parametrize("backend", ["lac", "jieba", "none"])
def test_no_network(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    common_words.cache_clear()
    detector = build_analyzer(backend)
    text = ("市民张伟来电，邮箱zhangsan@example.com和a@b.gov.cn，IP地址192.168.1.20登录，"
            "住江西省南昌市东湖区北京东路12号。")
    types = {r.entity_type for r in detector.analyze(text)}
    assert {"EMAIL_ADDRESS", "IP_ADDRESS"} <= types
    if backend != "none":
        assert {"PERSON", "LOCATION"} <= types
