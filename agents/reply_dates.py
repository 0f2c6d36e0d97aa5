"""Dates people write in replies, in English, German, French, Spanish, Dutch, Portuguese and Swedish.

Two questions: when is an absent person back ("back on 14 January", "bis zum 14.01.", "de retour le 14
janvier", "until Monday"), and when may a prospect who said "not now" be contacted again ("try me in Q3",
"nächstes Jahr"). Text is compared without case or accents ("février" is "fevrier"). A date without a year
is the next such date on or after the day the reply arrived; a weekday is the next such day after it.
Numeric dates are read day first (14.01., 14/01/2026), as every language here but American English writes
them; 01/14 is read month first only because 14 cannot be a month.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate([
    "january jan januar janner janvier janv enero ene januari janeiro",
    "february feb februar fevrier fevr fev febrero februari fevereiro",
    "march mar marz maerz mrz mars marzo maart mrt marco",
    "april apr avril avr abril",
    "may mai mayo mei maio maj",
    "june jun juni juin junio junho",
    "july jul juli juillet juil julio julho",
    "august aug aout agosto ago augustus augusti",
    "september sep sept septembre septiembre setiembre setembro",
    "october oct oktober okt octobre octubre outubro",
    "november nov novembre noviembre novembro",
    "december dec dezember dez decembre diciembre dic dezembro",
], start=1):
    for _name in _names.split():
        _MONTHS[_name] = _number

_WEEKDAYS: dict[str, int] = {}
for _number, _names in enumerate([
    "monday montag lundi lunes maandag segunda mandag",
    "tuesday dienstag mardi martes dinsdag terca tisdag",
    "wednesday mittwoch mercredi miercoles woensdag quarta onsdag",
    "thursday donnerstag jeudi jueves donderdag quinta torsdag",
    "friday freitag vendredi viernes vrijdag sexta fredag",
    "saturday samstag samedi sabado zaterdag lordag",
    "sunday sonntag dimanche domingo zondag sondag",
]):
    for _name in _names.split():
        _WEEKDAYS[_name] = _number

_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?:,?\s*(?:de\s+)?(?P<year>\d{4}))?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th|er|e|º|\.)?"
# "14 January", "14. Januar 2026", "14 de enero de 2026", "le 14 janvier", "14th of January"
_DAY_MONTH = re.compile(r"\b" + _DAY + r"\s*(?:of\s+|de\s+)?" + _MONTH + r"(?:\s+de)?" + _YEAR + r"\b")
# "January 14", "Jan 14th, 2026"
_MONTH_DAY = re.compile(r"\b" + _MONTH + r"\s+" + _DAY + _YEAR + r"\b")
# "14.01.", "14.01.2026", "14/01/26", "1/14"
_NUMERIC = re.compile(
    r"(?<![\d.:/-])(?P<a>[0-3]?\d)[./](?P<b>[01]?\d)(?:[./](?P<year>\d{4}|\d{2})\b|\.|\b)(?![.:/]?\d)"
)
_ISO = re.compile(r"\b(?P<year>20\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b")
# Words that put a weekday or a relative day on the way back: "until", "back", "bis", "retour", "hasta", ...
_BACK_WORDS = (
    r"until|till|til|through|back|return|returning|bis|zur[uü]ck|ab|wieder|jusqu|retour|hasta|regreso|regresar[ée]"
    r"|vuelta|tot|terug|weer|ate|volto|voltarei|retorno|tillbaka|ater|from|vom|des|desde|vanaf|a partir"
)
_WEEKDAY_AFTER_BACK = re.compile(
    r"\b(?:" + _BACK_WORDS + r")\b[^.\n]{0,25}?\b(?P<weekday>" + "|".join(_WEEKDAYS) + r")"
)
_TOMORROW = re.compile(r"\b(?:" + _BACK_WORDS + r")\b[^.\n]{0,15}?\b(?:tomorrow|morgen|demain|manana|amanha|imorgon)\b")


def fold(text: str) -> str:
    """Lower case without accents: the form every pattern here is written for."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char)).replace("ß", "ss")


def _resolve(day: int, month: int, year: int | None, after: dt.date) -> dt.date | None:
    """The date; a year-less one is the next such date on or after `after`."""
    if year is not None and year < 100:
        year += 2000
    try:
        if year is not None:
            return dt.date(year, month, day)
        candidate = dt.date(after.year, month, day)
        return candidate if candidate >= after else dt.date(after.year + 1, month, day)
    except ValueError:
        return None


