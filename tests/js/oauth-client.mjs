// The official TypeScript MCP SDK client, driven through Gumstack's whole OAuth flow without a
// person, then calling tools through the gateway.
//
//   node tests/js/oauth-client.mjs <mcp url> <email> <password> [permissions]
//
// What the SDK does by itself: 401 → protected resource metadata → authorization server
// metadata → dynamic client registration → authorization URL (PKCE S256, `resource`, `state`)
// → code exchange → bearer tokens → refresh on a 401. What this script does in place of a
// person with a browser: follow the authorization URL's redirects keeping cookies, fill in the
// login form with the test account, approve the consent form, and take `code` from the
// redirect to `redirect_uri`.
//
// With `permissions`, after logging in it checks a tool the caller's group denies: it lists the
// tools, calls `greet` expecting the gateway's JSON-RPC error, prints that as one JSON line
// (`"phase": "denied"`), waits for a line on stdin (an admin allows the tool meanwhile), then
// lists and calls again on the same session and token, and prints the result line.
//
// On success it prints exactly one JSON line on stdout (two in `permissions` mode) and exits 0. On any failure it prints
// `oauth-client: FAILED: <reason>` (plus the steps so far) on stderr and exits 1. Progress goes
// to stderr. Every HTTP request has a timeout, and the whole run is bounded.

import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

const OVERALL_TIMEOUT_MS = 90_000;
const REQUEST_TIMEOUT_MS = 20_000;
const MAX_BROWSER_STEPS = 12;

const steps = [];
function step(message) {
    steps.push(message);
    process.stderr.write(`oauth-client: ${message}\n`);
}

class Failure extends Error {}
function fail(message) {
    throw new Failure(message);
}

function sdkVersion() {
    const url = new URL('./node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url);
    try {
        return JSON.parse(readFileSync(url, 'utf8')).version;
    } catch {
        return 'unknown';
    }
}

/** A loopback port nobody listens on (bound, then released): the redirect target never runs. */
function unusedPort() {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Every request the SDK makes goes through this fetch: it counts requests to the token endpoint
// by grant_type (and their statuses), and registrations.

const counts = {
    token_requests: {},
    token_statuses: {},
    registrations: 0,
    mcp_unauthorized: 0,
};
let tokenEndpoint;
let registrationEndpoint;

function withTimeout(init) {
    return { ...init, signal: init?.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
}

function bodyParams(body) {
    if (body instanceof URLSearchParams) return body;
    if (typeof body === 'string') return new URLSearchParams(body);
    return undefined;
}

async function countingFetch(input, init) {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const path = url.origin + url.pathname;
    let grantType;
    if (method === 'POST' && tokenEndpoint && path === tokenEndpoint) {
        grantType = bodyParams(init?.body)?.get('grant_type') ?? '(none)';
        counts.token_requests[grantType] = (counts.token_requests[grantType] ?? 0) + 1;
    }
    if (method === 'POST' && registrationEndpoint && path === registrationEndpoint) {
        counts.registrations += 1;
    }
    const response = await fetch(input, withTimeout(init));
    if (grantType) {
        (counts.token_statuses[grantType] ??= []).push(response.status);
        step(`token endpoint, grant_type=${grantType}: ${response.status}`);
    } else if (response.status === 401) {
        counts.mcp_unauthorized += 1;
        step(`${method} ${url.pathname}: 401 (${response.headers.get('www-authenticate') ?? 'no WWW-Authenticate'})`);
    } else if (!response.ok) {
        step(`${method} ${url.pathname}: ${response.status}`);
    }
    return response;
}

// ---------------------------------------------------------------------------------------------
// A user agent without a person: cookies, redirects, the login form and the consent form.

const cookieJar = new Map();

function storeCookies(response) {
    for (const header of response.headers.getSetCookie()) {
        const [pair, ...attributes] = header.split(';');
        const eq = pair.indexOf('=');
        if (eq <= 0) continue;
        const name = pair.slice(0, eq).trim();
        const value = pair.slice(eq + 1).trim();
        const expired = attributes.some(a => /^\s*max-age\s*=\s*(0|-\d+)\s*$/i.test(a));
        if (expired || value === '') cookieJar.delete(name);
        else cookieJar.set(name, value);
    }
}

function cookieHeader() {
    return [...cookieJar].map(([k, v]) => `${k}=${v}`).join('; ');
}

async function browserRequest(url, { method = 'GET', form } = {}) {
    const headers = { accept: 'text/html' };
    if (cookieJar.size) headers.cookie = cookieHeader();
    let body;
    if (form) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(form).toString();
    }
    const response = await fetch(url, withTimeout({ method, headers, body, redirect: 'manual' }));
    storeCookies(response);
    const text = await response.text();
    return { status: response.status, location: response.headers.get('location'), text };
}

function decodeEntities(s) {
    return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e) => {
        const lower = e.toLowerCase();
        if (lower === 'amp') return '&';
        if (lower === 'lt') return '<';
        if (lower === 'gt') return '>';
        if (lower === 'quot') return '"';
        if (lower === 'apos') return "'";
        if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
        return String.fromCodePoint(parseInt(lower.slice(1), 10));
    });
}

