// The official TypeScript MCP SDK client (2025-11-25) calls one tool through Gumstack's
// gateway with an access token the test obtained, declaring URL-mode elicitation or not.
//
//   node tests/js/elicit-client.mjs <mcp url> <access token> <tool> <url|none>
//
// Prints one JSON line on stdout: `{"protocol_version", "result"}` when the call answered, or
// `{"protocol_version", "error": {"code", "message", "elicitations"}}` when it failed with a
// JSON-RPC error (e.g. -32042, URL elicitation required, which the SDK turns into
// `UrlElicitationRequiredError`). Exits 1 with the reason on stderr on anything else.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js';

const [url, token, tool, mode] = process.argv.slice(2);
if (!url || !token || !tool || !['url', 'none'].includes(mode)) {
    process.stderr.write('usage: elicit-client.mjs <mcp url> <access token> <tool> <url|none>\n');
    process.exit(2);
}
const timer = setTimeout(() => {
    process.stderr.write('elicit-client: no answer within 60 s\n');
    process.exit(1);
}, 60_000);

const capabilities = mode === 'url' ? { elicitation: { url: {} } } : {};
const client = new Client({ name: 'gumstack-elicit-test', version: '0.0.0' }, { capabilities });
const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
try {
    await client.connect(transport);
    const protocol_version = transport.protocolVersion;
    try {
        const result = await client.callTool({ name: tool, arguments: {} });
        console.log(JSON.stringify({ protocol_version, result }));
    } catch (error) {
        if (!(error instanceof McpError)) throw error;
        const elicitations = error instanceof UrlElicitationRequiredError ? error.elicitations : null;
        console.log(JSON.stringify({
            protocol_version,
            error: { code: error.code, message: error.message, elicitations },
        }));
    }
    await client.close();
} catch (error) {
    process.stderr.write(`elicit-client: FAILED: ${error?.stack ?? error}\n`);
    process.exit(1);
}
clearTimeout(timer);
