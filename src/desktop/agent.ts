/**
 * The desktop agent (DESIGN.md "Desktop agent"): everything the tray app's main process does that
 * is not Electron — enrollment and sign-out, the state of my requests, reviews and grants kept
 * current from the event stream, the actions, the countdowns and their notifications, the
 * keychain entries of grants, the clipboard, the tray model. It implements the desktop bridge
 * contract (DesktopApi, src/shared/desktop-api.ts): electron/ hands its calls to it through the
 * IPC wrapper, and the e2e browser harness carries the same calls over a WebSocket.
 *
 * - State: on the stream's `resync` everything is refetched, and once after the OS reports a
 *   resume or an unlock; on each event the request or grant it names is refetched and updated in
 *   place (fetches coalesce; a fetch that fails marks the data for a full refetch when the stream
 *   is next live).
 * - Offline: the last known state stays, marked stale since the stream went down; countdowns go on
 *   from the last known `expiresAt` and offset; actions fail with a sentence saying the server is
 *   out of reach — they are not queued. Started offline there is no last state (it is not kept
 *   across restarts): the connection says why, and actions say the server is out of reach.
 * - Time (B27, B28): one deadline timer and a 1 s wall-clock tick (countdown.ts); notifications
 *   come from here, never from the renderer; each intent is shown once.
 * - Keychain: a grant's credential is kept while it is live and deleted when it ends (here, as
 *   soon as its end passes, whether or not the server's word has arrived), and on each full fetch
 *   `sweepEnded` removes what ended while the app was closed — but not what was written while
 *   that fetch was on its way. A full fetch asks for every unfinished grant and pending request
 *   besides the newest 100 of each list, so the sweep knows what is live, however many newer
 *   ended grants there are.
 * - ssh: a request for an ssh resource carries the public half of a fresh ed25519 pair made here;
 *   the private key exists only in the keychain (`ssh:<request id>`, moved to `ssh:<grant id>`
 *   when the grant is live, deleted when the request ends without access or the grant ends).
 *   Copying the grant's `command` puts the key and its certificate into the person's ssh-agent
 *   for the rest of the grant (ssh-agent.ts), so the plain `ssh user@host` works in any terminal.
 */
import type { EventView, GrantView, RequestView, ResourceView } from '../shared/api.js';
import type { Clock, TimerHandle } from '../shared/clock.js';
import {
  CLIPBOARD_CLEAR_MS, parseDesktopArgs,
  type ActionResult, type ConnectionState, type CopyOutcome, type DesktopApi, type DesktopCallArgs, type DesktopCallName, type DesktopCallParsedArgs,
  type DesktopError, type DesktopPhase, type DesktopSnapshot, type EnrollOutcome, type KeychainStatusName, type Notice, type NoticeKind,
  type SignOutOutcome,
} from '../shared/desktop-api.js';
import { own } from '../shared/own.js';
import type { Settings } from '../shared/settings.js';
import { assertNever, UNFINISHED_GRANT_STATES } from '../shared/states.js';
import { ApiError, OfflineError, ProtocolError, SignedOutError, type EventStream, type LatchClient, type StreamStatus } from '../sync/index.js';
import { CountdownScheduler } from './countdown.js';
import { defaultDeviceName, keychainCredentialSource, type AgentDeps, type AgentKeychain, type ClipboardSink, type NotifierSink, type SyncSession, type TraySink } from './deps.js';
import { changeIntents, eventIntents, revokeFailedAudience, revokeFailedId, str, UTC_FORMAT, type IntentFormat, type NotifierCommand } from './intents.js';
import { accounts, KeychainError } from './keychain.js';
import { SettingsError, type SettingsStore } from './settings.js';
import { defaultSshAgentSocket, sshAgentClient, SshAgentError, type SshAgentSink } from './ssh-agent.js';
import { keyPairFailure, newSshKeyPair, parseSshPrivateKey, SshKeyError, type SshKeyPair } from './ssh-key.js';
import {
  credentialsWanted, EMPTY_VIEW, expiresAtOf, forgetGrant, forgetRequest, fromFullFetch, grantPhaseAt, grantsEnded, isLiveAt, LIST_LIMIT, nextDeadline,
  placeGrant, placeRequest, refreshKey, refreshTargets, secretsToKeep, sshKeyFates, credentialBehind, UNFINISHED_LIMIT,
  type AgentData, type AgentView, type RefreshTarget,
} from './state.js';
import { trayModel, type AgentTrayAction, type RevokeFailure, type TrayModel } from './tray-model.js';

/** A failed full fetch is tried again this long after, while the stream stays live. */
const RELOAD_RETRY_MS = 5_000;
/** How long past its announced retry a failing revoke keeps the tray on attention without news of it. */
const REVOKE_FAILURE_GRACE_MS = 60_000;
/** A credential fetched before the connector re-issued it after an extension is fetched again, this often, this many times. */
const CREDENTIAL_RETRY_MS = 1_000;
const CREDENTIAL_RETRIES = 10;
const MAX_NOTICES = 10;

interface Session {
  url: string;
  client: LatchClient;
  events: EventStream;
  /** Who this device is signed in as. */
  me: string;
  off: (() => void)[];
  loading: boolean;
  reloadAgain: boolean;
  /** A fetch failed: what it would have brought is unknown until the next full fetch. */
  needsReload: boolean;
  retryTimer: TimerHandle | null;
  queue: Map<string, RefreshTarget>;
  flushing: Promise<void> | null;
  /**
   * Grants whose credential was fetched (or is being fetched) into the keychain, with the
   * `expiresAt` it was fetched for: an extension re-issues some credentials (an ssh certificate).
   */
  cached: Map<string, string | null>;
  /** Credential fetches that came back behind their grant's end, by grant: tries so far. */
  behind: Map<string, number>;
  /**
   * Ids (request or grant) whose keychain entries were written since the running full fetch began
   * (null when none runs): its sweep must leave them, the lists it got may predate them.
   */
  writtenSinceFetch: Set<string> | null;
  /** Requests of mine whose ssh key the keychain holds under the request id. */
  sshKeys: Set<string>;
  /** Grants whose key and certificate this session put in the ssh-agent, with that certificate. */
  inSshAgent: Map<string, string>;
  /** signOut() is under way: the client's sign-out signal is ours, not the server's. */
  signingOut: boolean;
}