function attributes(tag) {
    const out = {};
    for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
        out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
    }
    return out;
}

/** The forms of a page: action, method, and every input and button with a name. */
function forms(html) {
    const out = [];
    for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
        const formAttrs = attributes(m[1]);
        const inputs = [];
        for (const t of m[2].matchAll(/<(input|button)\b([^>]*)>/gi)) {
            const a = attributes(t[2]);
            if (a.name !== undefined) inputs.push({ tag: t[1].toLowerCase(), ...a });
        }
        out.push({ action: formAttrs.action ?? '', method: (formAttrs.method ?? 'get').toLowerCase(), inputs });
    }
    return out;
}

function hiddenFields(form) {
    return form.inputs.filter(i => i.tag === 'input' && i.type === 'hidden').map(i => [i.name, i.value ?? '']);
}

function excerpt(html) {
    return html.replace(/\s+/g, ' ').slice(0, 600);
}

/**
 * Follows the authorization URL as a browser would until the redirect to `redirectUri`;
 * returns that URL.
 */
async function authorizeWithoutPerson(authorizationUrl, redirectUri, email, password) {
    let url = new URL(authorizationUrl);
    let request = { method: 'GET' };
    let loggedIn = false;
    let consented = false;
    for (let i = 0; i < MAX_BROWSER_STEPS; i++) {
        const response = await browserRequest(url, request);
        step(`browser ${request.method} ${url.pathname}: ${response.status}`);
        if ([301, 302, 303, 307, 308].includes(response.status)) {
            if (!response.location) fail(`${response.status} from ${url.pathname} without Location`);
            const next = new URL(response.location, url);
            if (next.href.startsWith(redirectUri)) return next;
            url = next;
            request = { method: 'GET' };
            continue;
        }
        if (response.status !== 200) {
            fail(`${request.method} ${url.pathname} answered ${response.status}: ${excerpt(response.text)}`);
        }
        const pageForms = forms(response.text);
        const login = pageForms.find(f => f.inputs.some(i => i.name === 'password'));
        const consent = pageForms.find(f => f.inputs.some(i => i.name === 'decision' && i.value === 'approve'));
        if (login) {
            if (loggedIn) fail(`the login form came back after logging in: ${excerpt(response.text)}`);
            loggedIn = true;
            const fields = hiddenFields(login);
            if (!fields.some(([k]) => k === 'csrf')) fail('the login form has no hidden csrf input');
            fields.push(['email', email], ['password', password]);
            url = new URL(login.action || url.href, url);
            request = { method: 'POST', form: fields };
            continue;
        }
        if (consent) {
            if (consented) fail(`the consent form came back after approving: ${excerpt(response.text)}`);
            consented = true;
            if (consent.method !== 'post') fail(`the consent form's method is ${consent.method}, not post`);
            const fields = hiddenFields(consent);
            for (const name of ['csrf', 'client_id', 'redirect_uri', 'code_challenge', 'state', 'resource']) {
                if (!fields.some(([k]) => k === name)) fail(`the consent form has no hidden ${name} input`);
            }
            fields.push(['decision', 'approve']);
            url = new URL(consent.action || url.href, url);
            request = { method: 'POST', form: fields };
            continue;
        }
        fail(`${url.pathname} is neither a login nor a consent page: ${excerpt(response.text)}`);
    }
    fail(`no redirect to ${redirectUri} after ${MAX_BROWSER_STEPS} steps`);
}

// ---------------------------------------------------------------------------------------------
// The OAuthClientProvider: everything in memory, stored exactly as the SDK hands it over.

class ScriptedProvider {
    constructor({ redirectUri, email, password }) {
        this._redirectUri = redirectUri;
        this._email = email;
        this._password = password;
        this._clientInformation = undefined;
        this._tokens = undefined;
        this._codeVerifier = undefined;
        this._discovery = undefined;
        this._state = undefined;
        this.authorizations = 0;
        this.allowAuthorization = true;
        this.code = undefined;
        this.callback = undefined;
        this.authorizationUrl = undefined;
    }

    get redirectUrl() {
        return this._redirectUri;
    }

    get clientMetadata() {
        return {
            client_name: 'Gumstack TS SDK test client',
            redirect_uris: [this._redirectUri],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'none',
        };
    }

