/**
 * What the browser harness's bridge script (bridge-client.ts, in the page) and the harness (Node)
 * say to each other over the loopback WebSocket. The calls themselves are the DesktopApi contract
 * (src/shared/desktop-api.ts): this file only frames them. Environment-free: both sides import it.
 *
 * page → harness: `{ id, name, args }` a DesktopApi call; `{ visible }` the page's visibility.
 * harness → page: `{ id, result }` the call's result; `{ id, error }` the call was refused (bad
 * arguments, unknown call) — the bridge rejects the promise with `error.message`, as Electron's
 * `invoke` rejects when the IPC guard throws; `{ snapshot }` each snapshot the agent emits.
 */
import type { DesktopSnapshot } from '../../src/shared/desktop-api.js';

/** The bridge script, served next to renderer/dist's files (the only file that is not one of them). */
export const BRIDGE_SCRIPT_PATH = '/__latch/bridge.js';
/** The WebSocket's path; `?user=<name>` says whose agent the page talks to. */
export const BRIDGE_SOCKET_PATH = '/__latch/ws';
/**
 * The socket is opened with two subprotocols: this one, which the harness answers with, and
 * `TOKEN_PROTOCOL_PREFIX + token`, which carries the per-run token in a header rather than in a
 * URL (so it is in no request line, history or log). The harness never echoes the token back.
 */
export const BRIDGE_PROTOCOL = 'latch-bridge.v1';
export const TOKEN_PROTOCOL_PREFIX = 'latch-token.';

/**
 * The page address carries the user and the token in its fragment, which a browser never sends
 * to a server: `index.html#/home?latch-user=alice&latch-token=…`. The bridge script removes both
 * before the renderer reads the hash, and keeps them in sessionStorage for reloads of that tab.
 */
export const USER_PARAM = 'latch-user';
export const TOKEN_PARAM = 'latch-token';

/** Close codes the harness uses (4000–4999 are the application's). */
export const CLOSE_MALFORMED = 4400;
export const CLOSE_HARNESS_STOPPING = 4503;

export interface CallMessage {
  id: number;
  name: string;
  args: unknown[];
}

export interface VisibilityMessage {
  visible: boolean;
}

export type PageMessage = CallMessage | VisibilityMessage;

/** `code`: `invalid_arguments` or `untrusted_sender` (the IPC guard's), or `unknown_call`. */
export interface CallRefusal {
  code: string;
  message: string;
}

export type HarnessMessage = { id: number; result: unknown } | { id: number; error: CallRefusal } | { snapshot: DesktopSnapshot };