type Fetched = { kind: 'request'; view: RequestView } | { kind: 'grant'; view: GrantView } | { kind: 'resources'; list: ResourceView[] };

/** A failure the agent itself decides, with the sentence to show. */
class AgentError extends Error {
  constructor(
    readonly code: DesktopError['code'],
    message: string,
  ) {
    super(message);
    this.name = 'AgentError';
  }
}

export class Agent implements DesktopApi {
  private readonly clock: Clock;
  private readonly keychain: AgentKeychain;
  private readonly settings: SettingsStore;
  private readonly notifier: NotifierSink;
  private readonly tray: TraySink;
  private readonly clipboard: ClipboardSink;
  private readonly sshAgent: SshAgentSink;
  private readonly makeSshKeyPair: () => SshKeyPair;
  private readonly connect: AgentDeps['connect'];
  private readonly deviceName: string;
  private readonly format: IntentFormat;
  private readonly report: (err: unknown, context: string) => void;
  private readonly clipboardClearMs: number;
  private readonly scheduler: CountdownScheduler;

  private started = false;
  private session: Session | null = null;
  private phase: DesktopPhase = 'loading';
  private serverUrl: string | null;
  private view: AgentView = EMPTY_VIEW;
  private connection: { state: ConnectionState; since: number; detail: string | null };
  private staleSince: number | null = null;
  private notices: Notice[] = [];
  private noticeSeq = 0;
  /** The lead time the current view's expiry warnings were judged with (the setting can change between two views). */
  private judgedLeadMs: number;
  /** Intent ids shown: each occurrence once, whatever path (timer, event, refetch) finds it. */
  private readonly shown = new Set<string>();
  /**
   * Revokes failing on grants I approve (not mine: those show on the grant itself), for the tray's
   * attention: until the grant ends or is cleaned up, or — should that event be missed — a minute
   * past the retry the server announced without a new failure.
   */
  private readonly revokeFailures = new Map<string, RevokeFailure & { until: number }>();
  private readonly listeners = new Set<(s: DesktopSnapshot) => void>();
  private lastTray = '';
  private readonly work = new Set<Promise<unknown>>();
  private clipboardTimer: TimerHandle | null = null;
  private clipboardGrant: string | null = null;
  private readonly off: (() => void)[] = [];

  constructor(deps: AgentDeps) {
    this.clock = deps.clock;
    this.keychain = deps.keychain;
    this.settings = deps.settings;
    this.notifier = deps.notifier;
    this.tray = deps.tray;
    this.clipboard = deps.clipboard;
    this.sshAgent = deps.sshAgent ?? sshAgentClient(defaultSshAgentSocket());
    this.makeSshKeyPair = deps.makeSshKeyPair ?? (() => newSshKeyPair());
    this.connect = deps.connect;
    this.deviceName = deps.deviceName ?? defaultDeviceName();
    this.format = deps.format ?? UTC_FORMAT;
    this.report = deps.onError ?? ((err, context) => console.error(`latch: ${context}:`, err instanceof Error ? err.message : err));
    this.clipboardClearMs = deps.timing?.clipboardClearMs ?? CLIPBOARD_CLEAR_MS;
    this.serverUrl = this.settings.get().serverUrl;
    this.judgedLeadMs = this.settings.get().expiryWarningLeadMs;
    this.connection = { state: 'offline', since: this.clock.now(), detail: null };
    this.scheduler = new CountdownScheduler({
      clock: this.clock,
      onDue: () => this.evaluate(),
      onTick: (visible) => this.onTick(visible),
      tickMs: deps.timing?.tickMs,
      jumpMs: deps.timing?.jumpMs,
      maxWaitMs: deps.timing?.maxWaitMs,
    });
    // Shown once, without blocking (B37); published with the first snapshot.
    if (this.settings.resetNotice) this.notices = [this.notice('settings_reset', 'warning', this.settings.resetNotice.message)];
    this.off.push(
      this.settings.onChange((next, prev) => {
        // A new lead time may put a warning time in the past: judged now, not at the next deadline.
        if (next.expiryWarningLeadMs !== prev.expiryWarningLeadMs) this.evaluate();
        this.publish();
      }),
      this.keychain.onStatus(() => this.publish()),
    );
  }

  // ---- life cycle --------------------------------------------------------------------------------

  /**
   * Opens the keychain (its one attempt this launch), then the session of the enrolled server, if
   * any: the stream's first `resync` brings the data (phase `loading` until then).
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.scheduler.start();
    this.publish();
    await this.keychain.open();
    const url = this.settings.get().serverUrl;
    if (url === null) this.setPhase('signed_out');
    else await this.resumeSession(url);
  }

  /** Closes the stream and the timers, clears a copied secret; keeps every stored credential. */
  async stop(): Promise<void> {
    this.scheduler.stop();
    if (this.session) this.endSession(this.session, false);
    this.clearClipboard();
    for (const f of this.off.splice(0)) f();
    this.listeners.clear();
    await this.idle();
  }

  /** Resolves once the work started so far (fetches, keychain writes) has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
  }

  /**
   * The OS reported a resume from sleep or a screen unlock (Electron's powerMonitor): reconnect the
   * stream now, recompute every countdown, and refetch everything once the stream is live again —
   * the events replayed say what changed, but only the lists settle what a fetch lost while
   * asleep left unknown, and the keychain sweep goes with them. One refetch: when the server cannot
   * resume and asks for a resync, that is the same one. Without this call the 1 s tick notices the
   * jump anyway.
   */
  resume(): void {
    const s = this.session;
    if (s) {
      // Connections pooled before the sleep are likely dead too (B43).
      s.client.close();
      s.needsReload = true;
      s.events.reconnectNow();
    }
    this.scheduler.resume();
  }

  /** The window was shown or hidden: while it shows, a snapshot is pushed every second (B28). */
  setWindowVisible(visible: boolean): void {
    this.scheduler.setVisible(visible);
    if (visible) this.emit(this.snapshot());
  }

  // ---- DesktopApi --------------------------------------------------------------------------------