    state() {
        this._state = randomBytes(16).toString('base64url');
        return this._state;
    }

    clientInformation() {
        return this._clientInformation;
    }

    saveClientInformation(info) {
        this._clientInformation = info;
        step(`registered client ${info.client_id}`);
    }

    tokens() {
        return this._tokens;
    }

    saveTokens(tokens) {
        this._tokens = tokens;
        step(`saved tokens (refresh token: ${tokens.refresh_token ? 'yes' : 'no'}, expires_in: ${tokens.expires_in})`);
    }

    saveCodeVerifier(verifier) {
        this._codeVerifier = verifier;
    }

    codeVerifier() {
        if (!this._codeVerifier) fail('the SDK asked for a code verifier before saving one');
        return this._codeVerifier;
    }

    discoveryState() {
        return this._discovery;
    }

    saveDiscoveryState(state) {
        this._discovery = state;
        const metadata = state.authorizationServerMetadata;
        if (metadata) {
            tokenEndpoint = new URL(metadata.token_endpoint).origin + new URL(metadata.token_endpoint).pathname;
            if (metadata.registration_endpoint) {
                const r = new URL(metadata.registration_endpoint);
                registrationEndpoint = r.origin + r.pathname;
            }
        }
    }

    get issuer() {
        return this._discovery?.authorizationServerMetadata?.issuer;
    }

    get resource() {
        return this._discovery?.resourceMetadata?.resource;
    }

    /** Drops the access token (keeps the refresh token), as if it had been revoked or expired. */
    spoilAccessToken() {
        if (!this._tokens?.refresh_token) fail('no refresh token was issued, so a refresh cannot be tested');
        this._tokens = { ...this._tokens, access_token: `spoiled-${randomBytes(16).toString('hex')}` };
    }

    async redirectToAuthorization(authorizationUrl) {
        this.authorizations += 1;
        if (!this.allowAuthorization) {
            fail(`the SDK started a new authorization (${authorizationUrl.pathname}) where it should have used or refreshed its tokens`);
        }
        this.authorizationUrl = authorizationUrl;
        const params = authorizationUrl.searchParams;
        step(
            `authorize: response_type=${params.get('response_type')} code_challenge_method=${params.get('code_challenge_method')} ` +
                `resource=${params.get('resource')} scope=${params.get('scope')}`,
        );
        const callback = await authorizeWithoutPerson(authorizationUrl, this._redirectUri, this._email, this._password);
        this.callback = callback;
        const error = callback.searchParams.get('error');
        if (error) fail(`authorization answered error=${error} (${callback.searchParams.get('error_description') ?? ''})`);
        const code = callback.searchParams.get('code');
        if (!code) fail(`the redirect carries no code: ${callback.href}`);
        if (callback.searchParams.get('state') !== this._state) {
            fail(`state mismatch: sent ${this._state}, got ${callback.searchParams.get('state')}`);
        }
        this.code = code;
        step('got an authorization code');
    }
}

// ---------------------------------------------------------------------------------------------

function textOf(result) {
    return (result.content ?? [])
        .filter(c => c.type === 'text')
        .map(c => c.text)
        .join('\n');
}

async function callTool(client, name, args) {
    const result = await client.callTool({ name, arguments: args });
    const text = textOf(result);
    step(`tools/call ${name}: ${result.isError ? 'isError ' : ''}${JSON.stringify(text)}`);
    if (result.isError) fail(`tool ${name} returned an error: ${text}`);
    return text;
}

function newTransport(mcpUrl, provider) {
    return new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: countingFetch });
}

/** The test's go-ahead: anything on stdin (a line; stdin may close right after it). */
function goAhead() {
    return new Promise((resolve, reject) => {
        let done = false;
        process.stdin.once('data', () => {
            done = true;
            process.stdin.pause();
            resolve();
        });
        process.stdin.once('end', () => {
            if (!done) reject(new Failure('stdin closed before the go-ahead'));
        });
    });
}

/** `permissions` mode: a denied tool is hidden and refused, then allowed on the next call. */
async function deniedThenAllowed(client) {
    const tools = (await client.listTools()).tools.map(t => t.name).sort();
    step(`tools: ${tools.join(', ')}`);
    let denied;
    try {
        const result = await client.callTool({ name: 'greet', arguments: { name: 'Ada' } });
        fail(`the denied tool answered: ${JSON.stringify(result)}`);
    } catch (error) {
        if (!(error instanceof McpError)) throw error;
        denied = { code: error.code, message: error.message };
        step(`tools/call greet refused: ${error.code} ${error.message}`);
    }
    process.stdout.write(`${JSON.stringify({ phase: 'denied', tools, denied })}\n`);
    await goAhead();
    const toolsAfter = (await client.listTools()).tools.map(t => t.name).sort();
    const greet = await callTool(client, 'greet', { name: 'Ada' });
    return { ok: true, phase: 'allowed', sdk_version: sdkVersion(), tools_after: toolsAfter, greet };
}

