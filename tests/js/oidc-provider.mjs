// A real, independently written OAuth 2.0 / OpenID Connect provider (`oidc-provider`, pinned in
// tests/js/package.json) for the end-to-end tests of the `oauth` auth type: the platform talks to
// it exactly as it would talk to Google or GitHub.
//
//   node tests/js/oidc-provider.mjs --redirect-uri <url> [--redirect-uri <url>...]
//       [--client-id <id>] [--client-secret <secret>] [--access-ttl <seconds>] [--port <port>]
//       [--require-pkce]
//
// One static confidential client (`client_secret_basic`, authorization_code + refresh_token,
// refresh tokens rotated on every use), scopes `openid email profile offline_access`, revocation and
// userinfo enabled. Nobody logs in: the interaction URL logs in the account named by the
// authorization request's `login_hint` (else `alice`) and grants what was asked, so a client
// that follows redirects with a cookie jar lands on `redirect_uri` with `code` and `state`.
// Account `<id>` has email `<id>@provider.test`; account `html` has `<b>bold</b>@provider.test`
// (for escaping tests).
//
// In front of the provider, on the same port, a layer of our own that the provider never sees:
//   GET  /__test/stats       what reached the token, revocation and userinfo endpoints (JSON)
//   POST /__test/fault       {"mode": "none"|"503"|"429"|"timeout"|"invalid_client"|
//                            "invalid_grant", "count": n?}: how to answer the next `count`
//                            refresh grants (all of them until reset when `count` is absent)
//   POST /__test/revoke-all  revokes every grant, so the next refresh is a real invalid_grant
//
// When it listens it prints exactly one JSON line on stdout (issuer and endpoints, from the
// provider's own discovery document) and runs until killed. Logs go to stderr.

import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
    options: {
        'redirect-uri': { type: 'string', multiple: true },
        'client-id': { type: 'string', default: 'gumstack-test-client' },
        'client-secret': { type: 'string', default: 'gumstack-test-secret' },
        'access-ttl': { type: 'string', default: '3600' },
        port: { type: 'string', default: '0' },
        'require-pkce': { type: 'boolean', default: false },
    },
    strict: true,
});

function log(message) {
    process.stderr.write(`oidc-provider: ${message}\n`);
}

function die(message) {
    log(`FAILED: ${message}`);
    process.exit(1);
}

const redirectUris = args['redirect-uri'] ?? die('at least one --redirect-uri is required');
const accessTtl = Number(args['access-ttl']);
if (!Number.isInteger(accessTtl) || accessTtl <= 0) die('--access-ttl must be a positive integer');
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0) die('--port must be a port number (0: any)');

// Fixed paths, so the layer knows which requests are token / userinfo / revocation requests
// before the provider exists; what the script prints still comes from discovery.
const ROUTES = {
    authorization: '/auth',
    token: '/token',
    userinfo: '/me',
    revocation: '/token/revocation',
    jwks: '/jwks',
};
const FAULT_MODES = ['none', '503', '429', 'timeout', 'invalid_client', 'invalid_grant'];
const TIMEOUT_FAULT_MS = 30_000;

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

const stats = {
    // Requests the provider answered (faulted ones are in `faulted` instead).
    token_requests: { authorization_code: 0, refresh_token: 0, other: 0 },
    // SHA-256 (hex) of each refresh token sent to the provider, in order.
    refresh_tokens_used: [],
    // Refresh grants whose token had already been sent to the provider once.
    refresh_token_reuse: 0,
    // Refresh grants the provider refused (any non-2xx answer, e.g. invalid_grant).
    refresh_token_errors: 0,
    // Refresh grants answered by the fault injection instead of the provider.
    faulted: 0,
    faulted_refresh_tokens: [],
    revocations: 0,
    userinfo: 0,
    userinfo_ok: 0,
    // The query of each authorization request, to check what the platform asked for
    // (scope, PKCE method, prompt, ...).
    authorizations: [],
};

let fault = { mode: 'none', remaining: Infinity };

// Every grant the provider stored, so /__test/revoke-all can revoke them all.
const grantIds = new Set();

// Test accounts exist on demand: any id is an account.
function emailOf(id) {
    return id === 'html' ? '<b>bold</b>@provider.test' : `${id}@provider.test`;
}

