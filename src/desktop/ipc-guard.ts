/**
 * The one wrapper every IPC handler of the desktop bridge goes through (DESIGN.md "Electron
 * shell"; STYLE.md §3): it checks who sent the call, then parses the arguments with the call's
 * schema from the contract (src/shared/desktop-api.ts), and only then runs the handler with the
 * parsed arguments. A call from a frame that is not ours, or with arguments that do not parse, is
 * rejected with an IpcRejection and the handler never runs.
 *
 * Electron-free so it is tested under Node: it needs only the two fields of Electron's
 * IpcMainInvokeEvent it reads (`senderFrame.url`, `sender.id`), declared structurally below.
 *
 * Why both checks on the sender: the frame URL says the code that called is our bundle (not a
 * page the window was navigated to, nor an iframe of another origin); the webContents id says the
 * window is one we made (not, say, a devtools extension's page or a window some other code
 * opened). See the Electron security checklist, "Validate the sender of all IPC messages".
 */
import {
  desktopCalls, desktopChannel, parseDesktopArgs,
  type DesktopCallName, type DesktopCallParsedArgs, type DesktopCallResult,
} from '../shared/desktop-api.js';

/** Where the UI is served from (electron/protocol.ts); the only origin trusted to call. */
export const APP_SCHEME = 'app';
export const APP_HOST = 'latch';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;

/** The parts of Electron's IpcMainInvokeEvent the guard reads. */
export interface IpcSenderEvent {
  /** null when the frame navigated away or was destroyed before the call was handled. */
  readonly senderFrame: { readonly url: string } | null;
  readonly sender: { readonly id: number };
}

export interface SenderPolicy {
  isTrustedSender(frameUrl: string, senderId: number): boolean;
}

export type IpcRejectionCode = 'untrusted_sender' | 'invalid_arguments';

/**
 * Thrown (so `invoke` rejects in the renderer). Electron passes only `message` across, so the
 * message starts with a stable `latch:<code>:` prefix the renderer or a log reader can match.
 */
export class IpcRejection extends Error {
  constructor(
    readonly code: IpcRejectionCode,
    detail: string,
  ) {
    super(`latch:${code}: ${detail}`);
    this.name = 'IpcRejection';
  }
}

/** What an `ipcMain.handle` listener looks like, without Electron's types. */
export type GuardedListener<N extends DesktopCallName> = (event: IpcSenderEvent, ...args: unknown[]) => Promise<DesktopCallResult<N>>;

export type CallHandler<N extends DesktopCallName> = (...args: DesktopCallParsedArgs<N>) => Promise<DesktopCallResult<N>> | DesktopCallResult<N>;

/**
 * Wraps the handler of one contract call (`name` is its key in `desktopCalls`). The sender is
 * checked first, so an untrusted frame learns nothing about argument rules.
 */
export function guardHandler<N extends DesktopCallName>(name: N, handler: CallHandler<N>, policy: SenderPolicy): GuardedListener<N> {
  return async (event, ...args) => {
    const frameUrl = event.senderFrame?.url;
    let trusted = false;
    try {
      trusted = typeof frameUrl === 'string' && policy.isTrustedSender(frameUrl, event.sender.id);
    } catch {
      // A policy that throws does not let the call through.
    }
    // Deliberately no frame URL in the message: it goes back to the (untrusted) caller.
    if (!trusted) throw new IpcRejection('untrusted_sender', `${name} refused: the caller is not a Latch window`);
    const parsed = parseDesktopArgs(name, args);
    if (!parsed.ok) throw new IpcRejection('invalid_arguments', parsed.error.message);
    return handler(...parsed.args);
  };
}

/** Every call of the contract, implemented (the Agent is one). */
export type DesktopCallImpl = { [N in DesktopCallName]: CallHandler<N> };

export interface GuardedChannel {
  name: DesktopCallName;
  channel: string;
  listener: GuardedListener<DesktopCallName>;
}

/**
 * A guarded listener for every call in the contract, with its channel: electron/ registers each
 * with `ipcMain.handle(channel, listener)`, so a call added to the contract is guarded by
 * construction.
 */
export function guardedChannels(impl: DesktopCallImpl, policy: SenderPolicy): GuardedChannel[] {
  return (Object.keys(desktopCalls) as DesktopCallName[]).map(<N extends DesktopCallName>(name: N) => {
    const handler = impl[name] as CallHandler<N>;
    return {
      name,
      channel: desktopChannel(name),
      listener: guardHandler(name, (...args) => handler.apply(impl, args), policy) as GuardedListener<DesktopCallName>,
    };
  });
}

/**
 * The usual policy: the frame is a page of `app://latch` (exact scheme and host, no user, no
 * port) and the webContents is one of ours (`knownIds()`, read at each call so windows can come
 * and go).
 */
export function appSenderPolicy(knownIds: () => ReadonlySet<number>): SenderPolicy {
  return {
    isTrustedSender(frameUrl, senderId) {
      return isAppUrl(frameUrl) && knownIds().has(senderId);
    },
  };
}

/** true for `app://latch/...` exactly. Node's URL gives `origin === 'null'` for non-special schemes, so the parts are compared. */
export function isAppUrl(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return u.protocol === `${APP_SCHEME}:` && u.hostname === APP_HOST && u.username === '' && u.password === '' && u.port === '';
}