  async getSnapshot(): Promise<DesktopSnapshot> {
    return this.snapshot();
  }

  onSnapshot(cb: (snapshot: DesktopSnapshot) => void): () => void {
    this.listeners.add(cb);
    return () => void this.listeners.delete(cb);
  }

  async enroll(...args: DesktopCallArgs<'enroll'>): Promise<ActionResult<EnrollOutcome>> {
    const parsed = parseDesktopArgs('enroll', args);
    if (!parsed.ok) return parsed;
    const [url, code] = parsed.args;
    return this.attempt(async () => {
      const sync = this.connect(url, keychainCredentialSource(this.keychain, url));
      let result;
      try {
        result = await sync.client.enroll(code, this.deviceName);
      } catch (err) {
        sync.events.close();
        sync.client.close();
        if (err instanceof ApiError && err.code === 'enrollment_invalid') {
          throw new AgentError('enrollment_invalid', 'This enrollment code is not valid, has expired or was already used: ask your admin for a new one.');
        }
        throw err;
      }
      // Only now that the new enrollment worked does the old session (if any) end.
      if (this.session) this.endSession(this.session, false);
      try {
        this.settings.update({ serverUrl: url });
      } catch (err) {
        this.addNotice('settings_reset', 'warning', `Signed in, but the server address could not be saved (${messageOf(err)}); Latch will ask for it after a restart.`);
      }
      this.dropNotices('signed_out');
      this.begin(sync, url, result.user.name);
      return { serverUrl: url, user: result.user, device: result.device };
    });
  }

  async signOut(): Promise<ActionResult<SignOutOutcome>> {
    return this.attempt(async () => {
      const s = this.session;
      let outcome: SignOutOutcome = { revokedOnServer: false };
      if (s) {
        s.signingOut = true;
        try {
          outcome = await s.client.signOut();
        } catch (err) {
          // The client forgets the credential whatever the server said; only the server's side is unknown.
          this.report(err, 'signing out on the server');
        }
        this.endSession(s, true);
      } else if (this.serverUrl !== null) {
        // Not connected (a locked keychain at start): forget the credential here all the same.
        await keychainCredentialSource(this.keychain, this.serverUrl).clear();
        await this.keychain.sweepEnded([]);
      }
      this.setPhase('signed_out');
      return outcome;
    });
  }

  /**
   * For an ssh resource, a fresh key pair is made here and only its public half is sent; the
   * private key goes to the keychain under the request id before anything else sees the request.
   */
  requestAccess(...args: DesktopCallArgs<'requestAccess'>): Promise<ActionResult<RequestView>> {
    return this.act('requestAccess', args, async (s, body) => {
      const ssh = this.view.data.resources.find((x) => x.name === body.resource)?.connector === 'ssh';
      const pair = ssh ? this.newSshKeyPair() : null;
      const r = await s.client.createRequest(pair ? { ...body, publicKey: pair.publicKey } : body);
      if (pair) await this.keepSshKey(s, r, pair.privateKey);
      this.commit(placeRequest(this.view.data, r, s.me));
      return r;
    });
  }

  cancel(...args: DesktopCallArgs<'cancel'>): Promise<ActionResult<RequestView>> {
    return this.act('cancel', args, async (s, id) => this.decide(s, id, () => s.client.cancel(id)));
  }

  approve(...args: DesktopCallArgs<'approve'>): Promise<ActionResult<RequestView>> {
    return this.act('approve', args, async (s, id, comment) => this.decide(s, id, () => s.client.approve(id, comment)));
  }

  deny(...args: DesktopCallArgs<'deny'>): Promise<ActionResult<RequestView>> {
    return this.act('deny', args, async (s, id, comment) => this.decide(s, id, () => s.client.deny(id, comment)));
  }

  endGrant(...args: DesktopCallArgs<'endGrant'>): Promise<ActionResult<GrantView>> {
    return this.act('endGrant', args, async (s, id) => {
      const g = await s.client.endGrant(id);
      this.commit(placeGrant(this.view.data, g, s.me));
      return g;
    });
  }

  extendGrant(...args: DesktopCallArgs<'extendGrant'>): Promise<ActionResult<RequestView>> {
    return this.act('extendGrant', args, async (s, id, by, reason) => {
      const r = await s.client.extendGrant(id, reason === undefined ? { by } : { by, reason });
      this.commit(placeRequest(this.view.data, r, s.me));
      return r;
    });
  }

  /**
   * Copies one field of my active grant's credential to the clipboard and clears the clipboard
   * after 60 s (or when the grant ends first). The secret comes from the keychain, or from the
   * server once and is then kept in the keychain; it never goes to the caller. For an ssh grant's
   * `command`, the key and certificate first go into the person's ssh-agent until the grant ends
   * (a failure there copies nothing and says what to do).
   */
  copyCredential(...args: DesktopCallArgs<'copyCredential'>): Promise<ActionResult<CopyOutcome>> {
    return this.act('copyCredential', args, async (s, grantId, field) => {
      const g = this.view.data.grants.find((x) => x.id === grantId);
      if (!g) throw new AgentError('not_found', `No grant ${grantId} of yours is known here; refresh, or request access.`);
      const phase = grantPhaseAt(g, this.serverNow());
      if (phase !== 'active') throw new AgentError('invalid_state', `This grant is ${phase === 'expired' ? 'expired' : phase}: there is no credential to copy.`);
      let credential = parseCredential(await this.keychain.get(accounts.grant(grantId)));
      if (credential === null) {
        credential = (await s.client.credential(grantId)).credential;
        await this.keepSecret(s, grantId, accounts.grant(grantId), JSON.stringify(credential));
        s.cached.set(grantId, g.expiresAt);
      }
      const value = own(credential, field);
      if (typeof value !== 'string' && typeof value !== 'number') {
        const fields = Object.keys(credential).filter((k) => typeof credential[k] === 'string' || typeof credential[k] === 'number');
        throw new AgentError('not_found', `This credential has no "${field}" to copy; it has: ${fields.join(', ')}.`);
      }
      let note: string | undefined;
      if (g.connector === 'ssh' && field === 'command') {
        await this.loadIntoSshAgent(s, g, credential);
        const end = expiresAtOf(g);
        note = `Your ssh key and certificate are in your ssh-agent${end === null ? '' : ` until ${this.format.time(end)}`}: paste the command in a terminal.`;
      }
      this.clipboard.write(String(value));
      this.clipboardGrant = grantId;
      if (this.clipboardTimer !== null) this.clock.clearTimer(this.clipboardTimer);
      this.clipboardTimer = this.clock.setTimer(() => this.clearClipboard(), this.clipboardClearMs);
      return { grantId, field, clearsAt: new Date(this.clock.now() + this.clipboardClearMs).toISOString(), ...(note === undefined ? {} : { note }) };
    });
  }