// `alice` is called "Alice Provider" (the `profile` scope's `name` claim).
function nameOf(id) {
    return `${id.charAt(0).toUpperCase()}${id.slice(1)} Provider`;
}

async function findAccount(_ctx, id) {
    return {
        accountId: id,
        async claims() {
            return { sub: id, email: emailOf(id), email_verified: true, name: nameOf(id) };
        },
    };
}

function jsonResponse(res, status, body, headers = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
}

async function readBody(req) {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    return Buffer.concat(chunks);
}

// The server listens first: the issuer must carry the real port, which is known only then.
let provider;
let providerCallback;
const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
        log(`layer error on ${req.method} ${req.url}: ${err.stack ?? err}`);
        if (!res.headersSent) jsonResponse(res, 500, { error: 'server_error' });
        else res.destroy();
    });
});

async function handle(req, res) {
    const url = new URL(req.url, 'http://layer');
    const path = url.pathname;

    if (path.startsWith('/__test/')) return control(req, res, path);
    if (path.startsWith('/interaction/')) return interaction(req, res);

    if (path === ROUTES.authorization) {
        stats.authorizations.push(Object.fromEntries(url.searchParams));
    } else if (path === ROUTES.userinfo) {
        stats.userinfo += 1;
        res.on('finish', () => {
            if (res.statusCode === 200) stats.userinfo_ok += 1;
        });
    } else if (path === ROUTES.revocation && req.method === 'POST') {
        stats.revocations += 1;
    } else if (path === ROUTES.token && req.method === 'POST') {
        // The form body is read here and handed to the provider as `req.body`, which it uses
        // when the stream is already consumed (it warns once about an "upstream parser").
        const body = await readBody(req);
        req.body = body;
        const form = new URLSearchParams(body.toString('utf8'));
        const grantType = form.get('grant_type');
        if (grantType === 'refresh_token') {
            const hash = sha256(form.get('refresh_token') ?? '');
            if (fault.mode !== 'none' && fault.remaining > 0) {
                fault.remaining -= 1;
                const { mode } = fault;
                if (fault.remaining === 0) fault = { mode: 'none', remaining: Infinity };
                stats.faulted += 1;
                stats.faulted_refresh_tokens.push(hash);
                return injectFault(req, res, mode);
            }
            stats.token_requests.refresh_token += 1;
            if (stats.refresh_tokens_used.includes(hash)) stats.refresh_token_reuse += 1;
            stats.refresh_tokens_used.push(hash);
            res.on('finish', () => {
                if (res.statusCode >= 300) stats.refresh_token_errors += 1;
            });
        } else if (grantType === 'authorization_code') {
            stats.token_requests.authorization_code += 1;
        } else {
            stats.token_requests.other += 1;
        }
    }
    return providerCallback(req, res);
}

function injectFault(req, res, mode) {
    log(`fault ${mode} on a refresh grant`);
    switch (mode) {
        case '503':
            return jsonResponse(res, 503, {
                error: 'temporarily_unavailable',
                error_description: 'injected 503',
            });
        case '429':
            return jsonResponse(
                res,
                429,
                { error: 'slow_down', error_description: 'injected 429' },
                { 'retry-after': '1' },
            );
        case 'invalid_client':
            return jsonResponse(res, 401, { error: 'invalid_client' });
        case 'invalid_grant':
            return jsonResponse(res, 400, {
                error: 'invalid_grant',
                error_description: 'injected invalid_grant',
            });
        case 'timeout': {
            // Holds the request; the client is expected to give up first. A client that waits
            // the whole time gets a 504 rather than a hang forever.
            const timer = setTimeout(() => {
                jsonResponse(res, 504, { error: 'temporarily_unavailable' });
            }, TIMEOUT_FAULT_MS);
            res.on('close', () => clearTimeout(timer));
            return undefined;
        }
        default:
            throw new Error(`unknown fault mode ${mode}`);
    }
}