async function main() {
    const [mcpUrlArg, email, password, mode] = process.argv.slice(2);
    if (!mcpUrlArg || !email || !password || (mode && mode !== 'permissions')) {
        fail('usage: node oauth-client.mjs <mcp url> <email> <password> [permissions]');
    }
    const mcpUrl = new URL(mcpUrlArg);
    const redirectUri = `http://127.0.0.1:${await unusedPort()}/callback`;
    const provider = new ScriptedProvider({ redirectUri, email, password });

    // 1. Connect without a token: the SDK discovers, registers and starts the authorization,
    //    which redirectToAuthorization completes; connect then fails with UnauthorizedError.
    const first = newTransport(mcpUrl, provider);
    const firstClient = new Client({ name: 'gumstack-ts-oauth-test', version: '0.0.0' });
    try {
        await firstClient.connect(first);
        fail('the MCP server accepted a connection without a token');
    } catch (error) {
        if (error instanceof Failure) throw error;
        if (!(error instanceof UnauthorizedError)) throw error;
    }
    if (!provider.code) fail('the SDK never asked to open the authorization URL');
    step('connect without a token: UnauthorizedError, as expected');

    // 2. Exchange the code (authorization_code grant, PKCE verifier, resource).
    await first.finishAuth(provider.code);
    await first.close().catch(() => {});
    if (!provider.tokens()?.access_token) fail('finishAuth stored no access token');
    const firstAccessToken = provider.tokens().access_token;
    provider.allowAuthorization = false;

    // 3. Reconnect with the token and call the tools.
    const client = new Client({ name: 'gumstack-ts-oauth-test', version: '0.0.0' });
    await client.connect(newTransport(mcpUrl, provider));
    step('connected with the access token');
    if (mode === 'permissions') {
        const result = await deniedThenAllowed(client);
        await client.close().catch(() => {});
        return result;
    }
    const tools = (await client.listTools()).tools.map(t => t.name).sort();
    step(`tools: ${tools.join(', ')}`);
    const greet = await callTool(client, 'greet', { name: 'Ada' });
    const whoami = await callTool(client, 'whoami', {});

    // 4. Spoil the access token: the next call gets a 401, on which the SDK uses the refresh
    //    token and retries.
    provider.spoilAccessToken();
    const greetAfterRefresh = await callTool(client, 'greet', { name: 'Ada' });
    const refreshedAccessToken = provider.tokens().access_token;
    await client.close().catch(() => {});

    return {
        ok: true,
        sdk_version: sdkVersion(),
        issuer: provider.issuer ?? null,
        resource: provider.resource ?? null,
        callback_iss: provider.callback?.searchParams.get('iss') ?? null,
        authorize_resource: provider.authorizationUrl?.searchParams.get('resource') ?? null,
        code_challenge_method: provider.authorizationUrl?.searchParams.get('code_challenge_method') ?? null,
        client_id: provider.clientInformation()?.client_id ?? null,
        tools,
        greet,
        whoami,
        greet_after_refresh: greetAfterRefresh,
        registrations: counts.registrations,
        authorizations: provider.authorizations,
        token_requests: counts.token_requests,
        token_statuses: counts.token_statuses,
        mcp_unauthorized: counts.mcp_unauthorized,
        refreshed: (counts.token_requests.refresh_token ?? 0) > 0,
        access_token_changed: refreshedAccessToken !== firstAccessToken && !refreshedAccessToken.startsWith('spoiled-'),
    };
}

const timer = setTimeout(() => {
    process.stderr.write(`oauth-client: FAILED: no result after ${OVERALL_TIMEOUT_MS} ms\nsteps: ${JSON.stringify(steps)}\n`);
    process.exit(1);
}, OVERALL_TIMEOUT_MS);

main().then(
    result => {
        clearTimeout(timer);
        process.stdout.write(`${JSON.stringify(result)}\n`);
        process.exit(0);
    },
    error => {
        clearTimeout(timer);
        let message = error instanceof Failure ? error.message : error?.stack ?? String(error);
        for (let cause = error?.cause; cause; cause = cause.cause) {
            message += `\n  caused by: ${cause.message ?? String(cause)}`;
        }
        process.stderr.write(`oauth-client: FAILED: ${message}\nsteps: ${JSON.stringify(steps)}\n`);
        process.exit(1);
    },
);
