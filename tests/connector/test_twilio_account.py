"""A tenant's Twilio account and reps' phones in the vault, and the `twilio` CLI that sets them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from connector.channels.twilio import TwilioClient
from connector.cli import app
from connector.store.engine import open_store
from connector.twilio_account import (TwilioAccountError, get_account, parse_account, rep_phone, set_account,
                                      set_rep_phone, tenant_for_webhook, twilio_for, webhook_token)
from connector.vault import Vault, new_key

SID = "AC" + "a" * 32
TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"


@pytest.fixture
def vault(tmp_path):
    return Vault(tmp_path / "salesos.sqlite3", new_key())


def account(**changes):
    return parse_account(**{"account_sid": SID, "auth_token": TOKEN, "caller_id": "+1 415 555 0100", **changes})


def test_a_tenant_without_an_account_gets_no_client(vault):
    assert twilio_for("local", vault) is None
    assert twilio_for("local", None) is None


def test_a_stored_account_gives_its_client(vault):
    set_account(vault, "local", account())
    client = twilio_for("local", vault)
    assert isinstance(client, TwilioClient) and client.account_sid == SID
    assert get_account(vault, "local").caller_id == "+14155550100"


def test_the_webhook_token_finds_its_tenant_and_survives_a_new_set(vault):
    token = set_account(vault, "local", account())
    assert set_account(vault, "local", account(caller_id="+14155550101")) == token
    assert tenant_for_webhook(vault.store, token) == "local"
    assert tenant_for_webhook(vault.store, "guessed") is None


def test_an_account_needs_a_sender(vault):
    with pytest.raises(TwilioAccountError, match="caller_id or messaging_service_sid"):
        account(caller_id=None)


def test_a_malformed_caller_id_is_refused_naming_the_field():
    with pytest.raises(TwilioAccountError, match="^caller_id: 'x' is not a phone number"):
        account(caller_id="x")


def test_a_rep_phone_is_stored_per_owner_in_e164(vault):
    set_rep_phone(vault, "local", "owner-7", "+44 20 7946 0958")
    assert rep_phone(vault, "local", "owner-7") == "+442079460958"
    assert rep_phone(vault, "local", "owner-8") is None


def test_the_auth_token_is_never_stored_in_plain_text(vault, tmp_path):
    set_account(vault, "local", account())
    assert TOKEN.encode() not in (tmp_path / "salesos.sqlite3").read_bytes()


# the CLI, in process

@pytest.fixture
def env(tmp_path):
    return {"SALESOS_HOME": str(tmp_path), "SALESOS_VAULT_KEYS": new_key(),
            "SALESOS_PUBLIC_URL": "https://salesos.example.com"}


def run(env, *args, stdin=""):
    return CliRunner().invoke(app, ["twilio", *args], input=stdin, env=env)


def test_set_reads_the_token_from_stdin_and_never_prints_it(env):
    result = run(env, "set", "local", "--account-sid", SID, "--caller-id", "+14155550100", "-", stdin=TOKEN + "\n")
    assert result.exit_code == 0, result.output
    assert "https://salesos.example.com/webhooks/twilio/" in result.output and TOKEN not in result.output
    shown = run(env, "show", "local")
    assert json.loads(shown.output)["auth_token"] == "set" and TOKEN not in shown.output


def test_set_refuses_a_token_given_as_an_argument_without_echoing_it(env):
    result = run(env, "set", "local", "--account-sid", SID, "--caller-id", "+14155550100", TOKEN)
    assert result.exit_code == 2 and TOKEN not in result.output


def test_remove_forgets_the_account_and_its_callback_url(env, tmp_path):
    run(env, "set", "local", "--account-sid", SID, "--caller-id", "+14155550100", "-", stdin=TOKEN)
    vault = Vault(tmp_path / "salesos.sqlite3", env["SALESOS_VAULT_KEYS"])
    token = webhook_token(vault, "local")
    assert run(env, "remove", "local").exit_code == 0
    assert twilio_for("local", vault) is None and tenant_for_webhook(open_store(tmp_path / "salesos.sqlite3"),
                                                                     token) is None


def test_rep_phone_refuses_a_number_that_is_none(env):
    result = run(env, "rep-phone", "local", "owner-7", "not a phone")
    assert result.exit_code == 2 and "phone:" in result.output


def test_consent_records_a_contacts_agreement_to_texts_in_e164(env, tmp_path):
    from connector.sms_consent import SmsConsent

    result = run(env, "consent", "local", "+1 (415) 555-0123", "--source", "rep")
    assert result.exit_code == 0, result.output
    assert SmsConsent(f"sqlite:///{tmp_path / 'salesos.sqlite3'}").has_consent("local", "+14155550123")


def test_consent_refuses_a_number_it_cannot_read_naming_the_field(env):
    result = run(env, "consent", "local", "call me maybe")
    assert result.exit_code == 2 and result.output.startswith("phone:")
