/**
 * A real, standards-compliant OAuth 2.0 authorization server (panva's `oidc-provider`)
 * for end-to-end tests. Listens on 127.0.0.1 on a free port, issues RS256-signed JWT
 * access tokens (RFC 9068) for one audience, supports the client_credentials and
 * refresh_token grants (refresh tokens rotate), and counts token endpoint requests.
 *
 * oidc-provider 9.x is ESM-only; it is loaded with a real dynamic import() that the
 * CommonJS output of tsc leaves alone.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

export interface OAuthServerOptions {
  /** Access token lifetime in seconds (tests use 2). */
  accessTokenTtl: number;
  /** Clients allowed to use the client_credentials and refresh_token grants. */
  clients: { clientId: string; clientSecret: string }[];
  /** The audience (resource indicator) put in JWT access tokens, e.g. 'urn:rps:desk-b'. */
  audience: string;
  /** Refresh token lifetime in seconds, default 86400. */
  refreshTokenTtl?: number;
  /** Scope the resource server (audience) knows, granted to minted refresh tokens. Default 'sync'. */
  scope?: string;
}

export interface TokenRequestCounts {
  client_credentials: number;
  refresh_token: number;
  succeeded: number;
  failed: number;
}

// ---------------------------------------------------------------------------------------------
// Minimal typings for the parts of oidc-provider used here (no @types dependency).

interface ProviderModel {
  save(): Promise<string>;
}
interface GrantModel extends ProviderModel {
  addOIDCScope(scope: string): void;
  addResourceScope(resource: string, scope: string): void;
}
interface ProviderInstance {
  issuer: string;
  Client: { find(id: string): Promise<unknown | undefined> };
  Grant: new (props: { accountId: string; clientId: string }) => GrantModel;
  RefreshToken: new (props: Record<string, unknown>) => ProviderModel;
  use(fn: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
  callback(): http.RequestListener;
  on(event: string, fn: (...args: unknown[]) => void): void;
}
interface KoaContext {
  method: string;
  path: string;
  status: number;
  oidc?: { params?: Record<string, unknown> };
}
interface OidcProviderModule {
  Provider: new (issuer: string, config: Record<string, unknown>) => ProviderInstance;
  errors: { InvalidTarget: new (description?: string) => Error };
}

// A dynamic import() that TypeScript's CommonJS emit does not rewrite into require().
const importEsm = new Function('specifier', 'return import(specifier)') as (
  specifier: string,
) => Promise<OidcProviderModule>;

let loaded: Promise<OidcProviderModule> | undefined;

/**
 * Loads oidc-provider once. It prints "Unsupported runtime" on Node < 22 when evaluated; that
 * single warning is swallowed (the features used here work on Node 20).
 */
function loadOidcProvider(): Promise<OidcProviderModule> {
  loaded ??= (async () => {
    const url = pathToFileURL(require.resolve('oidc-provider')).href;
    const original = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider WARNING: Unsupported runtime')) return;
      original.apply(console, args);
    };
    try {
      return await importEsm(url);
    } finally {
      console.warn = original;
    }
  })();
  return loaded;
}

// ---------------------------------------------------------------------------------------------
// A small in-process storage adapter (configuring one avoids the dev-adapter warning and keeps
// every server's state separate).

interface Stored {
  payload: Record<string, unknown>;
  expiresAt: number; // ms epoch, Infinity if no expiry
}

class MemoryStore {
  private readonly items = new Map<string, Stored>();

  get(key: string): Record<string, unknown> | undefined {
    const item = this.items.get(key);
    if (!item) return undefined;
    if (item.expiresAt <= Date.now()) {
      this.items.delete(key);
      return undefined;
    }
    return item.payload;
  }

  set(key: string, payload: Record<string, unknown>, expiresIn?: number): void {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    this.items.set(key, { payload, expiresAt });
  }

  delete(key: string): void {
    this.items.delete(key);
  }

  entries(): [string, Record<string, unknown>][] {
    const out: [string, Record<string, unknown>][] = [];
    for (const key of [...this.items.keys()]) {
      const payload = this.get(key);
      if (payload) out.push([key, payload]);
    }
    return out;
  }
}

function adapterFactory(store: MemoryStore) {
  return (model: string) => {
    const key = (id: string) => `${model}:${id}`;
    const findBy = (field: string, value: string) => {
      for (const [k, payload] of store.entries()) {
        if (k.startsWith(`${model}:`) && payload[field] === value) return payload;
      }
      return undefined;
    };
    return {
      async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number) {
        store.set(key(id), payload, expiresIn);
      },
      async find(id: string) {
        return store.get(key(id));
      },
      async findByUid(uid: string) {
        return findBy('uid', uid);
      },
      async findByUserCode(userCode: string) {
        return findBy('userCode', userCode);
      },
      async consume(id: string) {
        const payload = store.get(key(id));
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id: string) {
        store.delete(key(id));
      },
      async revokeByGrantId(grantId: string) {
        for (const [k, payload] of store.entries()) {
          if (payload.grantId === grantId) store.delete(k);
        }
      },
    };
  };
}

// ---------------------------------------------------------------------------------------------

/** The one (fictional) end user on whose behalf minted refresh tokens were granted. */
const ACCOUNT_ID = 'e2e-user';