def dates_in(text: str, *, after: dt.date) -> list[dt.date]:
    """Every calendar date the text names, in the order written (weekdays and relative days not included)."""
    folded = fold(text)
    found: list[tuple[int, dt.date]] = []
    taken: list[range] = []

    def add(match: re.Match[str], day: int, month: int, year: str | None) -> None:
        if any(match.start() in span for span in taken):
            return
        resolved = _resolve(day, month, int(year) if year else None, after)
        if resolved is not None:
            found.append((match.start(), resolved))
            taken.append(range(match.start(), match.end()))

    for match in _ISO.finditer(folded):
        add(match, int(match["day"]), int(match["month"]), match["year"])
    for pattern in (_DAY_MONTH, _MONTH_DAY):
        for match in pattern.finditer(folded):
            add(match, int(match["day"]), _MONTHS[match["month"]], match["year"])
    for match in _NUMERIC.finditer(folded):
        a, b = int(match["a"]), int(match["b"])
        day, month = (b, a) if b > 12 and a <= 12 else (a, b)
        add(match, day, month, match["year"])
    return [date for _, date in sorted(found, key=lambda item: item[0])]


def return_date(text: str, *, received: dt.date) -> dt.date | None:
    """When an absent person is back: the latest date the note names (a range's end), else a weekday or
    "tomorrow" that follows a word like "until" or "back"; None when the note names none."""
    dates = [date for date in dates_in(text, after=received) if date >= received]
    if dates:
        return max(dates)
    folded = fold(text)
    weekdays = list(_WEEKDAY_AFTER_BACK.finditer(folded))
    if weekdays:
        weekday = weekdays[-1]  # "away from Monday until Wednesday": back on the last one
        ahead = (_WEEKDAYS[weekday["weekday"]] - received.weekday() - 1) % 7 + 1
        return received + dt.timedelta(days=ahead)
    if _TOMORROW.search(folded):
        return received + dt.timedelta(days=1)
    return None


_QUARTER = re.compile(r"\b(?:q(?P<q>[1-4])|(?P<nth>first|second|third|fourth|1st|2nd|3rd|4th) quarter)\b")
_NEXT_QUARTER = re.compile(r"\bnext quarter|nachste[mn]? quartal|prochain trimestre|proximo trimestre|volgend kwartaal"
                           r"|nasta kvartal\b")
_NEXT_YEAR = re.compile(r"\bnext year|nachste[sn]? jahr|l'annee prochaine|annee prochaine|el ano que viene"
                        r"|proximo ano|volgend jaar|nasta ar\b")
_IN_MONTHS = re.compile(r"\b(?:in|after|in about|in a|in another)\s+(?P<n>\d{1,2}|a few|a couple of|few|six|three|two)"
                        r"\s+months?\b")
_AFTER_SUMMER = re.compile(r"\bafter the summer|nach dem sommer|apres l'ete|despues del verano|na de zomer"
                           r"|depois do verao|efter sommaren\b")
_IN_MONTH = re.compile(r"\b(?:in|after|from|until|around|im|ab|en|a partir de|in de|em|i|efter)\s+"
                       r"(?:early\s+|mid[- ]?)?"
                       + _MONTH + r"(?!\s*\d)")
_NUMBER_WORDS = {"a few": 3, "few": 3, "a couple of": 2, "two": 2, "three": 3, "six": 6}
_ORDINAL_QUARTERS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}


def _first_of_month(month: int, after: dt.date) -> dt.date:
    candidate = dt.date(after.year, month, 1)
    return candidate if candidate > after else dt.date(after.year + 1, month, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    return dt.date(day.year + month_index // 12, month_index % 12 + 1, 1)


def recontact_date(text: str, *, received: dt.date) -> dt.date | None:
    """When a prospect who said "not now" asked to be contacted again, if they said: a quarter ("Q3": its
    first day), "next quarter", "next year", "in 3 months", "after the summer", a month ("in September")
    or a date; None when they named no time."""
    folded = fold(text)
    quarter = _QUARTER.search(folded)
    if quarter:
        number = int(quarter["q"]) if quarter["q"] else _ORDINAL_QUARTERS[quarter["nth"]]
        return _first_of_month(3 * number - 2, received - dt.timedelta(days=1))
    if _NEXT_QUARTER.search(folded):
        return _add_months(received, 3 - (received.month - 1) % 3)
    if _NEXT_YEAR.search(folded):
        return dt.date(received.year + 1, 1, 1)
    months = _IN_MONTHS.search(folded)
    if months:
        count = _NUMBER_WORDS.get(months["n"]) or int(months["n"])
        return received + dt.timedelta(days=30 * count)
    if _AFTER_SUMMER.search(folded):
        return _first_of_month(9, received)
    in_month = _IN_MONTH.search(folded)
    if in_month:
        return _first_of_month(_MONTHS[in_month["month"]], received)
    dates = [date for date in dates_in(text, after=received) if date > received]
    return min(dates) if dates else None
