/**
 * A sign-in handed to the app when it starts, for `npm start`'s demo: the demo script starts the
 * approval server, makes a one-time enrollment code for the demo requester and starts the tray
 * app with it in `LATCH_ENROLL_SERVER` / `LATCH_ENROLL_CODE`. The code travels in the environment,
 * never in a URL or an argument (argv is world-readable in `ps`), and is taken out of the
 * environment before anything else runs.
 */
import type { ActionResult, DesktopSnapshot } from '../shared/desktop-api.js';

export const ENROLL_SERVER_ENV = 'LATCH_ENROLL_SERVER';
export const ENROLL_CODE_ENV = 'LATCH_ENROLL_CODE';

export interface StartupEnrollment {
  serverUrl: string;
  code: string;
}

/** Takes the sign-in out of `env` (both variables are deleted either way); null when none was given. */
export function takeStartupEnrollment(env: Record<string, string | undefined>): StartupEnrollment | null {
  const serverUrl = env[ENROLL_SERVER_ENV]?.trim();
  const code = env[ENROLL_CODE_ENV]?.trim();
  delete env[ENROLL_SERVER_ENV];
  delete env[ENROLL_CODE_ENV];
  return serverUrl && code ? { serverUrl, code } : null;
}

/**
 * Whether to use the handed sign-in: not when this device is signed in to that server already (a
 * second `npm start` keeps the session it has), nor while the agent is still finding out whether
 * its stored credential for that server works (`loading`).
 */
export function shouldEnroll(given: StartupEnrollment, s: Pick<DesktopSnapshot, 'phase' | 'serverUrl'>): boolean {
  if (s.serverUrl !== given.serverUrl) return true;
  return s.phase === 'signed_out';
}

/** What `enrollAtStartup` needs of the agent. */
export interface EnrollingAgent {
  snapshot(): DesktopSnapshot;
  onSnapshot(cb: (s: DesktopSnapshot) => void): () => void;
  enroll(serverUrl: string, code: string): Promise<ActionResult<unknown>>;
}

/**
 * Once the started agent knows whether its stored credential still works (ready or signed out),
 * signs in with the handed code if `shouldEnroll` says so. A credential the server no longer
 * knows (the demo's data was deleted) ends signed out, and then the code is used. Gives up
 * waiting after `settleMs` (a locked keychain keeps the agent loading; the window says why).
 */
export async function enrollAtStartup(agent: EnrollingAgent, given: StartupEnrollment, settleMs = 15_000): Promise<'enrolled' | 'kept' | 'unsettled' | { failed: string }> {
  const settled = await new Promise<DesktopSnapshot | null>((resolve) => {
    const done = (s: DesktopSnapshot | null) => {
      clearTimeout(timer);
      off();
      resolve(s);
    };
    const timer = setTimeout(() => done(null), settleMs);
    const off = agent.onSnapshot((s) => {
      if (s.phase !== 'loading') done(s);
    });
    const now = agent.snapshot();
    if (now.phase !== 'loading') done(now);
  });
  if (settled === null) return 'unsettled';
  if (!shouldEnroll(given, settled)) return 'kept';
  const r = await agent.enroll(given.serverUrl, given.code);
  return r.ok ? 'enrolled' : { failed: r.error.message };
}
