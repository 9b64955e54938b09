/**
 * The desktop bridge contract (STYLE.md §1–2): every call the renderer makes on `window.latch`,
 * declared once with the zod schema of its arguments and its result type. The IPC handlers in
 * electron/ (through the one wrapper that checks the sender and parses with these schemas), the
 * preload, the browser harness of e2e/ and the renderer are all typed from this table; the desktop
 * agent (src/desktop/agent.ts) implements it.
 *
 * Calls are named after the task. Secrets never cross the bridge: the renderer asks the main
 * process to copy a credential to the clipboard (cleared after CLIPBOARD_CLEAR_MS) and never reads
 * it. Calls that can fail resolve to an ActionResult (they do not reject), so the renderer always
 * gets a sentence that says what to do, whatever the transport did to error objects.
 *
 * Adding a call: this table → the agent → the IPC handler → the preload → the UI, in that order.
 */
import { z } from 'zod';
import {
  createRequestBody, ERROR_CODES, idParams,
  type GrantView, type RequestView, type ResourceView, type UserView,
} from './api.js';
import { serverUrlSchema, settingsPatchSchema, type Settings } from './settings.js';

// ---- the snapshot ------------------------------------------------------------------------------

/** `loading`: signed in (or finding out) but nothing fetched yet — the UI shows a skeleton, never "no access". */
export type DesktopPhase = 'loading' | 'signed_out' | 'ready';

/** The event stream as the UI shows it: "Live", "Reconnecting…", "Offline". */
export type ConnectionState = 'live' | 'reconnecting' | 'offline';

export const KEYCHAIN_STATUSES = ['available', 'unavailable', 'locked', 'denied', 'timeout'] as const;
export type KeychainStatusName = (typeof KEYCHAIN_STATUSES)[number];

export const NOTICE_KINDS = ['settings_reset', 'signed_out', 'keychain', 'action_failed', 'sync'] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

/** A non-blocking message for the person (a banner), until dismissed. */
export interface Notice {
  id: string;
  kind: NoticeKind;
  level: 'info' | 'warning' | 'error';
  message: string;
  /** ISO-8601 (local clock). */
  at: string;
}

/**
 * Everything the window shows, as the main process last knew it (STYLE.md §8: main is the source
 * of truth; the renderer projects it and never invents grants).
 */
export interface DesktopSnapshot {
  phase: DesktopPhase;
  /** The server this device is (or was last) enrolled with; null before the first enrollment. */
  serverUrl: string | null;
  user: UserView | null;
  /** `since`: ISO-8601, when the state began. `detail`: why it is not live (no secrets), for a tooltip. */
  connection: { state: ConnectionState; since: string; detail: string | null };
  /** Non-null while the data below may be out of date (the stream is down): shown as "as of <since>". */
  stale: { since: string } | null;
  keychain: { status: KeychainStatusName; message: string };
  /** My requests, newest first (access and extension requests, any state). */
  requests: RequestView[];
  /** Requests I may review, newest first, decided ones included so a stale card shows "Approved by carol". */
  reviewQueue: RequestView[];
  /** My grants, newest first, ended ones included. */
  grants: GrantView[];
  /** What I may request, with each role's limits (the request form's picker). */
  resources: ResourceView[];
  notices: Notice[];
  /**
   * Local time (ms) when this snapshot was made. Countdowns: `countdown(grant.expiresAt, now,
   * serverOffsetMs)` (src/shared/countdown.ts). While the window is visible a fresh snapshot comes
   * every second, so the renderer needs no timer of its own.
   */
  now: number;
  /** Server time minus local time, as last measured (kept while offline). */
  serverOffsetMs: number;
}

/**
 * A place in the window: where a notification click, a tray item or a `latch://` link leads.
 * `extend` opens the grant's extension form.
 */
export type WindowTarget =
  | { view: 'home' }
  | { view: 'enroll' }
  | { view: 'request_access' }
  | { view: 'approvals' }
  | { view: 'request'; requestId: string }
  | { view: 'grant'; grantId: string; extend?: boolean }
  | { view: 'settings' };

// ---- results -----------------------------------------------------------------------------------

/** The server's error codes, and what can go wrong on this side of it. */
export const DESKTOP_ERROR_CODES = [
  ...ERROR_CODES,
  'offline', 'signed_out', 'invalid_arguments', 'protocol', 'unexpected',
  'keychain_timeout', 'keychain_locked', 'keychain_denied', 'keychain_failed',
  'invalid_settings', 'settings_write_failed',
  // An ssh key pair could not be made here; the person's ssh-agent could not take a grant's key.
  'ssh_key_failed', 'ssh_agent_unavailable',
] as const;
export type DesktopErrorCode = (typeof DESKTOP_ERROR_CODES)[number];

export interface DesktopError {
  code: DesktopErrorCode;
  /** A sentence for the person, saying what to do. */
  message: string;
  /** The server error's other fields (`decidedBy`, `state`, `max`…), when there are any. */
  details?: Record<string, unknown>;
}

export type ActionResult<T> = { ok: true; value: T } | { ok: false; error: DesktopError };

export interface EnrollOutcome {
  serverUrl: string;
  user: UserView;
  device: { id: string; name: string };
}

export interface SignOutOutcome {
  /** false when the server could not be told: an admin should remove the device there. */
  revokedOnServer: boolean;
}

export interface CopyOutcome {
  grantId: string;
  field: string;
  /** When the main process clears the clipboard (ISO-8601, local clock). */
  clearsAt: string;
  /**
   * A sentence to show with "Copied", when there is more to know: for an ssh grant's `command`,
   * that its key and certificate were put in the person's ssh-agent until the grant ends.
   */
  note?: string;
}

