"""A local HubSpot that speaks the CRM v3/v4 endpoints SalesOS calls, over real HTTP.

hubspot-api-client talks through urllib3, which `responses` cannot see, so the
adapter is tested against this server on a loopback port. It keeps state the
way HubSpot does (unique properties, upsert and batch read by idProperty, a
create refused when another record holds one of its unique values, default
associations, property groups with types), answers with the documented
shapes (207 multi-status with `objectWriteTraceId` context, the 429 body with
`policyName`), and lets a test queue failures for the next matching requests,
or lose the answer to a request it carried out.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, redirect, request

from crm_adapters.manifests import HUBSPOT_GROUP, HUBSPOT_SCOPES, hubspot_properties
from tests.fakes.local_server import LocalServer

_STANDARD = {
    "companies": {"name": "string", "domain": "string", "numberofemployees": "number", "annualrevenue": "number",
                  "country": "string"},
    "contacts": {"email": "string", "firstname": "string", "lastname": "string", "jobtitle": "string",
                 "phone": "string", "country": "string", "hs_email_optout": "bool"},
    "tasks": {"hs_task_subject": "string", "hs_task_body": "string", "hs_task_status": "enumeration",
              "hs_task_type": "enumeration", "hs_timestamp": "datetime"},
    "emails": {"hs_email_subject": "string", "hs_email_text": "string", "hs_email_direction": "enumeration",
               "hs_email_status": "enumeration", "hs_timestamp": "datetime"},
    "notes": {"hs_note_body": "string", "hs_timestamp": "datetime"},
    "meetings": {"hs_meeting_title": "string", "hs_meeting_body": "string", "hs_meeting_start_time": "datetime",
                 "hs_meeting_end_time": "datetime", "hs_meeting_location": "string",
                 "hs_meeting_external_url": "string", "hs_meeting_outcome": "enumeration",
                 "hubspot_owner_id": "enumeration", "hs_timestamp": "datetime"},
}
_UNIQUE_STANDARD = {"contacts": {"email"}}  # plus every property defined with hasUniqueValue
# Set by HubSpot only: "Unsubscribed from all email" follows the communication preferences API.
_READ_ONLY = {"contacts": {"hs_email_optout"}}


@dataclass
class Failure:
    path: str
    status: int
    body: dict
    headers: dict[str, str]
    times: int


@dataclass
class FakeHubSpot:
    """State and failure queue; `url` is set once the server runs."""

    token: str = "pat-test-token"  # the token the API accepts: a private app's, until an OAuth install grants one
    provisioned: bool = True
    portal_id: int = 62515
    client_id: str = "hs-client"  # the SalesOS app's OAuth credentials, as its Auth page shows them
    client_secret: str = "hs-client-secret"
    token_has_hub_id: bool = True  # token responses since 2025-08 carry hub_id; before, only introspection did
    codes: dict[str, str] = field(default_factory=dict)  # authorization code -> its redirect_uri, until exchanged
    granted: list[str] = field(default_factory=list)  # access tokens granted through OAuth, oldest first
    url: str = ""
    objects: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    associations: set[tuple[str, str, str, str]] = field(default_factory=set)
    properties: dict[str, dict[str, dict]] = field(default_factory=dict)
    groups: dict[str, dict[str, dict]] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    clients: set[tuple[str, str]] = field(default_factory=set)  # (address, port) of every connection seen
    completed: dict[str, dict[str, str]] = field(default_factory=dict)  # workflow callbacks, by id
    reject_values: dict[str, str] = field(default_factory=dict)  # property value -> error message
    whole_batch_validation: bool = False  # one invalid record fails the batch with 400, as some endpoints do
    record_errors: dict[str, list[str]] = field(default_factory=dict)  # trace id -> categories to answer, in turn
    # granted scopes the fake checks (only the opt-out's); a test removes it to play a portal installed without it
    scopes: set[str] = field(default_factory=lambda: {"communication_preferences.write"})
    unsubscribed_from_all: list[str] = field(default_factory=list)  # emails, in the order they were opted out
    failures: list[Failure] = field(default_factory=list)
    lost_answers: list[Failure] = field(default_factory=list)  # carried out, then answered with an error
    # How a create holding another record's unique value is refused: the whole batch with 409 CONFLICT (as HubSpot
    # refuses a contact whose email exists), or, when True, that record alone in a 207 multi-status.
    conflicts_per_record: bool = False
    _ids: Any = field(default_factory=lambda: itertools.count(1001))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for object_type, props in _STANDARD.items():
            self.objects.setdefault(object_type, {})
            self.properties[object_type] = {name: {"name": name, "type": kind, "groupName": "standard"}
                                            for name, kind in props.items()}
            self.groups[object_type] = {}
        if self.provisioned:
            for object_type, definitions in hubspot_properties().items():
                self.groups[object_type][HUBSPOT_GROUP["name"]] = dict(HUBSPOT_GROUP)
                for definition in definitions:
                    self.properties[object_type][definition["name"]] = dict(definition)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def fail(self, path: str, status: int, body: dict | None = None, headers: dict[str, str] | None = None,
             times: int = 1) -> None:
        """Answer the next `times` requests whose path contains `path` with this error."""
        self.failures.append(Failure(path, status, body or {"status": "error", "message": f"injected {status}"},
                                     headers or {}, times))

    def lose_answer(self, path: str, status: int = 502, times: int = 1) -> None:
        """Carry out the next `times` requests whose path contains `path`, then answer them with this error, as when
        HubSpot acted and the answer was lost on the way back."""
        self.lost_answers.append(Failure(path, status, {"status": "error", "message": f"injected {status}"}, {},
                                         times))

    def unique(self, object_type: str) -> set[str]:
        """Properties whose values HubSpot keeps unique: `email` on contacts, and those defined with hasUniqueValue."""
        defined = {name for name, p in self.properties[object_type].items() if p.get("hasUniqueValue")}
        return defined | _UNIQUE_STANDARD.get(object_type, set())

    def find(self, object_type: str, prop: str, value: str) -> tuple[str, dict] | None:
        for object_id, props in self.objects[object_type].items():
            if props.get(prop) == value:
                return object_id, props
        return None

    def linked(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        return sorted(t for f_type, f, t_type, t in self.associations if (f_type, f, t_type) == (from_type, from_id, to_type))

    # --- request handling --------------------------------------------------

    def take_failure(self, path: str, failures: list[Failure] | None = None) -> Failure | None:
        with self._lock:
            for failure in self.failures if failures is None else failures:
                if failure.path in path and failure.times > 0:
                    failure.times -= 1
                    return failure
        return None

    def conflict(self, object_type: str, props: dict[str, str], taken: set[tuple[str, str]]) -> str | None:
        """Why a new record cannot have these values: one of its unique values is held by a stored record, or by
        an earlier record of the same batch (`taken`: the (property, value) pairs read so far)."""
        for name in sorted(self.unique(object_type) & set(props)):
            holder = self.find(object_type, name, props[name])
            if holder is not None:
                return f"A record with {name} {props[name]!r} already exists. Existing ID: {holder[0]}"
            if (name, props[name]) in taken:
                return f"{name} {props[name]!r} appears twice in this batch"
        return None

    def new_id(self) -> str:
        return str(next(self._ids))

    def invalid(self, object_type: str, props: dict[str, str]) -> str | None:
        """HubSpot's validation: the property must exist and its value must fit the type."""
        for name, value in props.items():
            definition = self.properties[object_type].get(name)
            if definition is None:
                return f'Property "{name}" does not exist'
            if name in _READ_ONLY.get(object_type, ()):
                return f'Property "{name}" is a read only property; its value cannot be set'
            if value in self.reject_values:
                return self.reject_values[value]
            if definition["type"] == "number" and value != "":
                try:
                    float(value)
                except ValueError:
                    return f'Property "{name}" value {value!r} is not a number'
            if definition["type"] == "enumeration" and value != "" and definition.get("options"):
                allowed = {option["value"] for option in definition["options"]}
                if value not in allowed:
                    return f'Property "{name}" value {value!r} is not one of the allowed options'
        return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, mimetype="application/json")


