"""Error messages quote at most ~100 characters of any input, at a cost that does not grow with it."""

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from agents.models import CompanyRecord, PersonRecord
from agents.validation import MAX_PROBLEMS, MESSAGE_LIMIT, QUOTE_LIMIT, clip, describe, one_line, quote, visible


def test_clip_keeps_short_text_and_cuts_long_text_with_a_mark():
    assert clip("abc") == "abc"
    assert clip("x" * 500) == "x" * (QUOTE_LIMIT - 3) + "..."


def test_clip_shows_control_and_format_characters_escaped_so_a_message_hides_nothing_and_stays_one_line():
    assert clip("a\x1b[2Jb\nc\u202ed\u200be") == "a\\x1b[2Jb\\nc\\u202ed\\u200be"
    long = clip("\u202e" * 500)  # escaped, then cut to the limit
    assert len(long) == QUOTE_LIMIT and long.startswith("\\u202e\\u202e") and long.endswith("...")


def test_visible_strips_control_and_format_characters_but_keeps_tabs_line_breaks_and_letters():
    assert visible("Q4\x00 \u202epush\u200b\ufeff\x1b[2J\x85\ta\r\nb") == "Q4 push[2J\ta\r\nb"
    assert visible("Café 東京 ß") == "Café 東京 ß"


def test_one_line_strips_control_and_format_characters_and_makes_each_run_of_line_breaks_one_space():
    assert one_line("Jane\x00 \u202eRoe\u200b\ufeff\x1b[2J") == "Jane Roe[2J"
    assert one_line("Acme\r\nCorp\tLtd\x85Inc\u2028Co") == "Acme Corp Ltd Inc Co"
    assert one_line("Acme\ud800 Corp") == visible("Acme\ud800 Corp") == "Acme Corp"  # a lone surrogate: no text
    assert one_line("Café 東京 ß") == "Café 東京 ß"


def test_every_text_of_a_provider_record_is_one_visible_line_whatever_the_provider_sent():
    person = PersonRecord.model_validate({"name": "Jane\nRoe\u202e", "title": "\x1b[31mCEO",
                                          "company_domain": "acme.io", "email": "jane@acme.io\u200b"})
    company = CompanyRecord(name="Acme\x07 Corp", domain="acme.io", tech_stack=["Sales\u2066force"])
    assert (person.name, person.title, person.email) == ("Jane Roe", "[31mCEO", "jane@acme.io")
    assert (company.name, company.tech_stack) == ("Acme Corp", ["Salesforce"])


def test_quote_is_repr_for_small_values():
    assert quote("jane") == "'jane'" and quote(3) == "3" and quote([1, "a"]) == "[1, 'a']"


def test_quote_of_a_huge_nested_value_is_short():
    level = ["lol"] * 9
    for _ in range(8):
        level = [level] * 9  # 9**9 strings if walked: quote must not walk them
    assert len(quote(level)) <= QUOTE_LIMIT


def test_quote_of_an_integer_python_cannot_print_is_a_description():
    assert quote(10 ** 10_000) == "<an integer of about 10000 digits>"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int = 0


def errors_of(data: dict) -> ValidationError:
    try:
        Strict.model_validate(data)
    except ValidationError as exc:
        return exc
    raise AssertionError("valid")


def test_describe_clips_field_paths_and_values():
    [line] = describe(errors_of({"k" * 500: "v" * 500}))
    assert len(line) < 2 * QUOTE_LIMIT + 40 and "unknown field" in line


def test_describe_shows_an_unknown_key_with_its_hidden_characters_escaped():
    [line] = describe(errors_of({"admin\u202e\x1b[2J\nlevel": 1}))
    assert line == "admin\\u202e\\x1b[2J\\nlevel: unknown field (value 1)"


def test_describe_lists_a_bounded_number_of_problems():
    lines = describe(errors_of({f"extra{n}": n for n in range(100)}))
    assert len(lines) == MAX_PROBLEMS + 1 and lines[-1] == "... and 80 more problems"


class Careless(BaseModel):
    """A validator that puts its whole input in its message, as float() does: describe must still clip it."""

    amount: float = 0

    @field_validator("amount", mode="before")
    @classmethod
    def _number(cls, value: object) -> float:
        return float(value)


def test_describe_clips_a_message_that_embeds_the_input():
    try:
        Careless.model_validate({"amount": "1.5" * 1000})
    except ValidationError as exc:
        [line] = describe(exc)
    assert line.startswith("amount: could not convert string to float: '1.51.5")
    assert "1.5" * 34 not in line and len(line) <= len("amount: ") + MESSAGE_LIMIT


def test_describe_bounds_a_message_that_embeds_the_input_transformed():
    try:
        Careless.model_validate({"amount": "1.5" * 1000 + "\x00"})  # float() quotes it escaped: not found as given
    except ValidationError as exc:
        [line] = describe(exc)
    message, _, got = line.partition(" (got ")
    assert len(message) <= len("amount: ") + MESSAGE_LIMIT and len(got) <= QUOTE_LIMIT + 1
