"""What a reply to an outreach email is: a bounce, an auto-reply, an absence note, or a person's answer.

Machines announce themselves in headers, so headers are read first: a delivery status notification
(RFC 3464, `multipart/report; report-type=delivery-status`) is a bounce, hard when delivery failed for good
(status 5.x.x), soft when it was delayed or failed for now (4.x.x); an RFC 3834 `Auto-Submitted` other than
`no`, `X-Autoreply`/`X-Autorespond`, `Precedence: auto_reply|bulk|junk` or an "Automatic reply" subject is an
auto-reply, an out-of-office note when its text speaks of absence (with the return date it names). Only then
is a person's text read, without the quoted history (agents.reply_text), by ordered rules: an unsubscribe
request beats everything ("not interested, remove me" is an unsubscribe), a named colleague makes a referral,
a stated reason makes an objection (budget, timing, an existing solution, not the right person), then a
refusal, then interest; what no rule recognises is "unclear", for a person to read. Every rule that fired is
named in `reasons`, so a rep can see why.

Rules, not a model: no labelled corpus of sales replies exists to train one (providers.md section 6), the
rules can be read and fixed, and their precision and recall are measured on a held-out labelled set
(bench/replies.py, tests/fixtures/replies/).
"""

from __future__ import annotations

import datetime as dt
import re
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.reply_dates import fold, recontact_date, return_date
from agents.reply_text import body_text, parse_message, part_text

ReplyKind = Literal[
    "bounce_hard", "bounce_soft", "auto_reply", "out_of_office", "interested", "not_interested", "objection",
    "referral", "unsubscribe", "unclear",
]
ObjectionKind = Literal["budget", "timing", "has_solution", "not_right_person"]
EXCERPT_CHARS = 1000  # of the reply's own text, for the owner's CRM task


class Referral(BaseModel):
    """The person a reply points to: a name, an address, or both (never neither)."""

    model_config = ConfigDict(frozen=True)

    name: str | None = None
    email: str | None = None


class ReplyClassification(BaseModel):
    """What a reply is, the facts its action needs, and the rules that decided it."""

    model_config = ConfigDict(frozen=True)

    kind: ReplyKind
    reasons: list[str] = Field(default_factory=list)
    from_address: str | None = None
    in_reply_to: str | None = None  # Message-ID of the step this answers, to find it in the send ledger
    references: list[str] = Field(default_factory=list)
    return_date: dt.date | None = None  # out_of_office: the day the person is back, if the note says
    recontact_after: dt.date | None = None  # objection (timing): when they said to try again
    objection: ObjectionKind | None = None
    referral: Referral | None = None
    hostile: bool = False  # not_interested with a spam complaint or abuse: the action suppresses too
    bounced_recipient: str | None = None  # bounces: the DSN's Final-Recipient (or Original-Recipient)
    status: str | None = None  # bounces: the DSN's status code, "5.1.1"
    excerpt: str = ""  # the reply's own words, for the owner


def _rules(*patterns: str) -> re.Pattern[str]:
    """One pattern matching any of the phrases, each a regex over folded text (lower case, no accents)."""
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))


# ---- machines -----------------------------------------------------------------------------------------------
_BOUNCE_SENDER = re.compile(
    r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)@|mail delivery (?:subsystem|system)",
                            re.IGNORECASE)
