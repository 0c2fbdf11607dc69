// A real OpenID Connect provider (panva/oidc-provider, a certified implementation) for
// callerdesk's sign-in tests. It listens on 127.0.0.1 (another site than the app, which the
// tests reach at localhost) and prints its issuer on the first line of stdout.
//
// The tests steer it over HTTP, the way they steer callerdesk's Plivo sandbox:
//   POST /__test/people  {"ada": {"groups": [...], "email": ..., "email_verified": true}}
//        who may sign in (any password), with the claims their ID token carries; `sub`
//        defaults to "sub-<login>".
//   POST /__test/client  {"redirect_uri": "http://localhost:PORT/login/oidc/callback"}
//        registers callerdesk (client "callerdesk", secret "callerdesk-test-secret").
//   POST /__test/rotate  the provider starts signing with a new key and drops the old one.
//   POST /__test/tamper  {"claim": "nonce" | "aud" | "exp" | null} makes the next ID tokens
//        carry a wrong nonce, another audience or a past expiry, signed with the provider's
//        own key (so only that check can catch them).
//
// Consent is granted without asking (as for a company's own apps); the login page is
// oidc-provider's own development page, which accepts any password.

import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

// stdout carries the issuer line only; oidc-provider's notices go to stderr.
console.log = console.error;
console.info = console.error;
console.warn = console.error;

const CLIENT_ID = 'callerdesk';
const CLIENT_SECRET = 'callerdesk-test-secret';

let people = {};
let redirectUris = [];
let tamper = null;
let signingKey = newKey();
let provider;
let issuer;

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

function base64url(data) {
  return Buffer.from(data).toString('base64url');
}

// Re-signs an ID token with one claim changed, with the provider's current key.
function tampered(idToken, claim) {
  const [header, payload] = idToken.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  if (claim === 'nonce') claims.nonce = 'not-the-nonce-callerdesk-sent';
  if (claim === 'aud') claims.aud = 'another-application';
  if (claim === 'exp') {
    claims.iat -= 7200;
    claims.exp = Math.floor(Date.now() / 1000) - 3600;
  }
  const body = `${header}.${base64url(JSON.stringify(claims))}`;
  const key = crypto.createPrivateKey({ key: signingKey, format: 'jwk' });
  const signature = crypto.sign('sha256', Buffer.from(body), key);
  return `${body}.${signature.toString('base64url')}`;
}

function build() {
  const p = new Provider(issuer, {
    clients: redirectUris.length === 0 ? [] : [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: redirectUris,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [signingKey] },
    pkce: { required: () => true, methods: ['S256'] },
    cookies: { keys: ['callerdesk-test-provider-cookie-key'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      // Groups come with the profile, as Keycloak's and Entra ID's ID tokens carry them
      // without a scope of their own.
      profile: ['preferred_username', 'name', 'groups'],
    },
    scopes: ['openid', 'email', 'profile'],
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    async findAccount(ctx, id) {
      const person = people[id];
      if (!person) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: `sub-${id}`, preferred_username: id, ...person };
        },
      };
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  p.use(async (ctx, next) => {
    await next();
    if (tamper && ctx.path === '/token' && ctx.body && ctx.body.id_token) {
      ctx.body = { ...ctx.body, id_token: tampered(ctx.body.id_token, tamper) };
    }
  });
  return p;
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let text = '';
    req.on('data', (chunk) => { text += chunk; });
    req.on('end', () => {
      try { resolve(text ? JSON.parse(text) : {}); } catch (e) { reject(e); }
    });
  });
}

const server = http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/__test/')) {
    try {
      const body = await readJson(req);
      switch (req.url) {
        case '/__test/people': people = body; break;
        case '/__test/client': redirectUris = [body.redirect_uri]; provider = build(); break;
        case '/__test/rotate': signingKey = newKey(); provider = build(); break;
        case '/__test/tamper': tamper = body.claim ?? null; break;
        default: res.writeHead(404).end(); return;
      }
      res.writeHead(204).end();
    } catch (e) {
      res.writeHead(400).end(String(e));
    }
    return;
  }
  provider.callback()(req, res);
});

server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  provider = build();
  process.stdout.write(`${issuer}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