  async getSettings(): Promise<Settings> {
    return this.settings.get();
  }

  async updateSettings(...args: DesktopCallArgs<'updateSettings'>): Promise<ActionResult<Settings>> {
    const parsed = parseDesktopArgs('updateSettings', args);
    if (!parsed.ok) return parsed;
    return this.attempt(async () => this.settings.update(parsed.args[0]));
  }

  async dismissNotice(...args: DesktopCallArgs<'dismissNotice'>): Promise<ActionResult<null>> {
    const parsed = parseDesktopArgs('dismissNotice', args);
    if (!parsed.ok) return parsed;
    this.notices = this.notices.filter((n) => n.id !== parsed.args[0]);
    this.publish();
    return { ok: true, value: null };
  }

  /** After the person unlocked the keychain or allowed access (B34c, B36): one more attempt. */
  async retryKeychain(): Promise<ActionResult<{ status: KeychainStatusName; message: string }>> {
    return this.attempt(async () => {
      const state = await this.keychain.retry();
      if (state.status === 'available' && !this.session && this.phase === 'loading' && this.serverUrl !== null) await this.resumeSession(this.serverUrl);
      this.publish();
      return { status: state.status, message: state.message };
    });
  }

  /** A tray menu item that the agent carries out; a failure also becomes a notice (a menu has nowhere else to say it). */
  async runTrayAction(action: AgentTrayAction): Promise<ActionResult<unknown>> {
    let result: ActionResult<unknown>;
    switch (action.kind) {
      case 'approve':
        result = await this.approve(action.requestId);
        break;
      case 'cancel_request':
        result = await this.cancel(action.requestId);
        break;
      case 'end_grant':
        result = await this.endGrant(action.grantId);
        break;
      case 'copy_credential':
        result = await this.copyCredential(action.grantId, action.field);
        break;
      case 'retry_keychain':
        result = await this.retryKeychain();
        break;
      case 'sign_out':
        result = await this.signOut();
        break;
      default:
        return assertNever(action, 'tray action');
    }
    if (!result.ok) this.addNotice('action_failed', 'error', result.error.message);
    return result;
  }

  // ---- the snapshot ------------------------------------------------------------------------------

  snapshot(): DesktopSnapshot {
    const d = this.view.data;
    const kc = this.keychain.state;
    return {
      phase: this.phase,
      serverUrl: this.serverUrl,
      user: d.user,
      connection: { state: this.connection.state, since: iso(this.connection.since), detail: this.connection.detail },
      stale: this.staleSince === null ? null : { since: iso(this.staleSince) },
      keychain: { status: kc.status, message: kc.message },
      requests: d.requests,
      reviewQueue: d.reviewQueue,
      grants: d.grants,
      resources: d.resources,
      notices: [...this.notices],
      now: this.clock.now(),
      serverOffsetMs: this.offset(),
    };
  }

  /** The tray as it is now (what was last rendered, or would be). */
  trayModel(): TrayModel {
    const s = this.snapshot();
    return trayModel(s, s.now, { format: this.format, revokeFailures: this.failingRevokes(s.now) });
  }

  private publish(): void {
    const s = this.snapshot();
    this.emit(s);
    this.renderTray(s);
  }

  private emit(s: DesktopSnapshot): void {
    for (const cb of [...this.listeners]) this.safely(() => cb(s), 'a snapshot listener');
  }

  private renderTray(s: DesktopSnapshot = this.snapshot()): void {
    const model = trayModel(s, s.now, { format: this.format, revokeFailures: this.failingRevokes(s.now) });
    const json = JSON.stringify(model);
    if (json === this.lastTray) return;
    this.lastTray = json;
    this.safely(() => this.tray.render(model), 'the tray');
  }

  private onTick(visible: boolean): void {
    const s = this.snapshot();
    this.renderTray(s);
    if (visible) this.emit(s);
  }

  // ---- sessions ----------------------------------------------------------------------------------

  /** An enrollment from an earlier run: signed in if the keychain holds its credential. */
  private async resumeSession(url: string): Promise<void> {
    this.serverUrl = url;
    const sync = this.connect(url, keychainCredentialSource(this.keychain, url));
    let who;
    try {
      who = await sync.client.signedInAs();
    } catch (err) {
      sync.events.close();
      sync.client.close();
      // Locked, denied or not answering: that is not "signed out" (B34c, B36). The keychain state
      // says what to do; retryKeychain() comes back here.
      if (!(err instanceof KeychainError)) this.report(err, 'reading the device credential');
      this.setPhase('loading');
      return;
    }
    if (who === null) {
      sync.events.close();
      sync.client.close();
      this.setPhase('signed_out');
      return;
    }
    this.begin(sync, url, who.user);
  }

  private begin(sync: SyncSession, url: string, me: string): void {
    const s: Session = {
      url, client: sync.client, events: sync.events, me, off: [], loading: false, reloadAgain: false, needsReload: false, retryTimer: null,
      queue: new Map(), flushing: null, writtenSinceFetch: null, cached: new Map(), behind: new Map(), sshKeys: new Set(), inSshAgent: new Map(), signingOut: false,
    };
    this.session = s;
    this.serverUrl = url;
    this.phase = 'loading';
    this.view = EMPTY_VIEW;
    this.staleSince = null;
    this.connection = { state: 'reconnecting', since: this.clock.now(), detail: null };
    s.off.push(
      s.events.onResync(() => this.reload(s)),
      s.events.onEvent((e) => this.onEvent(s, e)),
      s.events.onStatus((st) => this.onStatus(s, st)),
      s.client.onSignOut(() => this.onSignedOut(s)),
    );
    s.events.start();
    this.publish();
  }