export class OAuthServer {
  readonly issuer: string;
  readonly tokenUrl: string;
  readonly jwksUrl: string;
  /** While true, the token endpoint answers 503 (an outage of the authorization server behind its load balancer); the JWKS still answers. */
  tokenEndpointDown = false;

  private readonly counts: TokenRequestCounts = { client_credentials: 0, refresh_token: 0, succeeded: 0, failed: 0 };

  private constructor(
    private readonly server: http.Server,
    private readonly provider: ProviderInstance,
    private readonly options: Required<OAuthServerOptions>,
  ) {
    this.issuer = provider.issuer;
    this.tokenUrl = `${this.issuer}/token`;
    this.jwksUrl = `${this.issuer}/jwks`;
    provider.use(async (ctx, next) => {
      const isToken = ctx.method === 'POST' && ctx.path === '/token';
      try {
        await next();
      } finally {
        if (isToken) {
          const grantType = ctx.oidc?.params?.grant_type;
          if (grantType === 'client_credentials' || grantType === 'refresh_token') this.counts[grantType] += 1;
          if (ctx.status >= 200 && ctx.status < 300) this.counts.succeeded += 1;
          else this.counts.failed += 1;
        }
      }
    });
  }

  static async start(o: OAuthServerOptions): Promise<OAuthServer> {
    const options: Required<OAuthServerOptions> = { refreshTokenTtl: 86_400, scope: 'sync', ...o };
    const { Provider, errors } = await loadOidcProvider();

    // Listen first so the issuer (which must contain the port) is known before configuring.
    let handler: http.RequestListener = (_req, res) => {
      res.statusCode = 503;
      res.end();
    };
    const server = http.createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const issuer = `http://127.0.0.1:${port}`;

    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };

    const { accessTokenTtl, refreshTokenTtl, audience, scope } = options;
    const resourceServer = {
      audience,
      scope,
      accessTokenTTL: accessTokenTtl,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256' } },
    };

    const provider = new Provider(issuer, {
      adapter: adapterFactory(new MemoryStore()),
      jwks: { keys: [jwk] },
      clients: options.clients.map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        grant_types: ['client_credentials', 'refresh_token'],
        response_types: [],
        redirect_uris: [],
        // client_secret_post is accepted too: oidc-provider treats the two as interchangeable.
        token_endpoint_auth_method: 'client_secret_basic',
      })),
      findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: { enabled: false },
        revocation: { enabled: false },
        userinfo: { enabled: false },
        resourceIndicators: {
          enabled: true,
          // Every token request without `resource` is for the one audience...
          defaultResource: async () => audience,
          // ...and refresh_token grants keep using the audience the grant was given for.
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx: unknown, resourceIndicator: string) => {
            if (resourceIndicator !== audience) throw new errors.InvalidTarget();
            return resourceServer;
          },
        },
      },
      rotateRefreshToken: true,
      issueRefreshToken: async () => true,
      ttl: {
        AccessToken: accessTokenTtl,
        ClientCredentials: accessTokenTtl,
        RefreshToken: refreshTokenTtl,
        Grant: Math.max(refreshTokenTtl * 10, 365 * 86_400),
        AuthorizationCode: 60,
        IdToken: 3600,
        Interaction: 3600,
        Session: 86_400,
        DeviceCode: 600,
        BackchannelAuthenticationRequest: 600,
        PreAuthorizedCode: 600,
      },
      // Error pages are never rendered for the token endpoint, but keep the default notice away.
      renderError: async (ctx: { type: string; body: unknown }, out: Record<string, unknown>) => {
        ctx.type = 'json';
        ctx.body = out;
      },
    });
    // Koa logs unexpected errors to stderr unless told otherwise; tests assert on responses instead.
    (provider as unknown as { silent: boolean }).silent = true;
    const oauthServer = new OAuthServer(server, provider, options); // registers the counting middleware
    const callback = provider.callback(); // Koa composes the middleware stack here, so only now
    handler = (req, res) => {
      if (oauthServer.tokenEndpointDown && req.method === 'POST' && req.url?.startsWith('/token')) {
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end('{"error":"temporarily_unavailable"}');
        return;
      }
      void callback(req, res);
    };
    return oauthServer;
  }

  /** Token endpoint requests so far, by grant type, and how many succeeded. */
  tokenRequests(): TokenRequestCounts {
    return { ...this.counts };
  }

  /**
   * Creates a refresh token for this client as if a user had granted consent once (scopes
   * `offline_access` plus the resource server scope, for the audience), without a browser.
   */
  async mintRefreshToken(clientId: string): Promise<string> {
    const client = await this.provider.Client.find(clientId);
    if (!client) throw new Error(`unknown client ${clientId}`);
    const { audience, scope } = this.options;

    const grant = new this.provider.Grant({ accountId: ACCOUNT_ID, clientId });
    grant.addOIDCScope('offline_access');
    grant.addResourceScope(audience, scope);
    const grantId = await grant.save();

    const refreshToken = new this.provider.RefreshToken({
      client,
      accountId: ACCOUNT_ID,
      grantId,
      gty: 'authorization_code',
      scope: `offline_access ${scope}`,
      resource: audience,
      expiresWithSession: false,
      authTime: Math.floor(Date.now() / 1000),
    });
    return refreshToken.save();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }
}
