"""Completing a HubSpot workflow action that SalesOS answered with BLOCK (see `connector.actions`)."""

from __future__ import annotations

from hubspot import HubSpot
from hubspot.automation.actions import CallbackCompletionRequest

from crm_adapters.calls import CallPolicy, TokenSource, call
from crm_adapters.hubspot import classify


def complete_callback(tokens: TokenSource, callback_id: str, outputs: dict[str, str], *,
                      host: str = "https://api.hubapi.com", policy: CallPolicy | None = None) -> None:
    """POST /automation/v4/actions/callbacks/{callbackId}/complete: the workflow goes on with `outputs`."""
    request = CallbackCompletionRequest(output_fields=outputs)
    call(policy or CallPolicy(), tokens,
         lambda token: HubSpot(access_token=token, host=host).automation.actions.callbacks_api.complete(
             callback_id=callback_id, callback_completion_request=request),
         classify, f"complete workflow action {callback_id}")
