/**
 * Where the window should open, held until it can. On a cold start macOS hands the launch's
 * `latch://` link to `open-url` before Electron is `ready`, and a second launch can come in while
 * the first is still starting: both before the agent and the window exist. The shell registers those events at once, puts what they ask for here, and opens the
 * window on it after start; from then on each request goes straight through.
 *
 * Only the latest request is kept: each one loads the window on its place, so an earlier one
 * would be replaced at once anyway, and a page that fires links in a loop cannot pile them up.
 */
import { parseDeepLink, type DeepLink } from './links.js';

export class WindowQueue {
  private waiting: DeepLink | null = null;
  private open: ((to: DeepLink) => void) | null = null;

  /** A `latch://` link (untrusted): opens the window on it, or keeps it; an invalid one changes nothing. */
  link(link: string): void {
    const parsed = parseDeepLink(link);
    if (parsed) this.put(parsed);
  }

  /** A place of our own (a second launch with no link opens the home view). */
  put(to: DeepLink): void {
    if (this.open) this.open(to);
    else this.waiting = to;
  }

  /** The window can open now: what waited goes first, then every later request as it comes. */
  ready(open: (to: DeepLink) => void): void {
    this.open = open;
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting) open(waiting);
  }
}
