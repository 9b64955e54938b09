/**
 * An in-memory connector (kind `fake`) for tests: it records every provision, revoke and extend
 * call, keeps the set of grants "live on the target", and can be told to fail or hang a number of
 * calls (optionally only for the grants a predicate picks).
 */
import type { Clock } from '../../shared/clock.js';
import type { Connector, GrantTarget, Provisioned, Revoked } from '../connectors/types.js';

export type FakeOp = 'provision' | 'revoke' | 'extend';

export interface FakeCall {
  op: FakeOp;
  grantId: string;
  target: GrantTarget;
  /** The clock's time when the call was made. */
  at: number;
  outcome: 'ok' | 'failed' | 'hung';
}

interface Rule {
  op: FakeOp;
  mode: 'fail' | 'hang';
  remaining: number;
  message: string;
  match: (t: GrantTarget) => boolean;
}

export interface FaultOptions {
  /** Only calls for grants this picks (default: every grant). */
  match?: (t: GrantTarget) => boolean;
  /** The error message of a failure. */
  message?: string;
}

export class FakeConnector implements Connector {
  readonly kind = 'fake';
  readonly calls: FakeCall[] = [];
  /** Grant ids currently provisioned on the "target". */
  readonly live = new Set<string>();
  private rules: Rule[] = [];
  private readonly hung: (() => void)[] = [];

  /** `clock` stamps each call (pass the server's ManualClock to see when, in its time, calls came). */
  constructor(private readonly clock: Pick<Clock, 'now'> = { now: () => Date.now() }) {}

  checkConfig(config: Record<string, unknown>, resource: string): void {
    const unknown = Object.keys(config).filter((k) => k !== 'label');
    if (unknown.length > 0) throw new Error(`resource ${resource}: the fake connector takes only "label" (found ${unknown.join(', ')})`);
  }

  /** The next `times` provisionings (of matching grants) fail with `message`. */
  failProvision(times: number, opts: FaultOptions = {}): this {
    return this.addRule('provision', 'fail', times, opts);
  }

  /** The next `times` revokes (of matching grants) fail with `message`. */
  failRevoke(times: number, opts: FaultOptions = {}): this {
    return this.addRule('revoke', 'fail', times, opts);
  }

  /** The next `times` provisionings never answer (until `releaseHung`). */
  hangProvision(times: number, opts: FaultOptions = {}): this {
    return this.addRule('provision', 'hang', times, opts);
  }

  /** The next `times` revokes never answer (until `releaseHung`). */
  hangRevoke(times: number, opts: FaultOptions = {}): this {
    return this.addRule('revoke', 'hang', times, opts);
  }

  /** Lets every hung call fail now (clean-up at the end of a test). */
  releaseHung(): void {
    for (const release of this.hung.splice(0)) release();
  }

  callsFor(op: FakeOp, grantId?: string): FakeCall[] {
    return this.calls.filter((c) => c.op === op && (grantId === undefined || c.grantId === grantId));
  }

  get provisions(): FakeCall[] {
    return this.callsFor('provision');
  }

  get revokes(): FakeCall[] {
    return this.callsFor('revoke');
  }

  async provision(target: GrantTarget): Promise<Provisioned> {
    await this.fault('provision', target);
    this.live.add(target.grantId);
    return { credential: { type: 'fake', login: `fake_${target.grantId}`, secret: `secret-${target.grantId}`, expiresAt: new Date(target.expiresAt).toISOString() } };
  }

  async extend(target: GrantTarget): Promise<Provisioned> {
    await this.fault('extend', target);
    return { credential: { type: 'fake', login: `fake_${target.grantId}`, secret: `secret-${target.grantId}`, expiresAt: new Date(target.expiresAt).toISOString() } };
  }

  async revoke(target: GrantTarget): Promise<Revoked> {
    await this.fault('revoke', target);
    // "Already gone" counts as revoked (DESIGN.md, "Connectors").
    const present = this.live.delete(target.grantId);
    return { audit: present ? { revokedOn: 'fake' } : { note: 'already_absent' } };
  }

  private addRule(op: FakeOp, mode: Rule['mode'], times: number, opts: FaultOptions): this {
    this.rules.push({ op, mode, remaining: times, message: opts.message ?? `fake ${op} failure`, match: opts.match ?? (() => true) });
    return this;
  }

  private async fault(op: FakeOp, target: GrantTarget): Promise<void> {
    const call: FakeCall = { op, grantId: target.grantId, target, at: this.clock.now(), outcome: 'ok' };
    this.calls.push(call);
    const rule = this.rules.find((r) => r.op === op && r.remaining > 0 && r.match(target));
    if (!rule) return;
    rule.remaining--;
    if (rule.mode === 'fail') {
      call.outcome = 'failed';
      throw new Error(rule.message);
    }
    call.outcome = 'hung';
    await new Promise<never>((_, reject) => this.hung.push(() => reject(new Error(`${rule.message} (released)`))));
  }
}