  /** Ends a session; `forgetSecrets`: every grant secret and ssh key goes too (sign-out). */
  private endSession(s: Session, forgetSecrets: boolean): void {
    for (const f of s.off.splice(0)) f();
    if (s.retryTimer !== null) this.clock.clearTimer(s.retryTimer);
    s.events.close();
    s.client.close();
    if (this.session === s) {
      this.session = null;
      this.view = EMPTY_VIEW;
      this.revokeFailures.clear();
      this.staleSince = null;
      this.connection = { state: 'offline', since: this.clock.now(), detail: null };
      this.scheduler.setDeadline(null);
    }
    if (forgetSecrets) {
      this.clearClipboard();
      this.background(this.keychain.sweepEnded([]), 'forgetting the secrets of this device');
      for (const certificate of s.inSshAgent.values()) this.background(this.sshAgent.removeCertificate(certificate), 'removing an ssh key from the ssh-agent');
      s.inSshAgent.clear();
    }
  }

  private onSignedOut(s: Session): void {
    if (s !== this.session || s.signingOut) return;
    // The server refused this device's refresh token: signed out elsewhere, or the keychain was copied (B41).
    this.endSession(s, true);
    this.addNotice('signed_out', 'error', 'This device was signed out by the Latch server (its sign-in was revoked or used elsewhere). Enroll it again with a new code from your admin.');
    this.setPhase('signed_out');
  }

  private onStatus(s: Session, st: StreamStatus): void {
    if (s !== this.session) return;
    const state: ConnectionState = st.state === 'live' ? 'live' : st.state === 'offline' ? 'offline' : 'reconnecting';
    this.connection = { state, since: st.since, detail: st.detail };
    if (state === 'live') {
      this.staleSince = null;
      if (s.needsReload) this.reload(s);
    } else {
      if (this.staleSince === null && this.view.loaded) this.staleSince = st.since;
      // A stream found dead (sleep, a network change) took the pooled connections with it: drop
      // them so the next call opens a fresh one instead of waiting out a timeout (B43).
      if (st.reason === 'silent' || st.reason === 'clock_jump') s.client.close();
    }
    this.publish();
  }

  private onEvent(s: Session, e: EventView): void {
    if (s !== this.session) return;
    const audience = revokeFailedAudience(e, this.view, s.me);
    if (audience === 'ask') this.askRevokeAudience(s, e);
    else {
      if (audience === 'approver') this.noteRevokeFailure(e);
      this.deliver(eventIntents(e, this.view, s.me, this.settings.get()));
    }
    if ((e.type === 'grant.ended' || e.type === 'grant.cleaned_up') && e.grantId !== null && this.revokeFailures.delete(e.grantId)) this.renderTray();
    for (const t of refreshTargets(e, this.view.data, s.me)) s.queue.set(refreshKey(t), t);
    this.flush(s);
  }

