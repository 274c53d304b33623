// A real OAuth 2.0 / OpenID Connect authorization server for dtp-auth's
// integration tests: oidc-provider on 127.0.0.1 with a port chosen by the OS,
// an automatic login + consent interaction, short access-token lifetimes and
// refresh-token rotation.
//
// Started by dtp-auth/tests/common/oidc.rs. Protocol with the harness:
//   * the first stdout line is `LISTENING <port>`;
//   * the server exits when its stdin closes (the harness died or dropped it).
//
// Environment:
//   ACCESS_TTL   access token lifetime in seconds (default 60)
//   CLIENT_ID / CLIENT_SECRET   the one confidential client (native, loopback redirect)
//
// Test-only endpoint: GET /__test/stats -> {"grants": {"authorization_code": n, "refresh_token": n}, "grant_errors": n}

import http from 'node:http';
import Provider from 'oidc-provider';

const accessTtl = Number.parseInt(process.env.ACCESS_TTL ?? '60', 10);
const clientId = process.env.CLIENT_ID ?? 'dtp-test';
const clientSecret = process.env.CLIENT_SECRET ?? 'dtp-test-secret';

const stats = { grants: { authorization_code: 0, refresh_token: 0 }, grant_errors: 0, revocations: 0 };

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      application_type: 'native',
      // Loopback redirects of native clients match on any port (RFC 8252 7.3).
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    pkce: { required: () => true },
    features: {
      revocation: { enabled: true },
      userinfo: { enabled: true },
      devInteractions: { enabled: false },
    },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
    ttl: {
      AccessToken: accessTtl,
      RefreshToken: 24 * 60 * 60,
      Interaction: 600,
      Session: 600,
      Grant: 24 * 60 * 60,
      AuthorizationCode: 60,
      IdToken: 600,
    },
    rotateRefreshToken: () => true,
    // Expiry exactly at the TTL, so short TTLs test refresh paths.
    clockTolerance: 0,
    cookies: { keys: ['dtp-auth-test-cookie-key'] },
    async findAccount(_ctx, id) {
      return { accountId: id, async claims() { return { sub: id, name: 'Alice Example', email: 'alice@example.test' }; } };
    },
  });

  provider.on('grant.success', (ctx) => {
    const type = ctx.oidc.params?.grant_type;
    if (type in stats.grants) stats.grants[type] += 1;
  });
  provider.on('grant.error', () => { stats.grant_errors += 1; });
  provider.on('revocation.success', () => { stats.revocations += 1; });

  // The automatic interaction: log in as the login_hint (or "alice") and grant
  // every requested scope, then continue the authorization.
  provider.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/__test/stats') {
      ctx.body = stats;
      return;
    }
    if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      const { prompt, params, session } = details;
      if (prompt.name === 'login') {
        const accountId = typeof params.login_hint === 'string' && params.login_hint ? params.login_hint : 'alice';
        await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId } }, { mergeWithLastSubmission: false });
        ctx.respond = false;
        return;
      }
      if (prompt.name === 'consent') {
        let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
        if (!grant) grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
        if (typeof params.scope === 'string') grant.addOIDCScope(params.scope);
        const grantId = await grant.save();
        await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
        ctx.respond = false;
        return;
      }
      ctx.status = 400;
      ctx.body = `unexpected prompt ${prompt.name}`;
      return;
    }
    await next();
  });

  server.on('request', provider.callback());
  process.stdout.write(`LISTENING ${port}\n`);
});

// Die with the harness: when the test process goes away its end of our stdin closes.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
