"""SALESOS_PUBLIC_URL is checked when settings load: every link and webhook URL is built on it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from connector.settings import Settings
from connector.tenant_credentials import unreachable
from tests.test_end_to_end import ROOT


@pytest.mark.parametrize("url", ["https://salesos.example.com", "http://127.0.0.1:5000",
                                 "https://example.com/salesos/", "https://[::1]:8443"])
def test_an_http_or_https_url_with_a_host_is_accepted(url):
    assert Settings(salesos_public_url=url).salesos_public_url == url


@pytest.mark.parametrize("url", ["salesos.example.com", "ftp://salesos.example.com", "https://", "javascript:alert(1)",
                                 "https://salesos.example.com/?next=x", "https://salesos.example.com/#top",
                                 "https://salesos.example.com:99999", "https://sales os.example.com", "x" * 500])
def test_a_url_without_scheme_or_host_or_with_a_query_or_fragment_is_refused_naming_the_variable_and_rule(url):
    with pytest.raises(ValidationError) as refused:
        Settings(salesos_public_url=url)
    message = refused.value.errors()[0]["msg"]
    assert "SALESOS_PUBLIC_URL must be an http(s) URL with a host and no query or fragment" in message
    assert len(message) < 250  # the value is quoted clipped


def test_the_cli_refuses_to_start_with_a_bad_public_url_and_says_why(tmp_path):
    env = {**os.environ, "SALESOS_HOME": str(tmp_path), "SALESOS_PUBLIC_URL": "https://salesos.example.com/?a=b"}
    result = subprocess.run([sys.executable, "-m", "connector", "health"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "SALESOS_PUBLIC_URL must be an http(s) URL" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("url", [
    "https://10.0.0.5", "https://172.16.0.1:8443", "https://172.31.255.254", "https://192.168.1.20/salesos",
    "https://169.254.169.254", "https://[fe80::1]", "https://[fd00::5]", "https://100.64.0.1", "https://0.0.0.0",
    "https://[::ffff:10.0.0.5]", "https://10.1", "https://167772161", "https://0x7f.0.0.1", "https://0xA.0x1",
    "https://0300.0250.0.1", "https://localhost",
    "https://salesos.localhost", "https://salesos.internal", "https://build.corp.internal", "https://salesos.local",
    "https://salesos", "https://SalesOS.Local.", "https://salesos.home.arpa", "http://salesos.example.com",
])
def test_a_public_url_no_crm_can_call_gets_the_warning(url):
    """Salesforce and HubSpot call from the internet, over https: a private, link-local or intranet-only host is as
    unreachable for them as loopback."""
    problem = unreachable(url)
    assert problem is not None and "which Salesforce and HubSpot cannot call" in problem


@pytest.mark.parametrize("url", ["https://salesos.example.com", "https://203.0.113.7.nip.io",
                                 "https://8.8.8.8:8443", "https://[2001:4860:4860::8888]", "https://salesos.acme.io/x/"])
def test_a_public_https_url_gets_no_warning(url):
    assert unreachable(url) is None