  /**
   * A revoke failing on a grant whose request is not in my lists: the server shows me the request
   * only if I am its approver (or an admin), and its approvers say whether I am. Once per grant;
   * a failed fetch is asked again at the next failed attempt.
   */
  private askRevokeAudience(s: Session, e: EventView): void {
    if (e.grantId === null || e.requestId === null || this.shown.has(revokeFailedId(e.grantId))) return;
    const requestId = e.requestId;
    this.background((async () => {
      let request: RequestView | null;
      try {
        request = await s.client.getRequest(requestId);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) {
          if (!(err instanceof OfflineError || err instanceof SignedOutError)) this.report(err, `looking up request ${requestId} of a failing revoke`);
          return;
        }
        request = null;
      }
      if (s !== this.session) return;
      if (revokeFailedAudience(e, this.view, s.me, request) === 'approver') this.noteRevokeFailure(e);
      this.deliver(eventIntents(e, this.view, s.me, this.settings.get(), request));
    })(), 'telling approvers about a failing revoke');
  }

  private noteRevokeFailure(e: EventView): void {
    if (e.grantId === null) return;
    const retryAt = Date.parse(str(e.data.nextRetryAt) ?? '');
    this.revokeFailures.set(e.grantId, {
      grantId: e.grantId, requestId: e.requestId, user: str(e.data.user) ?? '', resource: str(e.data.resource) ?? '', role: str(e.data.role) ?? '',
      until: (Number.isFinite(retryAt) ? retryAt - this.offset() : this.clock.now()) + REVOKE_FAILURE_GRACE_MS,
    });
    this.renderTray();
  }

  /** What the tray shows of `revokeFailures` at local time `now`. */
  private failingRevokes(now: number): RevokeFailure[] {
    return [...this.revokeFailures.values()].filter((f) => f.until > now).map(({ until: _until, ...f }) => f);
  }

  // ---- fetching ----------------------------------------------------------------------------------

  /** Refetches everything (the stream's resync): the one place the lists are replaced whole. */
  private reload(s: Session): void {
    if (s !== this.session) return;
    if (s.loading) {
      s.reloadAgain = true;
      return;
    }
    s.loading = true;
    if (s.retryTimer !== null) this.clock.clearTimer(s.retryTimer);
    s.retryTimer = null;
    this.background((async () => {
      try {
        do {
          s.reloadAgain = false;
          // This fetch is the one owed: the stream going live next asks for no other (a failure asks again).
          s.needsReload = false;
          // An entity fetch started before this one must not land after it with older data; what it failed to bring, this brings.
          if (s.flushing) await s.flushing;
          s.needsReload = false;
          s.writtenSinceFetch = new Set();
          const c = s.client;
          const [user, resources, requests, pending, reviewQueue, grants, unfinished] = await Promise.all([
            c.me(), c.resources(),
            c.listRequests({ scope: 'mine', limit: LIST_LIMIT }), c.listRequests({ scope: 'mine', state: 'pending', limit: UNFINISHED_LIMIT }),
            c.listRequests({ scope: 'review', limit: LIST_LIMIT }),
            c.listGrants({ scope: 'mine', limit: LIST_LIMIT }), c.listGrants({ scope: 'mine', state: UNFINISHED_GRANT_STATES.join(','), limit: UNFINISHED_LIMIT }),
          ]);
          if (s !== this.session) return;
          this.phase = 'ready';
          const { data, complete } = fromFullFetch({ user, resources, requests, pending, reviewQueue, grants, unfinished });
          this.commit(data, true);
          // Entries of grants that ended while the app was closed (or while offline) go now; not
          // those written since the fetch began (a request made meanwhile is not in these lists).
          // The sweep deletes what is not kept, so it needs every live grant: with a list cut at
          // its limit it waits (each grant's entry still goes when the agent sees it end).
          if (complete) {
            const keep = [...secretsToKeep(this.view.data, this.view.at), ...s.writtenSinceFetch];
            await this.keychain.sweepEnded(keep).catch((err: unknown) => this.report(err, 'sweeping ended grants from the keychain'));
          }
          // ssh keys of requests made in an earlier run that are still waiting (or just became a grant).
          await this.findSshKeys(s).catch((err: unknown) => this.report(err, 'looking for ssh keys in the keychain'));
        } while (s.reloadAgain && s === this.session);
      } catch (err) {
        if (s !== this.session || err instanceof SignedOutError) return;
        s.needsReload = true;
        if (!(err instanceof OfflineError || err instanceof KeychainError)) this.report(err, 'fetching requests and grants');
        if (this.connection.state === 'live') s.retryTimer = this.clock.setTimer(() => this.reload(s), RELOAD_RETRY_MS);
      } finally {
        s.loading = false;
        s.writtenSinceFetch = null;
        if (s === this.session) this.flush(s);
      }
    })(), 'fetching requests and grants');
  }

  /** Fetches what events named, in one batch, and applies it in one commit. */
  private flush(s: Session): void {
    if (s.flushing || s.loading || s.queue.size === 0 || !this.view.loaded || s !== this.session) return;
    const run = (async () => {
      while (s.queue.size > 0 && s === this.session && !s.loading) {
        // Events of one server change arrive together (a grant's revoking and ended): one fetch for them.
        await new Promise((resolve) => setImmediate(resolve));
        const batch = [...s.queue.values()];
        s.queue.clear();
        const results = await Promise.allSettled(batch.map((t) => this.fetch(s, t)));
        if (s !== this.session) return;
        let data = this.view.data;
        results.forEach((r, i) => {
          const t = batch[i]!;
          if (r.status === 'fulfilled') data = applyFetched(data, r.value, s.me);
          else if (r.reason instanceof ApiError && r.reason.status === 404 && t.kind !== 'resources') data = t.kind === 'request' ? forgetRequest(data, t.id) : forgetGrant(data, t.id);
          else if (!(r.reason instanceof SignedOutError)) {
            s.needsReload = true;
            if (!(r.reason instanceof OfflineError)) this.report(r.reason, `refreshing ${refreshKey(t)}`);
          }
        });
        this.commit(data);
        if (s.needsReload && this.connection.state === 'live' && s.retryTimer === null) s.retryTimer = this.clock.setTimer(() => this.reload(s), RELOAD_RETRY_MS);
      }
    })();
    s.flushing = run.finally(() => {
      s.flushing = null;
      this.flush(s);
    });
    this.background(s.flushing, 'refreshing after an event');
  }

  private async fetch(s: Session, t: RefreshTarget): Promise<Fetched> {
    switch (t.kind) {
      case 'request':
        return { kind: 'request', view: await s.client.getRequest(t.id) };
      case 'grant':
        return { kind: 'grant', view: await s.client.getGrant(t.id) };
      case 'resources':
        return { kind: 'resources', list: await s.client.resources() };
      default:
        return assertNever(t, 'refresh target');
    }
  }

  /**
   * Keeps the credential of each live active grant of mine in the keychain, fetched once, and
   * again after an extension (its certificate or token may be re-issued; an ssh certificate in
   * the ssh-agent is replaced so that ssh keeps working).
   */
  private cacheCredentials(s: Session): void {
    for (const g of credentialsWanted(this.view.data, this.view.at)) {
      if (s.cached.has(g.id) && s.cached.get(g.id) === g.expiresAt) continue;
      s.cached.set(g.id, g.expiresAt);
      this.background((async () => {
        try {
          const { credential } = await s.client.credential(g.id);
          await this.keepSecret(s, g.id, accounts.grant(g.id), JSON.stringify(credential));
          // It may have ended while this was on its way.
          const now = this.view.data.grants.find((x) => x.id === g.id);
          if (s !== this.session || !now || !isLiveAt(now, this.serverNow())) await this.keychain.forgetGrant(g.id, g.requestId);
          else if (credentialBehind(credential, now)) this.fetchCredentialAgain(s, now);
          else if (s.inSshAgent.has(g.id) && s.inSshAgent.get(g.id) !== credential.certificate) await this.loadIntoSshAgent(s, now, credential);
        } catch (err) {
          // Tried again at a later change (offline now, or the keychain refused).
          s.cached.delete(g.id);
          if (!(err instanceof OfflineError || err instanceof SignedOutError || err instanceof ApiError)) throw err;
        }
      })(), 'keeping a grant credential in the keychain');
    }
  }

  /** The credential came back older than its grant (an extension not re-issued yet): once more, a little later. */
  private fetchCredentialAgain(s: Session, g: GrantView): void {
    const tries = (s.behind.get(g.id) ?? 0) + 1;
    s.behind.set(g.id, tries);
    if (tries > CREDENTIAL_RETRIES) return;
    s.cached.delete(g.id);
    this.clock.setTimer(() => {
      if (s === this.session) this.cacheCredentials(s);
    }, CREDENTIAL_RETRY_MS);
  }

  // ---- state changes -----------------------------------------------------------------------------

  /**
   * The one way the data changes: evaluates it at the current server time, shows and withdraws
   * notifications for what changed (or came due) since the last evaluation, deletes the keychain
   * entries of grants that ended, re-arms the deadline timer and publishes.
   */
  private commit(data: AgentData, loaded: boolean = this.view.loaded): void {
    const s = this.session;
    const prev = this.view;
    const next: AgentView = { loaded, at: Math.max(prev.at, this.serverNow()), data };
    this.view = next;
    const settings = this.settings.get();
    if (s) {
      this.deliver(changeIntents(prev, next, s.me, settings, this.format, this.judgedLeadMs));
      if (prev.loaded) for (const g of grantsEnded(prev, next)) this.forgetSecrets(s, g);
      this.cacheCredentials(s);
      this.settleSshKeys(s);
    }
    this.judgedLeadMs = settings.expiryWarningLeadMs;
    this.rearm();
    this.publish();
  }

  /** A deadline came, the clock jumped, or the OS reported a resume: the same data at the new time. */
  private evaluate(): void {
    if (this.view.loaded && this.session) this.commit(this.view.data);
    else this.renderTray();
  }

  private rearm(): void {
    const deadline = this.view.loaded ? nextDeadline(this.view.data, this.view.at, this.settings.get().expiryWarningLeadMs) : null;
    this.scheduler.setDeadline(deadline === null ? null : deadline - this.offset());
  }

  /**
   * Writes a keychain entry of request or grant `id`, marked first: a sweep that took its keep-list
   * before the mark also queued its listing before this write (the keychain runs one call at a
   * time), so it cannot see the new entry.
   */
  private keepSecret(s: Session, id: string, account: string, secret: string): Promise<void> {
    s.writtenSinceFetch?.add(id);
    return this.keychain.set(account, secret);
  }

  private forgetSecrets(s: Session, g: GrantView): void {
    s.cached.delete(g.id);
    s.sshKeys.delete(g.requestId);
    if (this.clipboardGrant === g.id) this.clearClipboard();
    this.background(this.keychain.forgetGrant(g.id, g.requestId), 'deleting an ended grant from the keychain');
    const certificate = s.inSshAgent.get(g.id);
    if (certificate !== undefined) {
      s.inSshAgent.delete(g.id);
      // Its lifetime would end it at the grant's end anyway; an early end takes it out now.
      this.background(this.sshAgent.removeCertificate(certificate), 'removing an ssh key from the ssh-agent');
    }
  }

  // ---- ssh keys ----------------------------------------------------------------------------------

  /**
   * Keeps a new request's private key in the keychain. If the keychain refuses it, the key is
   * lost, and so would be the access: the request is withdrawn and the person told.
   */
  private async keepSshKey(s: Session, r: RequestView, privateKey: string): Promise<void> {
    try {
      await this.keepSecret(s, r.id, accounts.ssh(r.id), privateKey);
    } catch (err) {
      const withdrawn = await (r.state === 'pending' ? s.client.cancel(r.id) : r.grantId !== null ? s.client.endGrant(r.grantId) : Promise.reject(new Error('nothing to withdraw')))
        .then(() => true, (e: unknown) => (this.report(e, 'withdrawing a request whose ssh key could not be kept'), false));
      throw new AgentError(err instanceof KeychainError ? err.code : 'unexpected',
        `The ssh key for this request could not be kept in the keychain (${messageOf(err)}), ${withdrawn ? 'so the request was withdrawn' : `so request ${r.id} cannot be used: cancel it`}. Fix the keychain, then request again.`);
    }
    if (s === this.session) s.sshKeys.add(r.id);
  }

  private newSshKeyPair(): SshKeyPair {
    try {
      return this.makeSshKeyPair();
    } catch (err) {
      throw keyPairFailure(err);
    }
  }

  /** After a full fetch: the keys kept under ids of my requests (an earlier run made them). */
  private async findSshKeys(s: Session): Promise<void> {
    const mine = new Set(this.view.data.requests.map((r) => r.id));
    for (const account of await this.keychain.list('ssh:')) {
      const id = account.slice('ssh:'.length);
      if (mine.has(id)) s.sshKeys.add(id);
    }
    if (s === this.session) this.settleSshKeys(s);
  }

  /** Moves the keys of requests that became live grants; deletes those of requests that ended without access. */
  private settleSshKeys(s: Session): void {
    if (s.sshKeys.size === 0) return;
    const { adopt, forget } = sshKeyFates(this.view.data, this.view.at, s.sshKeys);
    for (const id of [...adopt.keys(), ...forget]) s.sshKeys.delete(id);
    for (const id of forget) this.background(this.keychain.delete(accounts.ssh(id)), 'deleting the ssh key of a request that ended');
    for (const [requestId, grantId] of adopt) {
      this.background((async () => {
        const key = await this.keychain.get(accounts.ssh(requestId));
        if (key === null) return;
        await this.keepSecret(s, grantId, accounts.ssh(grantId), key);
        await this.keychain.delete(accounts.ssh(requestId));
        // It may have ended meanwhile, after its entries were deleted.
        const g = this.view.data.grants.find((x) => x.id === grantId);
        if (s !== this.session || !g || !isLiveAt(g, this.serverNow())) await this.keychain.forgetGrant(grantId, requestId);
      })(), 'moving an ssh key to its grant');
    }
  }

  /** Puts the grant's key and certificate in the ssh-agent until the grant ends. */
  private async loadIntoSshAgent(s: Session, g: GrantView, credential: Record<string, unknown>): Promise<void> {
    const pem = (await this.keychain.get(accounts.ssh(g.id))) ?? (await this.keychain.get(accounts.ssh(g.requestId)));
    if (pem === null) {
      throw new AgentError('not_found', 'The private key of this ssh access is not on this device: it was requested from another device or from the `latch` command, so connect from there — or end it and request it again from this app.');
    }
    const certificate = credential.certificate;
    if (typeof certificate !== 'string') throw new AgentError('not_found', 'This ssh access has no certificate yet; wait a moment and copy again.');
    const end = expiresAtOf(g);
    const lifetimeSeconds = end === null ? 60 : Math.ceil((end - this.serverNow()) / 1000);
    if (lifetimeSeconds <= 0) throw new AgentError('invalid_state', 'This grant has just ended: there is no access to connect with.');
    await this.sshAgent.addCertificate({ certificate, key: parseSshPrivateKey(pem), lifetimeSeconds, comment: `latch ${g.resource}/${g.role} ${g.id}` });
    const earlier = s.inSshAgent.get(g.id);
    s.inSshAgent.set(g.id, certificate);
    // The certificate before an extension: one entry per grant in the ssh-agent, not a pile.
    if (earlier !== undefined && earlier !== certificate) await this.sshAgent.removeCertificate(earlier);
  }

  private deliver(commands: NotifierCommand[]): void {
    for (const c of commands) {
      switch (c.type) {
        case 'withdraw':
          this.safely(() => this.notifier.withdraw(c.key), 'the notifier');
          break;
        case 'show':
          if (this.shown.has(c.intent.id)) break;
          this.shown.add(c.intent.id);
          this.safely(() => this.notifier.show(c.intent), 'the notifier');
          break;
        default:
          assertNever(c, 'notifier command');
      }
    }
  }

  // ---- actions -----------------------------------------------------------------------------------

  /**
   * An action that needs the server: arguments parsed with the contract's schema, a session that
   * has loaded, and every failure turned into a sentence. Nothing is queued for later.
   */
  private async act<N extends DesktopCallName, T>(
    name: N, args: readonly unknown[], fn: (s: Session, ...parsed: DesktopCallParsedArgs<N>) => Promise<T>,
  ): Promise<ActionResult<T>> {
    const parsed = parseDesktopArgs(name, args);
    if (!parsed.ok) return parsed;
    const s = this.session;
    if (!s) return { ok: false, error: { code: 'signed_out', message: 'This device is not signed in: enroll it with the server address and a code from your admin.' } };
    if (this.phase !== 'ready') return { ok: false, error: (await this.unreachable(s)) ?? { code: 'unavailable', message: 'Latch is still loading your requests and grants; try again in a moment.' } };
    return this.attempt(() => fn(s, ...parsed.args));
  }

  /**
   * Before the first load, with the stream down (started offline): whether the server can be
   * reached, asked once, so that an action says what a loaded session offline says rather than
   * "still loading" for as long as the network is gone.
   */
  private async unreachable(s: Session): Promise<DesktopError | null> {
    if (this.connection.state === 'live') return null;
    try {
      await s.client.me();
      return null;
    } catch (err) {
      const error = toDesktopError(err);
      if (error.code === 'unexpected') this.report(err, 'reaching the server before the first load');
      return error;
    }
  }

  /** A review or cancel; a conflict (decided elsewhere first) also refetches the request so the window catches up (B22). */
  private async decide(s: Session, id: string, send: () => Promise<RequestView>): Promise<RequestView> {
    try {
      const r = await send();
      this.commit(placeRequest(this.view.data, r, s.me));
      return r;
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        s.queue.set(refreshKey({ kind: 'request', id }), { kind: 'request', id });
        this.flush(s);
      }
      throw err;
    }
  }

  private async attempt<T>(fn: () => Promise<T>): Promise<ActionResult<T>> {
    try {
      return { ok: true, value: await fn() };
    } catch (err) {
      const error = toDesktopError(err);
      if (error.code === 'unexpected') this.report(err, 'an action');
      return { ok: false, error };
    }
  }

  // ---- small things ------------------------------------------------------------------------------

  private serverNow(): number {
    return this.clock.now() + this.offset();
  }

  private offset(): number {
    return this.session?.client.clockOffsetMs ?? 0;
  }

  private setPhase(phase: DesktopPhase): void {
    this.phase = phase;
    this.publish();
  }

  private clearClipboard(): void {
    if (this.clipboardTimer !== null) this.clock.clearTimer(this.clipboardTimer);
    this.clipboardTimer = null;
    if (this.clipboardGrant === null) return;
    this.clipboardGrant = null;
    this.safely(() => this.clipboard.clear(), 'the clipboard');
  }

  private notice(kind: NoticeKind, level: Notice['level'], message: string): Notice {
    return { id: `n${++this.noticeSeq}`, kind, level, message, at: iso(this.clock.now()) };
  }

  private addNotice(kind: NoticeKind, level: Notice['level'], message: string): void {
    this.notices = [...this.notices, this.notice(kind, level, message)].slice(-MAX_NOTICES);
    this.publish();
  }

  private dropNotices(kind: NoticeKind): void {
    this.notices = this.notices.filter((n) => n.kind !== kind);
  }

  private background(p: Promise<unknown>, context: string): void {
    const tracked = p.catch((err: unknown) => this.report(err, context));
    this.work.add(tracked);
    void tracked.finally(() => this.work.delete(tracked));
  }

  private safely(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.report(err, `${what} failed`);
    }
  }
}

