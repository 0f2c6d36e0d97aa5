"""A market's own templates: looked up before the bundled ones, checked at load, run in a bounded sandbox."""

import datetime as dt
from pathlib import Path

import pytest

from connector.channels.email import EmailDraft, Sender, render, render_task_copy
from connector.channels.templating import TemplateProblem
from connector.markets import MarketError, load_market, parse_market

SENDER = Sender(name="Dana Reyes", email="dana@acme.io", postal_address="Acme Ltd., 2 High St, Leeds")
SENT = dt.datetime(2026, 11, 2, 14, 0, tzinfo=dt.UTC)
MARKET = "name: UK SaaS\nindustry: B2B SaaS\ncompany_size: 10-500\n"
OWN = "Subject: Hello from Leeds, {{ first_name }}\nHi {{ first_name }}, we sell to {{ company }}.\n"


def draft(message_type="problem_aware", **extra):
    return EmailDraft(**({"key": "k", "to_name": "Jane Doe", "to_email": "jane@x.io", "title": "CRO",
                          "company_name": "Initech", "message_type": message_type, "hooks": [],
                          "unsubscribe_url": "https://s.example/u/t"} | extra))


def market_file(tmp_path: Path, templates: dict[str, str], line: str = "templates: copy\n") -> Path:
    (tmp_path / "copy").mkdir()
    for name, text in templates.items():
        (tmp_path / "copy" / name).write_text(text, "utf-8")
    path = tmp_path / "market.yaml"
    path.write_text(MARKET + line, "utf-8")
    return path


def test_a_markets_template_directory_is_read_relative_to_its_file_and_wins_over_the_bundled_one(tmp_path):
    market = load_market(market_file(tmp_path, {"problem_aware.txt.j2": OWN}))
    rendered = render(draft(), SENDER, SENT, market.templates)
    assert rendered.subject == "Hello from Leeds, Jane"
    assert rendered.body.startswith("Hi Jane, we sell to Initech.\n\n-- \nDana Reyes\n")


def test_a_type_the_market_does_not_override_uses_the_bundled_template(tmp_path):
    market = load_market(market_file(tmp_path, {"problem_aware.txt.j2": OWN}))
    assert render(draft("win_back"), SENDER, SENT, market.templates).subject == "Closing the loop, Jane"


def test_a_market_can_rewrite_the_linkedin_note(tmp_path):
    market = load_market(market_file(tmp_path, {"linkedin_connection.txt.j2": "Hi {{ first_name }}, from Leeds."}))
    assert render_task_copy("linkedin_connection", draft(), templates=market.templates) == "Hi Jane, from Leeds."


def test_templates_given_inline_work_from_any_door():
    market = parse_market({"industry": "SaaS", "company_size": "10-500", "templates": {"nurture": OWN}})
    assert render(draft("nurture"), SENDER, SENT, market.templates).subject == "Hello from Leeds, Jane"


def test_a_template_that_signs_with_the_senders_name_is_signed_once():
    templates = {"problem_aware": "Subject: Hi\nHello.\n\nDana Reyes\n"}
    body = render(draft(), SENDER, SENT, templates).body
    assert body.count("Dana Reyes") == 1 and body.startswith("Hello.\n\n-- \nDana Reyes")


def test_a_missing_template_directory_is_an_error_naming_it(tmp_path):
    path = tmp_path / "market.yaml"
    path.write_text(MARKET + "templates: nowhere\n", "utf-8")
    with pytest.raises(MarketError, match=r"templates: template .*nowhere: no such directory"):
        load_market(path)


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    broken = "Subject: Hi\nHello,\n{{ company | }}\nBye\n"
    with pytest.raises(MarketError, match=r"template problem_aware\.txt\.j2 line 3: expected token 'name'"):
        load_market(market_file(tmp_path, {"problem_aware.txt.j2": broken}))