// The clipboard time and the Copy buttons per connector live in a zod-free module the renderer imports.
export { CLIPBOARD_CLEAR_MS, COPYABLE_FIELDS, copyableFields } from './credential-fields.js';

// ---- arguments ---------------------------------------------------------------------------------

const id = idParams.shape.id;
const comment = z.string().max(1024);
const enrollmentCode = z.string().trim().min(1, 'enter the enrollment code from your admin').max(128);
const credentialField = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'not a credential field name');

/**
 * The request form's body. For an ssh resource the main process makes the key pair and adds the
 * public key (the private key stays in the keychain); the UI never sends or sees one.
 */
export const requestAccessBody = createRequestBody.omit({ publicKey: true });
export type RequestAccessBody = z.input<typeof requestAccessBody>;

/** A settings change from a window; the server URL changes only by enrolling. */
export const settingsUpdateSchema = settingsPatchSchema.omit({ serverUrl: true });
export type SettingsUpdate = z.input<typeof settingsUpdateSchema>;

// ---- the table ---------------------------------------------------------------------------------

export interface DesktopCall<A extends z.ZodTuple = z.ZodTuple, R = unknown> {
  readonly args: A;
  readonly summary: string;
  /** Never set: it carries the result type. */
  readonly result?: R;
}

const call =
  <R>() =>
  <A extends z.ZodTuple>(args: A, summary: string): DesktopCall<A, R> => ({ args, summary });

export const desktopCalls = {
  getSnapshot: call<DesktopSnapshot>()(z.tuple([]), 'Everything the window shows, now (then follow onSnapshot)'),
  enroll: call<ActionResult<EnrollOutcome>>()(z.tuple([serverUrlSchema, enrollmentCode]), 'Enroll this device with a server URL and a one-time code from an admin'),
  signOut: call<ActionResult<SignOutOutcome>>()(z.tuple([]), 'Sign this device out and forget its secrets'),
  requestAccess: call<ActionResult<RequestView>>()(z.tuple([requestAccessBody]), 'Ask for access to a resource role, for a time, with a reason'),
  cancel: call<ActionResult<RequestView>>()(z.tuple([id]), 'Cancel my pending request'),
  approve: call<ActionResult<RequestView>>()(z.tuple([id, comment.optional()]), 'Approve a request I may review'),
  deny: call<ActionResult<RequestView>>()(z.tuple([id, comment.min(1, 'say why you deny it')]), 'Deny a request I may review, saying why'),
  endGrant: call<ActionResult<GrantView>>()(z.tuple([id]), 'End my access now (revoked on the target)'),
  extendGrant: call<ActionResult<RequestView>>()(z.tuple([id, z.string().min(1).max(32), z.string().max(4096).optional()]), 'Ask for more time on my active grant (`30m`, `1h`), with a reason'),
  copyCredential: call<ActionResult<CopyOutcome>>()(z.tuple([id, credentialField]), 'Copy one field of my active grant\'s credential to the clipboard (cleared after 60 s)'),
  getSettings: call<Settings>()(z.tuple([]), 'The current settings'),
  updateSettings: call<ActionResult<Settings>>()(z.tuple([settingsUpdateSchema]), 'Change some settings (only the keys that change)'),
  dismissNotice: call<ActionResult<null>>()(z.tuple([z.string().min(1).max(100)]), 'Hide a notice'),
  retryKeychain: call<ActionResult<{ status: KeychainStatusName; message: string }>>()(z.tuple([]), 'Try the keychain again after unlocking it or allowing access'),
} as const satisfies Record<string, DesktopCall>;

export type DesktopCallName = keyof typeof desktopCalls;
/** The arguments as the renderer passes them. */
export type DesktopCallArgs<N extends DesktopCallName> = z.input<(typeof desktopCalls)[N]['args']>;
/** The arguments after parsing (URLs normalised, codes trimmed): what a handler receives. */
export type DesktopCallParsedArgs<N extends DesktopCallName> = z.output<(typeof desktopCalls)[N]['args']>;
export type DesktopCallResult<N extends DesktopCallName> = Exclude<(typeof desktopCalls)[N]['result'], undefined>;

export interface DesktopSubscriptions {
  /** Each new snapshot (after every change, and every second while the window is visible). Returns the unsubscribe function. */
  onSnapshot(cb: (snapshot: DesktopSnapshot) => void): () => void;
}

/** `window.latch`. */
export type DesktopApi = { [N in DesktopCallName]: (...args: DesktopCallArgs<N>) => Promise<DesktopCallResult<N>> } & DesktopSubscriptions;

/** The IPC channel of a call (`latch:approve`) and of the snapshot push. */
export const desktopChannel = (name: DesktopCallName): string => `latch:${name}`;
export const SNAPSHOT_CHANNEL = 'latch:snapshot';

/**
 * Parses a call's arguments with its schema (`args` as received, untrusted). The failure says
 * which argument is wrong, as an ActionResult error the renderer can show.
 */
export function parseDesktopArgs<N extends DesktopCallName>(name: N, args: readonly unknown[]): { ok: true; args: DesktopCallParsedArgs<N> } | { ok: false; error: DesktopError } {
  const schema: z.ZodType = desktopCalls[name].args;
  const parsed = schema.safeParse(args);
  if (parsed.success) return { ok: true, args: parsed.data as DesktopCallParsedArgs<N> };
  const problems = parsed.error.issues.map((i) => {
    const [index, ...rest] = i.path;
    const where = typeof index === 'number' ? `argument ${index + 1}${rest.length > 0 ? ` (${rest.join('.')})` : ''}` : 'arguments';
    return `${where}: ${i.message}`;
  });
  return { ok: false, error: { code: 'invalid_arguments', message: `${name}: ${problems.join('; ')}` } };
}