_BOUNCE_SUBJECT = _rules(
    r"undeliverable", r"undelivered mail", r"delivery status notification", r"mail delivery failed",
    r"returned mail", r"failure notice", r"delivery (?:has )?failed", r"unzustellbar", r"non remis",
    r"no se puede entregar", r"onbestelbaar", r"nao entregue", r"kunde inte levereras", r"delivery delayed",
)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_DELAYED = _rules(
    r"\bdelay", r"will (?:retry|keep trying|continue)", r"still trying", r"temporar", r"not yet been delivered",
)
_AUTO_SUBJECT = _rules(
    r"out of (?:the )?office", r"\booo\b", r"automatic reply", r"auto(?:matic)?[- ]?(?:reply|response)", r"autoreply",
    r"abwesenheit", r"automatische antwort", r"reponse automatique", r"\babsence\b", r"\babsent\b",
    r"respuesta automatica", r"fuera de la oficina", r"automatisch antwoord", r"afwezig", r"resposta automatica",
    r"ausente", r"autosvar", r"franvaro", r"\bvacation\b", r"\burlaub\b", r"\bcong[eé]s?\b",
)
_ABSENCE = _rules(
    r"out of (?:the )?office", r"\booo\b", r"away from (?:the office|my desk|my e-?mail)", r"\bi am away\b",
    r"\bi'?m away\b", r"\bon (?:annual |parental |maternity |paternity |sick |medical )?leave\b", r"\bon vacation\b",
    r"\bon holidays?\b", r"\bholiday\b", r"\btravell?ing\b", r"limited (?:access to )?(?:my )?e-?mail",
    r"\babwesen(?:d|heit)", r"nicht im (?:buro|hause|haus)", r"\burlaub\b", r"ausser haus", r"nicht erreichbar",
    r"\belternzeit\b", r"\bdienstreise\b", r"\babsente?\b", r"\ben conges?\b", r"\ben vacances\b", r"hors du bureau",
    r"fuera de la oficina", r"de vacaciones", r"\bausente\b", r"de viaje", r"\bafwezig\b", r"met vakantie",
    r"niet op kantoor", r"\bverlof\b", r"de ferias", r"fora do escritorio", r"de licenca", r"\bledig\b",
    r"\bsemester\b", r"tjanstledig", r"franvarande", r"\bfranvaro\b", r"foraldraledig", r"\bpa resa\b",
)
_LEFT_COMPANY = _rules(
    r"no longer (?:with|at|works?|working|employed)", r"(?:has|have) left (?:the company|\w+)",
    r"nicht mehr (?:bei|fur|im unternehmen|tatig)", r"(?:a|ha) quitte", r"ne fait plus partie",
    r"ya no (?:trabaja|forma parte|esta)", r"niet meer (?:werkzaam|in dienst|bij)", r"nao (?:trabalha|faz parte) mais",
    r"slutat pa", r"arbetar inte langre",
)


