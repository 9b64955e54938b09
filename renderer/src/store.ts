/**
 * The window's state (zustand): the agent's last snapshot and settings, plus UI-only state (the
 * place in the window, the request form's draft, which credential was just copied). STYLE.md §8:
 * main is the source of truth and the single writer; this store projects it and never invents
 * grants, and nothing here is persisted.
 *
 * Hydration (FIELD-CASES B40): `snapshot` stays null — the views show a skeleton, never "no
 * access" — until the first snapshot arrives, from `onSnapshot` or `getSnapshot`, whichever comes
 * first. The subscription is made before the fetch so no change is lost between them; a fetched
 * snapshot that answers after a pushed one is older than it and is dropped. UI state set before
 * hydration (a draft from a deep link) is kept.
 *
 * Settings (B39): each change sends only the keys it changes through `updateSettings`; the answer
 * (main's merged settings) replaces ours. Another window's change is picked up on `refreshSettings`
 * (the window calls it when it regains focus).
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { GrantView, RequestView } from '../../src/shared/api.js';
import type {
  ActionResult, CopyOutcome, DesktopApi, DesktopSnapshot, EnrollOutcome, KeychainStatusName, RequestAccessBody, SettingsUpdate, SignOutOutcome,
} from '../../src/shared/desktop-api.js';
import type { Settings } from '../../src/shared/settings.js';
import type { RequestFormInput } from './logic/request-form.js';
import { HOME, type Route } from './logic/route.js';

/** The request form as typed so far (kept while moving between views). */
/** The request form as typed, and the link it was prefilled from (`prefillKey`). */
export type RequestDraft = RequestFormInput & { prefill: string };

/** The last credential field copied from a grant, until the clipboard clears. */
export interface CopyNote {
  field: string;
  label: string;
  /** Local clock, ISO-8601 (CopyOutcome.clearsAt). */
  clearsAt: string;
}

/** A one-line confirmation shown at the top of the view (the request was sent…). */
export interface Flash {
  id: number;
  text: string;
  /** The view it is shown on; moving elsewhere drops it. */
  view: Route['target']['view'];
  /** The snapshot time (local ms) it was shown at: it fades after FLASH_MS of snapshots, with no timer of its own. */
  at: number;
}

export const FLASH_MS = 10_000;

export interface LatchState {
  /** null until the first snapshot: loading. */
  snapshot: DesktopSnapshot | null;
  settings: Settings | null;
  route: Route;
  draft: RequestDraft | null;
  copies: Record<string, CopyNote>;
  flash: Flash | null;
}

export interface LatchActions {
  /** Subscribes to the agent and fetches the first snapshot and the settings; returns the unsubscribe. */
  start(): () => void;
  setRoute(route: Route): void;
  setDraft(draft: RequestDraft | null): void;
  showFlash(text: string | null, view?: Flash['view']): void;
  refreshSettings(): Promise<void>;
  requestAccess(body: RequestAccessBody): Promise<ActionResult<RequestView>>;
  cancel(requestId: string): Promise<ActionResult<RequestView>>;
  approve(requestId: string, comment?: string): Promise<ActionResult<RequestView>>;
  deny(requestId: string, comment: string): Promise<ActionResult<RequestView>>;
  endGrant(grantId: string): Promise<ActionResult<GrantView>>;
  extendGrant(grantId: string, by: string, reason?: string): Promise<ActionResult<RequestView>>;
  copyCredential(grantId: string, field: string, label: string): Promise<ActionResult<CopyOutcome>>;
  updateSettings(patch: SettingsUpdate): Promise<ActionResult<Settings>>;
  enroll(serverUrl: string, code: string): Promise<ActionResult<EnrollOutcome>>;
  signOut(): Promise<ActionResult<SignOutOutcome>>;
  dismissNotice(id: string): Promise<ActionResult<null>>;
  retryKeychain(): Promise<ActionResult<{ status: KeychainStatusName; message: string }>>;
}

export type LatchStore = StoreApi<LatchState & LatchActions>;

/**
 * Calls resolve to an ActionResult by contract; a transport that breaks (the browser harness's
 * socket closing) rejects instead, and the person still gets a sentence.
 */
async function call<T>(run: () => Promise<ActionResult<T>>): Promise<ActionResult<T>> {
  try {
    return await run();
  } catch {
    return { ok: false, error: { code: 'unexpected', message: 'Latch did not answer. Try again; if it keeps failing, restart Latch.' } };
  }
}

export function createLatchStore(api: DesktopApi, route: Route = HOME): LatchStore {
  let flashes = 0;
  return createStore<LatchState & LatchActions>()((set, get) => ({
    snapshot: null,
    settings: null,
    route,
    draft: null,
    copies: {},
    flash: null,

    start() {
      let pushed = false;
      let stopped = false;
      const unsubscribe = api.onSnapshot((snapshot) => {
        pushed = true;
        set({ snapshot });
      });
      void api.getSnapshot().then(
        (snapshot) => {
          if (!pushed && !stopped) set({ snapshot });
        },
        () => undefined, // a push will come; until then the skeleton stays
      );
      void get().refreshSettings();
      return () => {
        stopped = true;
        unsubscribe();
      };
    },

    setRoute(next) {
      const flash = get().flash;
      set({ route: next, flash: flash !== null && flash.view !== next.target.view ? null : flash });
    },

    setDraft(draft) {
      set({ draft });
    },

    showFlash(text, view = 'home') {
      set({ flash: text === null ? null : { id: ++flashes, text, view, at: get().snapshot?.now ?? 0 } });
    },

    async refreshSettings() {
      try {
        set({ settings: await api.getSettings() });
      } catch {
        // Kept as they were; the Setup view says when they are unknown.
      }
    },

    requestAccess: (body) => call(() => api.requestAccess(body)),
    cancel: (id) => call(() => api.cancel(id)),
    approve: (id, comment) => call(() => (comment === undefined || comment === '' ? api.approve(id) : api.approve(id, comment))),
    deny: (id, comment) => call(() => api.deny(id, comment)),
    endGrant: (id) => call(() => api.endGrant(id)),
    extendGrant: (id, by, reason) => call(() => (reason === undefined ? api.extendGrant(id, by) : api.extendGrant(id, by, reason))),

    async copyCredential(grantId, field, label) {
      const result = await call(() => api.copyCredential(grantId, field));
      if (result.ok) set({ copies: { ...get().copies, [grantId]: { field, label, clearsAt: result.value.clearsAt } } });
      return result;
    },

    async updateSettings(patch) {
      const result = await call(() => api.updateSettings(patch));
      if (result.ok) set({ settings: result.value });
      return result;
    },

    enroll: (serverUrl, code) => call(() => api.enroll(serverUrl, code)),
    signOut: () => call(() => api.signOut()),
    dismissNotice: (id) => call(() => api.dismissNotice(id)),
    retryKeychain: () => call(() => api.retryKeychain()),
  }));
}