def test_a_misspelt_variable_is_caught_at_load_with_its_line(tmp_path):
    with pytest.raises(MarketError, match=r"template value_add\.txt\.j2 line 3: 'compnay' is undefined"):
        load_market(market_file(tmp_path, {"value_add.txt.j2": "Subject: Hi\nHello,\n{{ compnay }}\n"}))


def test_an_unguarded_hook_fails_at_load_for_a_contact_without_hooks():
    with pytest.raises(MarketError, match=r"template scarcity\.txt\.j2 line 2"):
        parse_market({"industry": "SaaS", "company_size": "10-500",
                      "templates": {"scarcity": "Subject: Hi\nI noticed {{ hooks[0] }}.\n"}})


def test_an_email_template_without_a_subject_line_is_refused():
    with pytest.raises(MarketError, match=r"template nurture\.txt\.j2 line 1: .*'Subject: \.\.\.'"):
        parse_market({"industry": "SaaS", "company_size": "10-500", "templates": {"nurture": "Hello\n"}})


def test_a_file_not_named_for_a_message_type_is_refused(tmp_path):
    with pytest.raises(MarketError, match=r"problem-aware\.txt\.j2: not a template name"):
        load_market(market_file(tmp_path, {"problem-aware.txt.j2": OWN}))


def test_an_unknown_message_type_given_inline_is_refused():
    with pytest.raises(MarketError, match=r"templates: .*'cold_open': not a message type"):
        parse_market({"industry": "SaaS", "company_size": "10-500", "templates": {"cold_open": OWN}})


def test_a_directory_name_from_a_request_or_crm_record_is_refused():
    with pytest.raises(MarketError, match=r"a directory name is read only from a market file"):
        parse_market({"industry": "SaaS", "company_size": "10-500", "templates": "/etc"})


def test_a_template_longer_than_a_page_is_refused():
    with pytest.raises(MarketError, match=r"8,000"):
        parse_market({"industry": "SaaS", "company_size": "10-500", "templates": {"nurture": "x" * 8_001}})


# --- the sandbox: an admin's template cannot reach Python or run away ---------------------------------------


@pytest.mark.parametrize(("source", "refusal"), [
    ("{{ draft.__class__.__mro__ }}", "unsafe"),
    ("{{ draft.model_dump() }}", "not safely callable|unsafe"),
    ("{{ company.ljust(1000000000) }}", "not safely callable|unsafe"),
    ("{{ 'x' * 1000000000 }}", "10,000 characters"),
    ("{{ 2 ** 100000000 }}", "exponents up to 100"),
    ("{{ '%999999999d' % 1 }}", "'%' formatting"),
    ("{% for i in range(1000000000) %}{% endfor %}", "range"),
    ("{{ range(100)|join(range(100)|join(range(100)|join(company))) }}", "10,000 characters"),
    ("{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}", "'macros' is not available"),
    ("{% set s = company %}{{ s }}", "'set' is not available"),
    ("{% with s = company ~ company %}{{ s }}{% endwith %}", "'with' is not available"),
    ("{% block a %}{{ self.a() }}{{ self.a() }}{% endblock %}", "'blocks' is not available"),
    ("{% for x in hooks recursive %}{{ loop(hooks) }}{% endfor %}", "recursive loops"),
    ("{% for a in range(9) %}{% for b in range(9) %}{% for c in range(9) %}{% endfor %}{% endfor %}{% endfor %}",
     "nest at most 2"),
    ("{% include 'problem_aware.txt.j2' %}", "'include' is not available"),
    ("{{ lipsum(1000000) }}", "undefined"),
    ("{{ namespace }}", "undefined"),
])
def test_the_sandbox_refuses(source, refusal):
    with pytest.raises(TemplateProblem, match=refusal):
        render(draft("nurture"), SENDER, SENT, {"nurture": "Subject: Hi\n" + source})


def test_a_market_template_that_fails_at_send_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match=r"template nurture\.txt\.j2"):
        render(draft("nurture"), SENDER, SENT, {"nurture": "Subject: Hi\n{{ draft.hooks[5] }}"})