# ---- people -------------------------------------------------------------------------------------------------
_UNSUBSCRIBE = _rules(
    r"\bunsubscrib", r"\bremove (?:me|us|my (?:e-?mail|address|name|details|contact))\b",
    r"\b(?:take|get|delete|remove|drop) (?:me|us|my (?:e-?mail|address|name|details|data)) (?:off|from|out of)\b",
    r"\bopt(?:ing)?[- ]?(?:me |us )?out\b", r"\bstop (?:e-?mailing|emailing|contacting|sending|messaging|writing)\b",
    r"\b(?:do not|don'?t|never|please don'?t) (?:ever )?(?:e-?mail|contact|write to|message|send) (?:me|us)\b",
    r"\bno (?:more|further) (?:e-?mails?|messages|contact|outreach)\b", r"^\W*stop\W*$",
    r"\bdelete (?:my|all my|our) (?:personal )?(?:data|details|information|e-?mail|address)",
    r"\bmailing list\b.{0,30}\b(?:off|remove)", r"\bnot to (?:e-?mail|contact) me\b",
    r"\babmelden\b", r"\baustragen\b", r"\bkeine (?:weiteren |e-?mails?|nachrichten|werbung|kontaktaufnahme)",
    r"nicht mehr (?:kontaktieren|anschreiben|schreiben|zu kontaktieren|anzuschreiben)",
    r"(?:kontaktieren|schreiben) sie mi(?:ch|r) (?:bitte )?(?:nicht mehr|nie wieder)",
    r"losch(?:en)? sie (?:meine|bitte meine)", r"aus (?:ihrem|dem|ihrer) (?:verteiler|liste|datenbank)",
    r"\bdesinscri", r"\bdesabonn", r"ne plus (?:me )?(?:contacter|recevoir|ecrire|m'ecrire|solliciter)",
    r"\bretirez[- ]moi", r"supprime[rz] (?:mes|mon)", r"me retirer de", r"cessez de m",
    r"\bdar(?:me)? de baja\b", r"\bdeme de baja\b",
    r"no (?:me )?(?:vuelva[ns]? a )?(?:escriba|contacte|envie|escribir|contactar)",
    r"(?:eliminar|borrar|borren|eliminen) mis datos", r"(?:sacarme|quitarme|sacadme|quitenme|saquenme) de",
    r"\bafmelden\b", r"\buitschrijven\b", r"geen (?:e-?mails?|berichten|mails) meer", r"verwijder (?:mij|me|mijn)",
    r"\bdescadastr", r"(?:remover|remova|tirar|retirar)(?:-me| me| o meu| meu)", r"nao (?:me )?(?:envie|contate|mande)",
    r"cancelar (?:a )?(?:minha )?inscricao", r"\bavregistrera", r"avsluta prenumeration", r"ta bort mig",
    r"sluta (?:skicka|maila|mejla|kontakta)", r"kontakta (?:mig|oss) inte",
)
_HOSTILE = _rules(
    r"\bspam(?:ming|mer|my)?\b", r"\bf+u+c+k", r"\bscam", r"\bharass", r"\breport(?:ed|ing)? (?:you|this)\b",
    r"how did you get (?:my|this) (?:e-?mail|address|number|contact)", r"leave (?:me|us) alone", r"\bpiss off\b",
    r"\bannoying\b", r"\bbelastigung\b", r"\bharcelement\b", r"\bacoso\b", r"woher haben sie meine",
)
_REFERRAL_CUE = _rules(
    r"\b(?:please |pls |kindly )?(?:contact|reach out to|email|e-mail|speak (?:to|with)|talk (?:to|with)|"
    r"get in touch with|connect with|try|ping|write to)\b",
    r"\b(?:better|right|best|correct|appropriate|relevant) (?:person|contact|people|colleague)\b",
    r"\bi'?ve (?:cc'?d|copied|looped in|forwarded|added|included)\b", r"\b(?:cc'?ing|copying|looping in|loop in)\b",
    r"\bforward(?:ed|ing)? (?:this|your (?:e-?mail|note|message))\b",
    r"\b(?:handles|owns|runs|leads) (?:this|that|our|these|all)\b",
    r"\bin charge of\b", r"\bresponsible for\b", r"\bpoint of contact\b", r"\btaken over\b", r"\bsucce(?:ssor|eded)\b",
    r"wenden sie sich (?:bitte )?an", r"\bzustandig\b", r"\bansprechpartner", r"\bkontaktieren sie\b",
    r"\bkolleg(?:in|en|e)?\b", r"\bweitergeleitet\b", r"\bin (?:cc|kopie)\b", r"\bcontacte[rz]?\b", r"\bs'adresser\b",
    r"\badressez-vous\b", r"la bonne personne", r"\bcollegue\b", r"\ben copie\b", r"\bs'occupe\b", r"\bresponsable\b",
    r"\bcontactar\b", r"\bcomuniquese\b", r"\bhable con\b", r"\bescriba a\b",
    r"la persona (?:indicada|adecuada|correcta)",
    r"\b(?:companer[oa]|colega)\b", r"\ben copia\b", r"\bse encarga\b", r"neem contact op", r"contact opnemen",
    r"de juiste persoon", r"\bcollega\b", r"\bverantwoordelijk\b", r"\bfal(?:e|ar) com\b", r"entr(?:e|ar) em contato",
    r"a pessoa (?:certa|correta|indicada)", r"\bresponsavel\b", r"\bkontakta\b", r"ta kontakt med", r"prata med",
    r"ratt person", r"\bkollega\b", r"\bansvar(?:ig|ar)\b", r"\bi kopia\b",
)
_NOT_RIGHT_PERSON = _rules(
    r"not the (?:right|correct|best|appropriate|relevant) (?:person|contact)", r"\bwrong (?:person|contact)\b",
    r"not (?:in )?my (?:area|department|remit|role|responsibility|job|call|decision|team)",
    r"\bnot (?:responsible|involved|the decision maker)\b", r"\bdon'?t (?:handle|deal with|own|make)\b",
    r"\bnot something i (?:handle|decide|own)\b", r"\bdifferent (?:team|department)\b",
    r"nicht (?:zustandig|der richtige|die richtige|verantwortlich)", r"falsche[rn]? ansprechpartner",
    r"pas (?:la bonne personne|responsable|mon domaine)", r"ne m'occupe pas", r"no soy (?:la persona|responsable)",
    r"no me encargo", r"no es mi area", r"niet de (?:juiste|goede) persoon", r"niet verantwoordelijk",
    r"nao sou (?:a pessoa|responsavel)", r"inte (?:ratt person|ansvarig)",
)
_TIMING = _rules(
    r"\bnot (?:right )?now\b", r"\bnot at (?:the|this) (?:moment|time|stage|point)\b", r"\bbad timing\b",
    r"\btiming (?:isn'?t|is not|is bad|is off)\b", r"\bmaybe later\b", r"\bnot (?:this|until next) (?:year|quarter)\b",
    r"\b(?:too busy|swamped|slammed|heads down|in the middle of)\b",
    r"\bnot a priority (?:right now|at the moment|this)",
    r"\b(?:reach out|check back|circle back|follow up|try (?:me|us|again)|get back|ping me|contact me|come back|"
    r"touch base|reconnect|revisit)\b",
    r"\b(?:zurzeit|derzeit|momentan|aktuell|im moment|gerade) (?:nicht|kein)", r"\bspater\b",
    r"melden sie sich (?:im|in|nach)",
    r"pas (?:pour le moment|maintenant|le bon moment|en ce moment)", r"\bplus tard\b", r"\brecontacte[rz]",
    r"\bahora no\b", r"no es (?:el )?(?:buen|mejor) momento", r"\bmas adelante\b", r"\bpor ahora no\b",
    r"en este momento no", r"\bniet nu\b", r"op dit moment niet", r"\blater (?:dit|in|terug)", r"\bagora nao\b",
    r"nao e o (?:momento|melhor momento)", r"\bmais tarde\b", r"no momento nao", r"\binte (?:nu|just nu)\b",
    r"\bsenare\b", r"passar inte just nu",
)
_DEFER_ONLY = _rules(  # the timing phrases above that defer only when a later time is named
    r"\b(?:reach out|check back|circle back|follow up|try (?:me|us|again)|get back|ping me|contact me|come back|"
    r"touch base|reconnect|revisit)\b",
)
_BUDGET = _rules(
    r"\bno budget\b",
    r"\bbudgets? (?:is|are|has been|have been|was) (?:frozen|cut|tight|allocated|spent|gone|locked|set)",
    r"\bout of budget\b", r"\bdon'?t have (?:the |a |any )?budget\b", r"\bnot in (?:the|our|this year'?s) budget\b",
    r"\bbudget (?:freeze|cuts?|constraints?)\b", r"\btoo expensive\b", r"\bcan'?t afford\b", r"\bcost[- ]cutting\b",
    r"\b(?:hiring|spending) freeze\b", r"\bno (?:money|funds|funding|spend)\b", r"\bkein(?:e|en)? budget\b",
    r"\bzu teuer\b", r"\bbudget (?:ist|ausgeschopft|gestrichen)", r"pas de budget", r"\btrop cher\b",
    r"sin presupuesto", r"no (?:hay|tenemos) presupuesto", r"demasiado caro", r"geen budget", r"\bte duur\b",
    r"sem orcamento", r"nao (?:ha|temos) orcamento", r"caro demais", r"ingen budget", r"\bfor dyrt\b",
)
_HAS_SOLUTION = _rules(
    r"\balready (?:use|using|have|work(?:ing)? with|signed|partner(?:ed)?|chose|chosen|invested|got|bought|run)\b",
    r"\bwe(?:'re| are)? (?:happy|satisfied|content) with (?:our|the|what)\b",
    r"\b(?:current|existing) (?:vendor|provider|solution|tool|partner|contract|platform|setup|supplier)\b",
    r"\bunder contract\b", r"\blocked in(?:to)?\b", r"\bbuilt (?:our own|it in[- ]house|in[- ]house|something)\b",
    r"\bin[- ]house (?:tool|solution|team|system)\b", r"\bjust (?:signed|renewed|bought|chose)\b",
    r"\b(?:bereits|schon) (?:eine?n?|im einsatz|mit)\b", r"\b(?:nutzen|haben|verwenden) (?:bereits|schon)\b",
    r"\bdeja (?:une?|equipes?|avec|un outil|un prestataire|sous contrat)\b",
    r"\b(?:utilisons|avons|travaillons) deja\b",
    r"\bya (?:tenemos|usamos|trabajamos|contamos|utilizamos)\b", r"\b(?:gebruiken|hebben|werken) al\b",
    r"\bja (?:temos|usamos|utilizamos|trabalhamos)\b", r"\b(?:har|anvander) redan\b", r"\bredan (?:en|ett)\b",
)
_NOT_INTERESTED = _rules(
    r"\bnot (?:really |at all |very )?interested\b", r"\bno interest\b", r"\bno,? thanks?\b", r"\bno,? thank you\b",
    r"\bnot for us\b", r"\bpass on (?:this|that)\b", r"\bwe(?:'ll| will) pass\b", r"\bi(?:'ll| will) pass\b",
    r"\b(?:not|isn'?t|is not) (?:a |really a )?(?:good )?(?:fit|priority|need|match)\b", r"\bno need\b",
    r"\bdon'?t need\b", r"\bnot looking\b",
    r"\bnot relevant\b", r"\bnot something we\b", r"\bplease (?:don'?t|do not) follow up\b", r"\bnot a chance\b",
    r"\bkein(?: weiteres)? interesse\b", r"\bkein bedarf\b", r"\bnicht interessiert\b", r"\bnein,? danke\b",
    r"\bpas interesse", r"\bpas besoin\b", r"\bnon,? merci\b", r"ne nous interesse pas", r"ne m'interesse pas",
    r"\bno (?:estamos|estoy) interesad", r"\bno (?:nos|me) interesa", r"\bno,? gracias\b", r"no necesitamos",
    r"\bgeen interesse\b", r"\bgeen behoefte\b", r"\bnee,? (?:bedankt|dank u)\b", r"\bniet geinteresseerd\b",
    r"\bnao (?:temos|tenho) interesse\b", r"\bnao (?:estamos|estou) interessad", r"\bnao,? obrigad",
    r"nao precisamos", r"\binte intresserad", r"\binget intresse\b", r"\bnej,? tack\b", r"\binget behov\b",
)
_MEETING = _rules(  # interest strong enough to outweigh a mentioned existing tool or budget question
    r"\b(?:let'?s|happy to|glad to|love to|open to|keen to|would like to|i'?d like to|can we|could we|shall we|"
    r"we should|want to|able to) (?:have a |set up a |schedule a |book a |do a |jump on a |hop on a )?"
    r"(?:chat|talk|connect|meet|speak|call|set up|schedule|book|hop on|jump on|find a time|learn more|see a demo|"
    r"take a look|explore|hear more)\b",
    r"\b(?:send|share) (?:me |us |over )?(?:some |more )?"
    r"(?:info|information|details|a deck|the deck|pricing|a proposal|"
    r"case stud|a calendar|your calendar|a link|times)\b",
    r"\b(?:works for me|sounds (?:good|great|interesting)|tell me more|show me)\b",
)
_INTERESTED = _rules(
    r"(?<!not )(?<!no longer )(?<!n't )\binterested\b", r"\binteresting\b", r"\bcalend(?:ar|ly)\b", r"\bdemo\b",
    r"\b(?:monday|tuesday|wednesday|thursday|friday|tomorrow|next week)\b.{0,30}\b(?:works|free|good|fine|ok)\b",
    r"\b(?:free|available) (?:on|at|next|this|tomorrow|monday|tuesday|wednesday|thursday|friday)\b",
    r"\bbook (?:a |some )?(?:time|call|slot|meeting)\b", r"\bgrab (?:a |some )?(?:time|coffee|call)\b",
    r"\bhow much\b", r"\bwhat (?:does|would|is) (?:it|this|the|your) (?:cost|pricing|price)", r"\bpricing\b",
    r"\bwhen (?:are|would) you (?:free|available)\b", r"\blearn more\b", r"\bsure\b",
    r"\bgerne?\b", r"\binteressant\b", r"\binteressiert\b", r"\btermin", r"\bklingt (?:gut|spannend|interessant)\b",
    r"\blassen sie uns\b", r"\bmehr (?:infos?|informationen|details)\b", r"\binteresse\b", r"\bvolontiers\b",
    r"\bavec plaisir\b", r"\brendez-vous\b", r"\bdisponible\b", r"ca m'interesse", r"en savoir plus", r"\bappel\b",
    r"\bme interesa", r"\binteresad[oa]s?\b", r"\bme encantaria\b", r"\bhablemos\b", r"\breunion\b", r"\bcon gusto\b",
    r"mas informacion", r"\bllamada\b", r"\bgraag\b", r"\bafspraak\b", r"\bklinkt (?:goed|interessant)\b",
    r"meer informatie", r"\bgeinteresseerd\b", r"\btenho interesse\b", r"\binteressad[oa]s?\b", r"\breuniao\b",
    r"\bcom prazer\b", r"mais informac", r"\bintresserad", r"\bintressant\b", r"\bgarna\b", r"\bmote\b",
    r"\blater bra\b", r"mer information", r"\bsamtal\b",
)

