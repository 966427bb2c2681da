#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets under fuzz/seeds/<target>/.

Derived from the example config.yaml files and the protocol's golden fixtures
(crates/gumstack-protocol/tests/fixtures/). Run from the repository root:
`python3 fuzz/make_seeds.py` (needs the `cryptography` package for the signed tokens).
"""

import base64
import json
import pathlib
import shutil

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
FIXTURES = ROOT / "crates" / "gumstack-protocol" / "tests" / "fixtures"

# The constants of fuzz_targets/jws_verify.rs.
KID = "0b6f43d2-3d61-4c44-8f43-1b39f0c2a001"
ISSUER = "https://gumstack.example"
RESOURCE = "https://gumstack.example/mcp/tracker"
SERVER_AUDIENCE = "gumstack:server:7f3c1a52-2f1e-4f7c-9d55-0c8a4e2b6d10"
NOW = 1_800_000_000


def write(target, name, data):
    directory = SEEDS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(typ, claims, kid=KID):
    """A token as gumstack_protocol::jws::sign writes it, with the targets' key (seed 7 x 32)."""
    key = Ed25519PrivateKey.from_private_bytes(bytes([7] * 32))
    signing_input = b64(compact({"alg": "EdDSA", "kid": kid, "typ": typ}).encode())
    signing_input += "." + b64(compact(claims).encode())
    return signing_input + "." + b64(key.sign(signing_input.encode()))


def config_seeds():
    for example in sorted((ROOT / "examples").glob("*/config.yaml")):
        write("config_yaml", example.parent.name + ".yaml", example.read_bytes())
    write("config_yaml", "oauth-two-providers.yaml",
          "name: Linear\nauth:\n  type: oauth\n  provider: [linear, github]\n")
    write("config_yaml", "flow-style.yaml",
          '{name: "Keys", icon: "/i.png", auth: {type: cred, credentials: '
          '[{name: api_key, secret: true}]}, tools: [{name: a.b-c_d}]}\n')
    write("config_yaml", "anchors.yaml",
          "name: &n Greeter\ndescription: *n\nauth:\n  type: none\n")


def jws_seeds():
    identity = json.loads((FIXTURES / "identity_claims.json").read_text())
    call = json.loads((FIXTURES / "platform_call_claims.json").read_text())
    access = {"iss": ISSUER, "sub": identity["sub"], "aud": RESOURCE,
              "client_id": identity["cid"], "gid": identity["jti"], "scope": "mcp",
              "iat": NOW - 10, "exp": NOW + 3600, "jti": call["jti"]}
    fresh_identity = dict(identity, iss=ISSUER, aud=SERVER_AUDIENCE, iat=NOW, exp=NOW + 600)
    # Mode byte: bit 0 = sign the claims that follow; bits 1-2 = typ; bit 3 = unknown kid.
    write("jws_verify", "signed-access", b"\x01" + compact(access).encode())
    write("jws_verify", "signed-identity", b"\x03" + compact(fresh_identity).encode())
    write("jws_verify", "signed-fixture-identity", b"\x03" + json.dumps(identity).encode())
    write("jws_verify", "signed-fixture-call", b"\x05" + json.dumps(call).encode())
    write("jws_verify", "signed-unknown-kid", b"\x09" + compact(access).encode())
    write("jws_verify", "signed-exp-max", b"\x01" + compact(dict(access, exp=2**63 - 1)).encode())
    write("jws_verify", "signed-audiences",
          b"\x01" + compact(dict(access, aud=[RESOURCE, "x"])).encode())
    # Tokens as a client sends them (mode byte even), valid ones included to be mutated.
    write("jws_verify", "token-access", b"\x00" + sign("at+jwt", access).encode())
    write("jws_verify", "token-identity",
          b"\x10" + sign("gumstack-identity+jwt", fresh_identity).encode())
    write("jws_verify", "token-alg-none", b"\x20" + (
        b64(b'{"alg":"none","typ":"at+jwt"}') + "." + b64(compact(access).encode()) + ".").encode())
    write("jws_verify", "bearer", b"\x00Bearer   abc.def.ghi ")


def callback_seeds():
    for name, query in [
        ("code", "state=@STATE@&code=the-code"),
        ("denied", "state=@STATE@&error=access_denied&error_description=The+user+declined"),
        ("no-code", "state=@STATE@&code="),
        ("other-session", "state=@MALLORY@&code=x"),
        ("no-state", "code=x"),
        ("unknown-state", "state=st_4d3c2b1a&code=x"),
        ("encoded", "state=%40STATE%40&code=a%2Bb%20c&iss=https%3A%2F%2Fidp.example"),
    ]:
        write("connect_callback", name, query)