def _batch(results: list[dict], errors: list[dict], created: bool = False) -> Response:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": _now(), "completedAt": _now()}
    if errors:
        body |= {"numErrors": len(errors), "errors": errors}
        return _json(body, 207)
    return _json(body, 201 if created else 200)


def _error(message: str, trace: str | None, category: str = "VALIDATION_ERROR") -> dict:
    return {"status": "error", "category": category, "message": message,
            "context": {"objectWriteTraceId": [trace]} if trace else {}}


def _record(object_id: str, props: dict[str, str], trace: str | None = None, **extra) -> dict:
    record = {"id": object_id, "properties": {**props, "hs_object_id": object_id}, "createdAt": _now(),
              "updatedAt": _now(), "archived": False, **extra}
    if trace:
        record["objectWriteTraceId"] = trace
    return record


def create_app(fake: FakeHubSpot) -> Flask:
    app = Flask("fake-hubspot")

    @app.before_request
    def _guard():
        fake.calls[request.path] += 1
        fake.clients.add((request.environ.get("REMOTE_ADDR", ""), request.environ.get("REMOTE_PORT", "")))
        if request.path.startswith("/oauth/"):
            return None  # the OAuth endpoints authenticate the app by its client id and secret
        if request.headers.get("Authorization") != f"Bearer {fake.token}":
            return _json({"status": "error", "message": "Authentication credentials not found.",
                          "category": "INVALID_AUTHENTICATION"}, 401)
        failure = fake.take_failure(request.path)
        if failure:
            return _json(failure.body, failure.status, failure.headers)
        return None

    @app.after_request
    def _lose_answer(response: Response) -> Response:
        lost = fake.take_failure(request.path, fake.lost_answers) if response.status_code < 300 else None
        return _json(lost.body, lost.status) if lost else response

    @app.get("/oauth/authorize")
    def authorize():
        """The consent page (app.hubspot.com): an admin who approves is sent back with a one-time code."""
        query = request.args
        if query.get("client_id") != fake.client_id or not query.get("redirect_uri") or not query.get("scope"):
            return _json({"status": "error", "message": "client_id, redirect_uri and scope are required"}, 400)
        if set(query["scope"].split(" ")) - set(HUBSPOT_SCOPES):
            return _json({"status": "error", "message": "scope names a scope the app does not require"}, 400)
        code = secrets.token_urlsafe(16)
        fake.codes[code] = query["redirect_uri"]
        return redirect(f"{query['redirect_uri']}?code={code}&state={query.get('state', '')}", 302)

    @app.post("/oauth/2026-03/token")
    def token():
        """The authorization-code grant: the documented 2025 shape (hub_id and scopes since 2025-08-18)."""
        form = request.form
        if (form.get("client_id"), form.get("client_secret")) != (fake.client_id, fake.client_secret):
            return _json({"error": "invalid_client", "error_description": "unknown client id or wrong secret",
                          "status": "BAD_CLIENT_ID", "message": "unknown client id or wrong secret"}, 400)
        with fake._lock:
            redirect_uri = fake.codes.pop(form.get("code", ""), None)  # a code is good once
            if form.get("grant_type") != "authorization_code" or redirect_uri != form.get("redirect_uri"):
                return _json({"error": "invalid_grant", "error_description": "code is invalid, expired or used",
                              "status": "BAD_AUTH_CODE", "message": "code is invalid, expired or used"}, 400)
            fake.token = f"CO{secrets.token_urlsafe(24)}"  # the portal's grant: the only token accepted from now
            fake.granted.append(fake.token)
        body = {"token_type": "bearer", "refresh_token": f"na1-{secrets.token_hex(12)}", "scopes": list(HUBSPOT_SCOPES),
                "access_token": fake.token, "expires_in": 1800}
        return _json(body | ({"hub_id": fake.portal_id} if fake.token_has_hub_id else {}))

    @app.post("/oauth/2026-03/token/introspect")
    def introspect():
        """RFC 7662 with HubSpot's metadata (the v1 access-token metadata's names); a token it never granted is
        inactive."""
        form = request.form
        if (form.get("client_id"), form.get("client_secret")) != (fake.client_id, fake.client_secret):
            return _json({"error": "invalid_client", "status": "BAD_CLIENT_ID",
                          "message": "unknown client id or wrong secret"}, 400)
        if form.get("token") not in fake.granted:
            return _json({"active": False})
        return _json({"active": True, "token": form["token"], "user": "admin@example.com",
                      "hub_domain": "example-portal.com", "scopes": list(HUBSPOT_SCOPES), "hub_id": fake.portal_id,
                      "app_id": 111111, "expires_in": 1754, "user_id": 293199, "token_type": "access"})

    @app.post("/crm/v3/objects/<object_type>/batch/upsert")
    def upsert(object_type: str):
        inputs = request.get_json()["inputs"]
        if len(inputs) > 100:
            return _json({"status": "error", "category": "VALIDATION_ERROR",
                          "message": "Batch input cannot exceed 100 inputs"}, 400)
        results, errors = [], []
        problems = [fake.invalid(object_type, item.get("properties", {})) for item in inputs]
        if fake.whole_batch_validation and any(problems):
            return _json({"status": "error", "category": "VALIDATION_ERROR",
                          "message": f"Property values were not valid: {next(filter(None, problems))}"}, 400)
        with fake._lock:
            for item in inputs:
                id_property, trace = item.get("idProperty"), item.get("objectWriteTraceId")
                if id_property not in fake.unique(object_type):
                    return _json({"status": "error", "category": "VALIDATION_ERROR",
                                  "message": f"{id_property} is not a unique property of {object_type}"}, 400)
                props = {**item.get("properties", {}), id_property: item["id"]}
                problem = fake.invalid(object_type, props)
                if problem:
                    errors.append(_error(f"Property values were not valid: {problem}", trace))
                    continue
                queued = fake.record_errors.get(trace)
                if queued:
                    errors.append(_error("injected per-record failure", trace, category=queued.pop(0)))
                    continue
                found = fake.find(object_type, id_property, item["id"])
                object_id, new = (found[0], False) if found else (fake.new_id(), True)
                stored = fake.objects[object_type].setdefault(object_id, {})
                stored.update({name: value for name, value in props.items()})
                if new and object_type == "contacts" and props.get("email", "").lower() in {
                        email.lower() for email in fake.unsubscribed_from_all}:
                    stored["hs_email_optout"] = "true"  # consent is kept per address, contact or not
                results.append(_record(object_id, stored, trace, new=new))
        return _batch(results, errors)

    @app.post("/crm/v3/objects/<object_type>/batch/read")
    def batch_read(object_type: str):
        body = request.get_json()
        id_property = body.get("idProperty")
        if id_property and id_property not in fake.unique(object_type):
            return _json({"status": "error", "category": "VALIDATION_ERROR",
                          "message": f"Unable to read by non-unique property {id_property} of {object_type}"}, 400)
        wanted = body.get("properties") or []
        results = []
        for item in body["inputs"]:
            found = (fake.find(object_type, id_property, item["id"]) if id_property
                     else (item["id"], fake.objects[object_type][item["id"]])
                     if item["id"] in fake.objects[object_type] else None)
            if found:
                object_id, props = found
                results.append(_record(object_id, {name: props.get(name) for name in wanted}))
        return _batch(results, [])

    @app.post("/crm/v3/objects/<object_type>/batch/create")
    def batch_create(object_type: str):
        results, errors, taken = [], [], set()
        inputs = request.get_json()["inputs"]
        problems = [fake.invalid(object_type, item.get("properties", {})) for item in inputs]
        if fake.whole_batch_validation and any(problems):
            return _json({"status": "error", "category": "VALIDATION_ERROR",
                          "message": f"Property values were not valid: {next(filter(None, problems))}"}, 400)
        with fake._lock:
            if not fake.conflicts_per_record:
                for item in inputs:
                    props = item.get("properties", {})
                    conflict = fake.conflict(object_type, props, taken)
                    if conflict:
                        return _json({"status": "error", "category": "CONFLICT", "message": conflict}, 409)
                    taken |= {(name, props[name]) for name in fake.unique(object_type) & set(props)}
            for item in inputs:
                props, trace = item.get("properties", {}), item.get("objectWriteTraceId")
                problem = fake.invalid(object_type, props)
                if problem:
                    errors.append(_error(problem, trace))
                    continue
                conflict = fake.conflict(object_type, props, set())
                if conflict:
                    errors.append(_error(conflict, trace, category="CONFLICT"))
                    continue
                object_id = fake.new_id()
                fake.objects[object_type][object_id] = dict(props)
                for association in item.get("associations", []):
                    for spec in association["types"]:
                        target = association["to"]["id"]
                        fake.associations.add((object_type, object_id, "contacts", target))
                        assert spec["associationTypeId"], "association type id is required"
                results.append(_record(object_id, props, trace))
        return _batch(results, errors, created=True)

    @app.get("/crm/v3/objects/<object_type>/<object_id>")
    def get_by_id(object_type: str, object_id: str):
        props = fake.objects[object_type].get(object_id)
        if props is None:
            return _json({"status": "error", "category": "OBJECT_NOT_FOUND", "message": "resource not found"}, 404)
        wanted = ",".join(request.args.getlist("properties")).split(",")
        return _json(_record(object_id, {name: props.get(name) for name in wanted if name}))

    @app.patch("/crm/v3/objects/<object_type>/<object_id>")
    def update(object_type: str, object_id: str):
        props = request.get_json().get("properties", {})
        with fake._lock:
            if object_id not in fake.objects[object_type]:
                return _json({"status": "error", "category": "OBJECT_NOT_FOUND", "message": "resource not found"}, 404)
            for name, value in props.items():
                holder = fake.find(object_type, name, value) if name in fake.unique(object_type) else None
                if holder and holder[0] != object_id:
                    return _json({"status": "error", "category": "VALIDATION_ERROR",
                                  "message": f"{name} {value!r} already exists on {holder[0]}"}, 409)
            fake.objects[object_type][object_id].update(props)
            return _json(_record(object_id, fake.objects[object_type][object_id]))

    @app.post("/crm/v3/objects/<object_type>/search")
    def search(object_type: str):
        """Filter groups are ORed, filters in a group ANDed; HAS_PROPERTY and GT, as SalesOS uses them."""
        body = request.get_json()
        limit = body.get("limit", 10)
        if limit > 200:
            return _json({"status": "error", "category": "VALIDATION_ERROR", "message": "limit must be <= 200"}, 400)

        def holds(object_id: str, props: dict, rule: dict) -> bool:
            value = object_id if rule["propertyName"] == "hs_object_id" else props.get(rule["propertyName"])
            if rule["operator"] == "HAS_PROPERTY":
                return value not in (None, "")
            if rule["operator"] == "GT":
                return value is not None and int(value) > int(rule["value"])
            raise AssertionError(f"the fake does not know operator {rule['operator']}")

        matches = [(object_id, props) for object_id, props in sorted(fake.objects[object_type].items(),
                                                                      key=lambda item: int(item[0]))
                   if any(all(holds(object_id, props, rule) for rule in group["filters"])
                          for group in body.get("filterGroups", []))]
        wanted = body.get("properties") or []
        page = matches[:limit]
        return _json({"total": len(matches), "results": [
            _record(object_id, {name: props.get(name) for name in wanted}) for object_id, props in page]})

    @app.post("/crm/v4/associations/<from_type>/<to_type>/batch/associate/default")
    def associate_default(from_type: str, to_type: str):
        results, errors = [], []
        with fake._lock:
            for item in request.get_json()["inputs"]:
                source, target = item["from"]["id"], item["to"]["id"]
                if source not in fake.objects[from_type] or target not in fake.objects[to_type]:
                    errors.append({"status": "error", "category": "VALIDATION_ERROR",
                                   "message": f"No {from_type} {source} or {to_type} {target}",
                                   "context": {"fromObjectId": [source]}})
                    continue
                fake.associations.add((from_type, source, to_type, target))
                results.append({"from": {"id": source}, "to": {"id": target},
                                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}})
        return _batch(results, errors)

    @app.post("/communication-preferences/v4/statuses/<subscriber>/unsubscribe-all")
    def unsubscribe_from_all(subscriber: str):
        """Opt an email address out of every email subscription; the contact's hs_email_optout becomes true.

        An address without a contact is opted out all the same, and no contact is created; one created later
        for it is opted out (HubSpot ties the status to the address, not to a contact).

        As documented: the subscriber is the email address, `channel=EMAIL` is required, the scope is
        communication_preferences.write (or .read_write), and without `verbose=true` the results are empty."""
        if not fake.scopes & {"communication_preferences.write", "communication_preferences.read_write"}:
            return _json({"status": "error", "category": "MISSING_SCOPES",
                          "message": "This app hasn't been granted all required scopes to make this call.",
                          "errors": [{"message": "One or more of the following scopes are required.",
                                      "context": {"requiredGranularScopes": ["communication_preferences.write",
                                                                             "communication_preferences.read_write"]}}]},
                         403)
        if request.args.get("channel") != "EMAIL":
            return _json({"status": "error", "category": "VALIDATION_ERROR",
                          "message": "channel: the only supported channel is EMAIL"}, 400)
        if "@" not in subscriber:
            return _json({"status": "error", "category": "VALIDATION_ERROR",
                          "message": f"{subscriber} is not a valid email address"}, 400)
        with fake._lock:
            fake.unsubscribed_from_all.append(subscriber)
            found = fake.find("contacts", "email", subscriber.lower())
            if found:
                found[1]["hs_email_optout"] = "true"
        statuses = [{"channel": "EMAIL", "status": "NOT_SUBSCRIBED", "subscriberIdString": subscriber,
                     "subscriptionId": 1, "source": "Public API", "timestamp": _now(),
                     "setStatusSuccessReason": "UNSUBSCRIBE_FROM_ALL_OCCURRED"}]
        return _json({"status": "COMPLETE", "results": statuses if request.args.get("verbose") == "true" else [],
                      "requestedAt": _now(), "startedAt": _now(), "completedAt": _now()})

    @app.post("/automation/v4/actions/callbacks/<callback_id>/complete")
    def complete_callback(callback_id: str):
        outputs = request.get_json().get("outputFields") or {}
        if outputs.get("hs_execution_state") not in {"SUCCESS", "FAIL_CONTINUE"}:
            return _json({"status": "error", "category": "VALIDATION_ERROR",
                          "message": "hs_execution_state must be SUCCESS or FAIL_CONTINUE"}, 400)
        if callback_id in fake.completed:
            return _json({"status": "error", "category": "VALIDATION_ERROR",
                          "message": f"callback {callback_id} is already completed"}, 400)
        fake.completed[callback_id] = outputs
        return Response(status=204)

    @app.get("/crm/v3/properties/<object_type>/groups/<name>")
    def get_group(object_type: str, name: str):
        group = fake.groups[object_type].get(name)
        if group is None:
            return _json({"status": "error", "category": "OBJECT_NOT_FOUND", "message": f"group {name} not found"}, 404)
        return _json(group)

    @app.post("/crm/v3/properties/<object_type>/groups")
    def create_group(object_type: str):
        group = request.get_json()
        if group["name"] in fake.groups[object_type]:
            return _json({"status": "error", "category": "CONFLICT", "message": "group already exists"}, 409)
        fake.groups[object_type][group["name"]] = group
        return _json(group, 201)

    @app.post("/crm/v3/properties/<object_type>/batch/read")
    def read_properties(object_type: str):
        names = [item["name"] for item in request.get_json()["inputs"]]
        found = [fake.properties[object_type][name] for name in names if name in fake.properties[object_type]]
        return _batch(found, [])

    @app.post("/crm/v3/properties/<object_type>/batch/create")
    def create_properties(object_type: str):
        results, errors = [], []
        for definition in request.get_json()["inputs"]:
            if definition["name"] in fake.properties[object_type]:
                errors.append({"status": "error", "category": "OBJECT_ALREADY_EXISTS",
                               "message": f"Property {definition['name']} already exists",
                               "context": {"name": [definition["name"]]}})
                continue
            if definition.get("groupName") not in fake.groups[object_type]:
                errors.append({"status": "error", "category": "VALIDATION_ERROR",
                               "message": f"group {definition.get('groupName')} does not exist",
                               "context": {"name": [definition["name"]]}})
                continue
            fake.properties[object_type][definition["name"]] = definition
            results.append(definition)
        return _batch(results, errors, created=True)

    return app


class Server(LocalServer):
    """The fake on a free loopback port (see `LocalServer`); `stop()` shuts it down."""

    def __init__(self, fake: FakeHubSpot) -> None:
        self.fake = fake
        super().__init__(create_app(fake))
        fake.url = self.url