# Names: one to three capitalised words ("Jane Doe", "Frau Müller", "Jean-Luc Picard"); not a pronoun, role or day.
_NAME = re.compile(
    r"(?:(?:Mr|Mrs|Ms|Dr|Frau|Herrn?|Mme|M|Sr|Sra|Dhr|Mevr)\.?\s+)?[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’-]+"
    r"(?:\s+(?:van|von|de|der|den|da|del|di|la|le)){0,2}(?:\s+[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’-]+){0,2}"
)
_NOT_NAMES = set(
    "i we you he she they it our my your the this that please thanks thank hi hello dear best regards cheers "
    "sales marketing head vp cto ceo cfo coo cmo cro it hr team mail email e-mail ops operations finance director "
    "manager procurement purchasing engineering product revops company department office monday tuesday wednesday "
    "thursday friday saturday sunday january february march april may june july august september october november "
    "december q1 q2 q3 q4 sie ihr er mein meine unser unsere bitte vielen dank herr frau je nous vous il elle mon ma "
    "notre bonjour merci cordialement por favor gracias mi nuestro el la ella ik wij mijn onze hij zij ze bedankt eu "
    "nos meu minha nosso obrigado jag vi min var han hon tack hej och and or also kind colleague kollege kollegin "
    "collegue colega collega kollega companero companera".split()
)
_EMAIL = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")
_CLAUSE_END = re.compile(r"[.!?;\n]\s")