async function control(req, res, path) {
    if (req.method === 'GET' && path === '/__test/stats') {
        return jsonResponse(res, 200, stats);
    }
    if (req.method === 'POST' && path === '/__test/fault') {
        let body;
        try {
            body = JSON.parse((await readBody(req)).toString('utf8'));
        } catch {
            return jsonResponse(res, 400, { error: 'the body must be JSON' });
        }
        const { mode, count } = body ?? {};
        if (!FAULT_MODES.includes(mode)) {
            return jsonResponse(res, 400, { error: `mode must be one of ${FAULT_MODES.join(', ')}` });
        }
        if (count !== undefined && count !== null && !(Number.isInteger(count) && count > 0)) {
            return jsonResponse(res, 400, { error: 'count must be a positive integer' });
        }
        fault = { mode, remaining: count ?? Infinity };
        log(`fault mode ${mode} for ${count ?? 'all'} refresh grants`);
        return jsonResponse(res, 200, { mode, count: count ?? null });
    }
    if (req.method === 'POST' && path === '/__test/revoke-all') {
        const revoked = [...grantIds];
        for (const grantId of revoked) {
            await Promise.all([
                provider.AccessToken.revokeByGrantId(grantId),
                provider.RefreshToken.revokeByGrantId(grantId),
                provider.AuthorizationCode.revokeByGrantId(grantId),
                provider.Grant.adapter.destroy(grantId),
            ]);
            grantIds.delete(grantId);
        }
        log(`revoked ${revoked.length} grants`);
        return jsonResponse(res, 200, { revoked: revoked.length });
    }
    return jsonResponse(res, 404, { error: 'unknown test endpoint' });
}

// Stands in for the login and consent pages: logs in `login_hint` (or alice) and grants every
// scope and claim asked for, then sends the browser back to the provider.
async function interaction(req, res) {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params } = details;
    let result;
    if (prompt.name === 'login') {
        const accountId = params.login_hint || 'alice';
        result = { login: { accountId } };
    } else if (prompt.name === 'consent') {
        const grant = details.grantId
            ? await provider.Grant.find(details.grantId)
            : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
        const missing = prompt.details;
        if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
        if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
            grant.addResourceScope(indicator, scopes.join(' '));
        }
        const grantId = await grant.save();
        result = { consent: details.grantId ? {} : { grantId } };
    } else {
        throw new Error(`unexpected interaction prompt ${prompt.name}`);
    }
    log(`interaction ${prompt.name} finished (${JSON.stringify(result)})`);
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

// A fresh signing key per run: without one the provider uses a published development key and
// warns about it.
const signingKey = {
    ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
    kid: randomUUID(),
    alg: 'RS256',
    use: 'sig',
};

provider = new Provider(issuer, {
    routes: ROUTES,
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomUUID()] },
    clients: [
        {
            client_id: args['client-id'],
            client_secret: args['client-secret'],
            token_endpoint_auth_method: 'client_secret_basic',
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            redirect_uris: redirectUris,
        },
    ],
    findAccount,
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
        devInteractions: { enabled: false },
        revocation: { enabled: true },
        userinfo: { enabled: true },
        // Off, as with most third-party providers: a `resource` parameter is then ignored.
        // When on, oidc-provider rejects any `resource` it has no resource-server info for
        // (invalid_target), and an access token for a resource server is not valid at userinfo.
        resourceIndicators: { enabled: false },
    },
    pkce: { required: () => args['require-pkce'] },
    // By default a refresh token comes only with `offline_access` requested under
    // `prompt=consent`; the platform's flow should get one whatever it asked for.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Refresh tokens outlive the provider's browser session, as with real providers.
    expiresWithSession: async () => false,
    // Every refresh issues a new refresh token and consumes the old one; presenting a consumed
    // one revokes the whole grant (oidc-provider's reuse detection).
    rotateRefreshToken: true,
    ttl: {
        AccessToken: accessTtl,
        AuthorizationCode: 60,
        IdToken: 3600,
        Interaction: 600,
        Session: 86400,
        Grant: 86400,
        RefreshToken: 86400,
    },
});
providerCallback = provider.callback();
provider.on('grant.saved', (grant) => grantIds.add(grant.jti));
provider.on('grant.error', (_ctx, err) => log(`grant error: ${err.message} (${err.error_detail ?? ''})`));
provider.on('authorization.error', (_ctx, err) => log(`authorization error: ${err.message} (${err.error_description ?? ''})`));
provider.on('server_error', (_ctx, err) => log(`server error: ${err.stack ?? err}`));

const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
process.stdout.write(`${JSON.stringify({
    issuer: discovery.issuer,
    authorize_url: discovery.authorization_endpoint,
    token_url: discovery.token_endpoint,
    userinfo_url: discovery.userinfo_endpoint,
    revocation_url: discovery.revocation_endpoint,
})}\n`);
log(`listening on ${issuer}`);