function applyFetched(data: AgentData, f: Fetched, me: string): AgentData {
  switch (f.kind) {
    case 'request':
      return placeRequest(data, f.view, me);
    case 'grant':
      return placeGrant(data, f.view, me);
    case 'resources':
      return { ...data, resources: f.list };
    default:
      return assertNever(f, 'fetched');
  }
}

/** Any failure as the sentence a person sees (STYLE.md §9). */
export function toDesktopError(err: unknown): DesktopError {
  if (err instanceof AgentError) return { code: err.code, message: err.message };
  if (err instanceof ApiError) {
    const details = Object.keys(err.details).length > 0 ? { details: err.details } : {};
    return { code: err.code, message: sentence(err.message), ...details };
  }
  if (err instanceof OfflineError) {
    return { code: 'offline', message: `The Latch server at ${err.baseUrl} cannot be reached (${err.reason}), so this was not done. Actions are not queued: try again when you are back online.` };
  }
  if (err instanceof SignedOutError) return { code: 'signed_out', message: sentence(err.message) };
  if (err instanceof ProtocolError) return { code: 'protocol', message: sentence(err.message) };
  if (err instanceof KeychainError) return { code: err.code, message: sentence(err.message) };
  if (err instanceof SettingsError) return { code: err.code, message: sentence(err.message) };
  if (err instanceof SshKeyError) return { code: 'ssh_key_failed', message: err.message };
  if (err instanceof SshAgentError) return { code: 'ssh_agent_unavailable', message: err.message };
  return { code: 'unexpected', message: `Something went wrong (${messageOf(err)}). Try again; if it keeps happening, restart Latch.` };
}

function sentence(text: string): string {
  const t = text.trim();
  if (t === '') return t;
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function parseCredential(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