def classify(raw: bytes, *, received_at: dt.datetime) -> ReplyClassification:
    """Classify one inbound message (RFC 5322 bytes) that answers, or bounces, an outreach email."""
    message = parse_message(raw)
    received = received_at.date()
    facts = _header_facts(message)
    bounce = _bounce(message, facts["from_address"])
    if bounce is not None:
        return ReplyClassification(**facts, **bounce)
    text = body_text(message)
    subject = str(message.get("Subject", ""))
    facts["excerpt"] = text[:EXCERPT_CHARS]
    automatic = _auto_reply_signals(message, subject)
    if automatic:
        return ReplyClassification(**facts, **_automatic(text, subject, automatic, message, facts, received))
    return ReplyClassification(**facts, **_human(text, subject, message, facts, received))


def _header_facts(message: EmailMessage) -> dict:
    sender = parseaddr(str(message.get("From", "")))[1].strip().lower() or None
    references = re.findall(r"<[^<>\s]{1,250}>", str(message.get("References", "")))[:50]
    in_reply_to = re.search(r"<[^<>\s]{1,250}>", str(message.get("In-Reply-To", "")))
    return {"from_address": sender, "in_reply_to": in_reply_to.group(0) if in_reply_to else None,
            "references": references}


def _bounce(message: EmailMessage, sender: str | None) -> dict | None:
    """A DSN's verdict, or a bounce recognised from its sender and subject when it carries no DSN part."""
    if message.get_content_type() == "multipart/report" and \
            str(message.get_param("report-type", "")).lower() == "delivery-status":
        for part in message.walk():
            if part.get_content_type() == "message/delivery-status":
                verdict = _delivery_status(part)
                if verdict is not None:
                    return verdict
        return None  # a DSN that reports only deliveries: handled as an auto-reply
    subject = fold(str(message.get("Subject", "")))
    from_header = str(message.get("From", ""))
    if not (_BOUNCE_SENDER.search(from_header) and (_BOUNCE_SUBJECT.search(subject) or not subject)) and \
            not (_BOUNCE_SUBJECT.search(subject) and sender and _BOUNCE_SENDER.search(sender + "@")):
        return None
    text = "\n".join(part_text(part) for part in message.walk() if part.get_content_maintype() == "text")[:20_000]
    status = _STATUS.search(text)
    code = status.group(0) if status else None
    soft = (code or "").startswith("4") or bool(_DELAYED.search(fold(subject + " " + text[:2000])))
    recipients = [address for address in _EMAIL.findall(text) if address.lower() != sender]
    return {"kind": "bounce_soft" if soft else "bounce_hard", "status": code,
            "bounced_recipient": recipients[0].lower() if recipients else None,
            "reasons": [f"bounce: sender {from_header[:60]!r} and subject, no DSN part",
                        f"status {code or 'unknown'}: {'temporary' if soft else 'permanent'}"]}


