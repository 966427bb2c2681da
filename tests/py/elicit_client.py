"""A 2026-07-28 MCP client, the official Python SDK (PyPI `mcp` 2.x, pinned in
tests/py/requirements.txt), calls one tool through the Gumstack gateway with an access token.

When the call needs input (an `InputRequiredResult` with a URL-mode elicitation), the client's
elicitation callback plays the MCP client's user interface: it prints the elicitation as a JSON
line `{"elicitation": {...}}` and waits for one line on stdin — the person, here the test, says
they are done — before it accepts, and the SDK retries the call. The last line printed is
`{"result": {...}}` (the tool's result) or `{"error": "..."}`.

Usage: python elicit_client.py MCP_URL ACCESS_TOKEN TOOL [ARGUMENTS_JSON]
"""

import json
import sys

import anyio
import httpx2
import mcp
from mcp import types
from mcp.client.streamable_http import streamable_http_client


def emit(value):
    print(json.dumps(value), flush=True)


async def on_elicitation(context, params):
    emit({"elicitation": params.model_dump(mode="json", by_alias=True, exclude_none=True)})
    answer = (await anyio.to_thread.run_sync(sys.stdin.readline)).strip()
    return types.ElicitResult(action=answer or "cancel")


async def main():
    url, token, tool = sys.argv[1], sys.argv[2], sys.argv[3]
    arguments = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    transport = streamable_http_client(url, http_client=http)
    async with mcp.Client(transport, mode="2026-07-28", elicitation_callback=on_elicitation) as client:
        emit({"protocol_version": client.session.protocol_version})
        try:
            result = await client.call_tool(tool, arguments)
        except Exception as error:  # noqa: BLE001 - reported to the test, which asserts on it
            emit({"error": f"{type(error).__name__}: {error}"})
            return
        emit({"result": result.model_dump(mode="json", by_alias=True, exclude_none=True)})


anyio.run(main)
