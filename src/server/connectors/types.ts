/**
 * The connector contract (DESIGN.md, "Connectors"): `provision` makes a grant real on the target
 * and returns the credential the grantee gets; `revoke` takes it away. Both are idempotent and
 * safe to retry; "already gone" counts as revoked. Each grant gets its own identity on the
 * target, so overlapping grants never revoke each other.
 */
export interface GrantTarget {
  grantId: string;
  user: string;
  resource: string;
  role: string;
  /** The resource's `config` block from the configuration file. */
  config: Record<string, unknown>;
  /** Start of the access window (epoch ms). */
  startsAt: number;
  /** End of the access window (epoch ms); the credential must not outlive it. */
  expiresAt: number;
  /** The requester's public key, for connectors that sign certificates. */
  publicKey: string | null;
}

export interface Provisioned {
  credential: Record<string, unknown>;
}

export interface Revoked {
  /** Facts for the audit trail, e.g. `{ sessionsTerminated: 2 }` or `{ note: 'already_absent' }`. */
  audit?: Record<string, unknown>;
}

/** What a request brings that a connector may need to check before anyone reviews it. */
export interface RequestInput {
  resource: string;
  role: string;
  config: Record<string, unknown>;
  publicKey: string | null;
}

/** A file the server publishes without authentication (e.g. the SSH key revocation list). */
export interface PublicFile {
  contentType: string;
  body(): Promise<Buffer | string>;
}

/**
 * What is wrong with a resource's connector config, and the key of `config` it is about (dotted,
 * like `roles.admin`; null for the config as a whole), so the loader can put it on that key's line.
 * `message` is the whole sentence (it also fails grants at run time); `detail` is it without the
 * resource and key.
 */
export class ConnectorConfigError extends Error {
  constructor(message: string, readonly key: string | null, readonly detail: string) {
    super(message);
    this.name = 'ConnectorConfigError';
  }
}

export interface Connector {
  readonly kind: string;
  /**
   * Throws (a ConnectorConfigError naming the key, where it can) when a resource's config is
   * wrong. `roles` are the resource's Latch roles, for connectors that map each one to something
   * on the target.
   */
  checkConfig(config: Record<string, unknown>, resource: string, roles?: readonly string[]): void;
  /** Returns why a request cannot be served (e.g. a missing SSH public key), or null. */
  checkRequest?(input: RequestInput): string | null;
  /** Unauthenticated GET routes this connector publishes, by path (e.g. `/v1/ssh/krl`). */
  readonly publicFiles?: Record<string, PublicFile>;
  provision(target: GrantTarget): Promise<Provisioned>;
  /**
   * `signal` aborts when the server gives up on the call (its connector timeout): let go of what the
   * call holds (connections, sockets), so a hung target does not tie them up; the revoke is retried.
   */
  revoke(target: GrantTarget, signal?: AbortSignal): Promise<Revoked>;
  /** Moves the end of the window of an active grant (extensions); returns a new credential if it changes. */
  extend?(target: GrantTarget): Promise<Provisioned | void>;
  close?(): Promise<void>;
}

export type ConnectorRegistry = ReadonlyMap<string, Connector>;