def metadata_seeds():
    client_id = "https://client.example/metadata.json"
    documents = {
        "public": {"client_id": client_id, "client_name": "Example MCP client",
                   "redirect_uris": ["http://127.0.0.1:33418/callback",
                                     "https://client.example/cb"],
                   "token_endpoint_auth_method": "none",
                   "grant_types": ["authorization_code", "refresh_token"]},
        "confidential": {"client_id": client_id, "redirect_uris": ["https://client.example/cb"],
                         "token_endpoint_auth_method": "client_secret_basic"},
        "wrong-id": {"client_id": "https://evil.example/x", "redirect_uris": ["https://a/cb"]},
    }
    for name, document in documents.items():
        write("client_metadata", name, client_id + "\n" + json.dumps(document))
    write("client_metadata", "loopback", "http://localhost:8080/client.json\n{}")


def registration_seeds():
    bodies = {
        "public": {"redirect_uris": ["http://127.0.0.1:33418/callback"],
                   "client_name": "Claude", "token_endpoint_auth_method": "none",
                   "grant_types": ["authorization_code", "refresh_token"],
                   "response_types": ["code"], "scope": "mcp", "logo_uri": "https://x/l.png"},
        "confidential": {"redirect_uris": ["https://app.example.com/cb"],
                         "token_endpoint_auth_method": "client_secret_post"},
        "overrides": {"redirect_uris": ["https://app.example.com/cb"],
                      "other": {"redirect_uris": 1}, "client_id": "x", "client_secret": "y"},
        "bad-uri": {"redirect_uris": ["http://app.example.com/cb#f"]},
    }
    for name, body in bodies.items():
        write("client_registration", name, json.dumps(body))


def gateway_seeds():
    initialize = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "fuzz", "version": "1"}}})
    requests = {
        "initialize": "POST /mcp/tracker\nHost: mcp.example.com\nAuthorization: Bearer alice\n"
                      "Content-Type: application/json\nAccept: application/json, "
                      "text/event-stream\nX-Open-Session: s-1\n\n" + initialize,
        "session": "POST /mcp/tracker?x=1\nHost: 127.0.0.1:8080\nAuthorization: bearer bob\n"
                   "Mcp-Session-Id: s-1\nConnection: keep-alive, x-private\nX-Private: 1\n"
                   "Cookie: a=b\nGumstack-Identity: forged\nX-Forwarded-For: 1.2.3.4\n\n{}",
        "malformed-chunk": "POST /mcp/tracker\nHost: mcp.example.com\nAuthorization: Bearer "
                           "alice\nTransfer-Encoding: chunked\n\n{\"jsonrpc\":\0ERR",
        "too-large": "POST /mcp/tracker\nHost: mcp.example.com\nAuthorization: Bearer alice\n"
                     "Content-Length: 99999\n\n{}",
        "origin": "GET /mcp/tracker\nHost: mcp.example.com\nOrigin: https://evil.example\n"
                  "Authorization: Bearer alice\n\n",
        "no-token": "DELETE /mcp/tracker\nHost: mcp.example.com\nMcp-Session-Id: s-1\n\n",
        "refusals": "POST /mcp/tracker\nHost: mcp.example.com\nAuthorization: Bearer off\n\n",
        "method": "PUT /mcp/tracker\nHost: mcp.example.com\n\n",
        "denied-tool": "POST /mcp/tracker\nHost: mcp.example.com\nAuthorization: Bearer alice\n"
                       "Mcp-Method: tools/call\nMcp-Name: danger\n\n"
                       + json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                     "params": {"name": "danger", "arguments": {}}}),
        "allowed-tool": "POST /mcp/tracker\nHost: mcp.example.com\nAuthorization: Bearer bob\n"
                        "Mcp-Name: =?base64?ZGFuZ2Vy?=\n\n"
                        + json.dumps({"jsonrpc": "2.0", "id": "a", "method": "tools/call",
                                      "params": {"name": "danger"}}),
        "tools-list": "POST /mcp/tracker\nHost: mcp.example.com\nAuthorization: Bearer alice\n\n"
                      + json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
        "batch": "POST /mcp/tracker\nHost: mcp.example.com\nAuthorization: Bearer alice\n\n"
                 + json.dumps([{"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                                "params": {"name": "danger"}}]),
    }
    for name, request in requests.items():
        write("gateway_request", name, request)


def vault_seeds():
    # Mode byte: bit 7 = seal a plaintext (length in bits 0-5) then edit it (op, at, value).
    write("vault_decrypt", "seal-and-flip", b"\x85hello\x00\x10\x01")
    write("vault_decrypt", "seal-and-truncate", b"\x88password\x01\x20\x00")
    write("vault_decrypt", "seal-and-extend", b"\x80\x02\x00\x41\x03\x05\x42")
    write("vault_decrypt", "seal-untouched", b"\x8ahunter2-ok")
    write("vault_decrypt", "raw-header", b"\x00\x01\x05k-new" + bytes(12) + bytes(16))
    write("vault_decrypt", "raw-unknown-key", b"\x00\x01\x02zz" + bytes(40))
    write("vault_decrypt", "key-lines", b"# keys\nk1 " + base64.b64encode(bytes(32)) + b"\n")


if __name__ == "__main__":
    shutil.rmtree(SEEDS, ignore_errors=True)
    config_seeds()
    jws_seeds()
    callback_seeds()
    metadata_seeds()
    registration_seeds()
    gateway_seeds()
    vault_seeds()
