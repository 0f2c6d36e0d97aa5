"""Meetings on HubSpot and Salesforce: the objects, associations and fields each CRM gets, and the call counts."""

from __future__ import annotations

import datetime as dt

from crm_adapters.base import ContactWrite, MeetingWrite
from crm_adapters.hubspot_map import MEETING_TO_CONTACT
from tests.crm_adapters.backends import hubspot_backend, salesforce_backend

T0 = dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC)
TEAMS = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_" + "N" * 250
         + "%40thread.v2/0?context=%7b%22Tid%22%3a%2272f988bf%22%7d")


def meeting(n: int = 0, **changes) -> MeetingWrite:
    return MeetingWrite(**{"key": f"meeting:t:jane@acme.io:r{n}", "contact_email": "jane@acme.io",
                           "owner_id": "75001", "subject": "Acme x SalesOS", "start": T0,
                           "end": T0 + dt.timedelta(minutes=30), "body": "Intro call",
                           "video_url": "https://meet.google.com/wix-pvpt-njj", **changes})


def test_hubspot_meetings_are_scheduled_engagements_on_the_contact_with_their_owner():
    with hubspot_backend() as hubspot:
        contact_id = hubspot.crm.upsert_contacts([ContactWrite(email="jane@acme.io")]).ids["jane@acme.io"]
        meeting_id = hubspot.crm.log_meetings([meeting()]).ids["meeting:t:jane@acme.io:r0"]
        stored = hubspot.fake.objects["meetings"][meeting_id]
        assert {name: stored[name] for name in ("hs_timestamp", "hs_meeting_start_time", "hs_meeting_end_time",
                                                 "hs_meeting_title", "hs_meeting_outcome", "hubspot_owner_id",
                                                 "hs_meeting_external_url", "hs_meeting_location")} == {
            "hs_timestamp": "2026-12-08T10:00:00Z", "hs_meeting_start_time": "2026-12-08T10:00:00Z",
            "hs_meeting_end_time": "2026-12-08T10:30:00Z", "hs_meeting_title": "Acme x SalesOS",
            "hs_meeting_outcome": "SCHEDULED", "hubspot_owner_id": "75001",
            "hs_meeting_external_url": "https://meet.google.com/wix-pvpt-njj",
            "hs_meeting_location": "https://meet.google.com/wix-pvpt-njj"}
        assert hubspot.fake.linked("meetings", meeting_id, "contacts") == [contact_id]
        assert MEETING_TO_CONTACT == 200  # HubSpot's meeting-to-contact association type


def test_hubspot_logs_a_batch_of_meetings_in_one_create_per_hundred():
    with hubspot_backend() as hubspot:
        hubspot.crm.upsert_contacts([ContactWrite(email="jane@acme.io")])
        before = hubspot.fake.total_calls
        assert hubspot.crm.log_meetings([meeting(n) for n in range(150)]).created == 150
        assert hubspot.fake.calls["/crm/v3/objects/meetings/batch/create"] == 2
        assert hubspot.fake.total_calls - before == 2  # the contact's id is remembered: no lookup
        again = hubspot.fake.total_calls
        assert hubspot.crm.log_meetings([meeting(n) for n in range(150)]).unchanged == 150
        assert hubspot.fake.total_calls == again  # remembered keys are not sent again


def test_salesforce_meetings_are_events_on_the_contact_with_their_owner():
    with salesforce_backend() as salesforce:
        contact_id = salesforce.crm.upsert_contacts([ContactWrite(email="jane@acme.io", name="Jane Doe")]).ids[
            "jane@acme.io"]
        event_id = salesforce.crm.log_meetings([meeting()]).ids["meeting:t:jane@acme.io:r0"]
        stored = salesforce.fake.events[event_id]
        assert event_id.startswith("00U")
        assert {name: stored[name] for name in ("WhoId", "OwnerId", "Subject", "StartDateTime", "EndDateTime",
                                                 "Location")} == {
            "WhoId": contact_id, "OwnerId": "75001", "Subject": "Acme x SalesOS",
            "StartDateTime": "2026-12-08T10:00:00.000+0000", "EndDateTime": "2026-12-08T10:30:00.000+0000",
            "Location": "https://meet.google.com/wix-pvpt-njj"}
        assert stored["Description"] == "Intro call\n\nJoin: https://meet.google.com/wix-pvpt-njj"


def test_a_video_link_longer_than_salesforce_location_stays_in_the_description_and_reads_back():
    with salesforce_backend() as salesforce:
        salesforce.crm.upsert_contacts([ContactWrite(email="jane@acme.io", name="Jane Doe")])
        result = salesforce.crm.log_meetings([meeting(video_url=TEAMS)])
        assert not result.errors
        [event] = salesforce.fake.events.values()
        assert event["Location"] is None and event["Description"].endswith(TEAMS)
        [stored] = salesforce.crm.get_meetings()
        assert (stored.video_url, stored.body, stored.location) == (TEAMS, "Intro call", None)


def test_salesforce_logs_two_hundred_meetings_in_one_collections_call():
    with salesforce_backend() as salesforce:
        salesforce.crm.upsert_contacts([ContactWrite(email="jane@acme.io", name="Jane Doe")])
        before = salesforce.fake.calls
        assert salesforce.crm.log_meetings([meeting(n) for n in range(250)]).created == 250
        writes = [path for method, path in salesforce.fake.requests if method == "PATCH"]
        assert writes[-2:] == ["/services/data/v59.0/composite/sobjects/Event/SalesOS_Key__c"] * 2
        assert salesforce.fake.calls - before == 2