def _delivery_status(part: Message) -> dict | None:
    """The first failed or delayed recipient of a message/delivery-status part (RFC 3464 section 2.3)."""
    blocks = part.get_payload()
    if not isinstance(blocks, list):
        return None
    for block in blocks[1:] or blocks:  # the first block is per-message fields
        action = str(block.get("Action", "")).strip().lower()
        status = str(block.get("Status", "")).strip().split(" ")[0]
        if action not in ("failed", "delayed"):
            continue
        soft = action == "delayed" or status.startswith("4")
        recipient = str(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
        address = recipient.split(";", 1)[-1].strip().strip("<>").lower() or None
        return {"kind": "bounce_soft" if soft else "bounce_hard", "status": status or None,
                "bounced_recipient": address,
                "reasons": [f"DSN (RFC 3464): Action {action}, Status {status or 'missing'}"]}
    return None


def _auto_reply_signals(message: EmailMessage, subject: str) -> list[str]:
    """The RFC 3834 and de-facto headers, and the subject, that say a machine wrote this."""
    signals = []
    auto_submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        signals.append(f"Auto-Submitted: {auto_submitted[:30]} (RFC 3834)")
    for header in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply"):
        value = str(message.get(header, "")).strip().lower()
        if value and value not in ("no", "false", "0"):
            signals.append(f"{header} header")
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in ("auto_reply", "bulk", "junk"):
        signals.append(f"Precedence: {precedence}")
    if _AUTO_SUBJECT.search(fold(subject)):
        signals.append("auto-reply subject")
    if message.get_content_type() == "multipart/report":
        signals.append("delivery report without a failure")
    return signals


def _automatic(text: str, subject: str, signals: list[str], message: EmailMessage, facts: dict,
               received: dt.date) -> dict:
    folded = fold(f"{subject}\n{text}")
    if _LEFT_COMPANY.search(folded):
        referral = _referral(text, message, facts["from_address"])
        if referral is not None:
            return {"kind": "referral", "referral": referral,
                    "reasons": [*signals, "says the person left, names who to contact"]}
    if _ABSENCE.search(folded):
        back = return_date(text, received=received) or return_date(subject, received=received)
        return {"kind": "out_of_office", "return_date": back,
                "reasons": [*signals, "speaks of absence", f"return date {back or 'not given'}"]}
    return {"kind": "auto_reply", "reasons": signals}


def _human(text: str, subject: str, message: EmailMessage, facts: dict, received: dt.date) -> dict:
    folded = fold(text)
    own_subject = not re.match(r"^\s*(?:re|aw|sv|antw|ref|res|rv|r|vs|wg|fw|fwd|tr)\s*:", subject, re.IGNORECASE)
    hostile = bool(_HOSTILE.search(folded))
    if _UNSUBSCRIBE.search(folded) or (own_subject and _UNSUBSCRIBE.search(fold(subject))):
        return {"kind": "unsubscribe", "hostile": hostile, "reasons": ["asks to be removed"]}
    if not folded.strip():
        return {"kind": "unclear", "reasons": ["no text of its own"]}
    if _ABSENCE.search(folded) and len(folded) < 600 and not _MEETING.search(folded):
        back = return_date(text, received=received)
        if back is not None or re.search(r"out of (?:the )?office|limited access|abwesend|absent|ausente|afwezig",
                                         folded):
            return {"kind": "out_of_office", "return_date": back,
                    "reasons": ["absence note without auto-reply headers", f"return date {back or 'not given'}"]}
    if _REFERRAL_CUE.search(folded) or _NOT_RIGHT_PERSON.search(folded) or _LEFT_COMPANY.search(folded):
        referral = _referral(text, message, facts["from_address"])
        if referral is not None:
            return {"kind": "referral", "referral": referral, "reasons": ["names someone else to contact"]}
    meeting = bool(_MEETING.search(folded))
    if _NOT_RIGHT_PERSON.search(folded) or _LEFT_COMPANY.search(folded):
        return {"kind": "objection", "objection": "not_right_person", "reasons": ["not the right person, names nobody"]}
    later = recontact_date(text, received=received)
    timing = _TIMING.search(folded)
    if timing and (later is not None or not _DEFER_ONLY.fullmatch(timing.group(0))):
        return {"kind": "objection", "objection": "timing", "recontact_after": later,
                "reasons": [f"timing: {timing.group(0)!r}", f"recontact after {later or 'not given'}"]}
    if _BUDGET.search(folded) and not meeting:
        return {"kind": "objection", "objection": "budget", "reasons": ["budget"]}
    if _HAS_SOLUTION.search(folded) and not meeting:
        return {"kind": "objection", "objection": "has_solution", "reasons": ["already has a solution"]}
    refusal = _NOT_INTERESTED.search(folded)
    if refusal or hostile:
        return {"kind": "not_interested", "hostile": hostile,
                "reasons": [f"refuses: {(refusal.group(0) if refusal else 'hostile')!r}"]
                + (["hostile: spam complaint or abuse"] if hostile else [])}
    interest = _MEETING.search(folded) or _INTERESTED.search(folded)
    if interest:
        return {"kind": "interested", "reasons": [f"interest: {interest.group(0)!r}"]}
    return {"kind": "unclear", "reasons": ["no rule matched"]}


def _referral(text: str, message: EmailMessage, sender: str | None) -> Referral | None:
    """The person the reply points to: an address in its text or a new Cc, with the name written beside it;
    else a name written right after a referral phrase ("please contact Jane Doe")."""
    sender_domain = sender.split("@")[-1] if sender else None
    for match in _EMAIL.finditer(text):
        address = match.group(0).strip(".'").lower()
        if address == sender:
            continue
        return Referral(email=address, name=_name_beside(text, match.start(), match.end()))
    for name, address in getaddresses([str(value) for value in message.get_all("Cc", [])])[:20]:
        address = address.strip().lower()
        if address and address != sender and (sender_domain is None or address.endswith("@" + sender_domain)):
            return Referral(email=address, name=_clean_name(name) if name else None)
    for cue in _REFERRAL_CUE.finditer(fold(text)):
        clause = _CLAUSE_END.split(text[cue.end(): cue.end() + 120], maxsplit=1)[0]
        name = _first_name_in(clause)
        if name:
            return Referral(name=name)
    return None


def _name_beside(text: str, start: int, end: int) -> str | None:
    """The name written just before an address ("Jane Doe (jane@...)", "Jane Doe at jane@...") or just after
    it in brackets ("jane@... (Jane Doe)")."""
    before = text[max(0, start - 80): start]
    before = re.sub(r"(?:\s*[(<\[:,–—-]|\s+(?:at|on|via|unter|a|an|em|en|bij|pa|på|op|à|:))\s*$", "", before)
    tail = re.search(r"((?:[\w.'’-]+\s+){0,5}[\w.'’-]+)\s*$", before)
    if tail:
        names = list(_NAME.finditer(tail.group(1)))
        if names and names[-1].end() == len(tail.group(1)):
            name = _clean_name(names[-1].group(0))
            if name:
                return name
    after = re.match(r"\s*[(\[]\s*([^()\[\]\n]{2,60})[)\]]", text[end: end + 70])
    return _clean_name(after.group(1)) if after else None


def _first_name_in(clause: str) -> str | None:
    for match in _NAME.finditer(clause):
        name = _clean_name(match.group(0))
        if name:
            return name
    return None


def _clean_name(candidate: str) -> str | None:
    words = [word for word in candidate.replace('"', " ").split() if fold(word.strip(".")) not in _NOT_NAMES]
    while words and fold(words[0].strip(".")) in _NOT_NAMES:
        words.pop(0)
    name = " ".join(words).strip(" ,.")
    return name if name and any(char.isupper() for char in name[:1]) and len(name) <= 80 else None

