/**
 * The server's clock as seen from here, measured from each response's `Date` header. Countdowns
 * and token expiry are computed on the server's time (DESIGN.md "Countdown"), so a laptop whose
 * clock is minutes off still shows the right remaining time.
 *
 * A `Date` header has one-second resolution and was written at some moment between our send and
 * our receive, so one sample only bounds the offset: server − local ∈ [D − received, D + 1 s − sent].
 * Intersecting the bounds of successive samples narrows them well below a second; a sample that
 * does not overlap means one of the clocks was set (NTP step, manual change), and starts over.
 */
export class ServerClockOffset {
  private lo = 0;
  private hi = 0;
  private measured = false;

  /** Records one response: its `Date` header, and the local times the request was sent and answered. */
  observe(dateHeader: string | undefined | null, sentAt: number, receivedAt: number): void {
    if (!dateHeader) return;
    const date = Date.parse(dateHeader);
    if (Number.isNaN(date)) return;
    const lo = date - receivedAt;
    const hi = date + 1000 - sentAt;
    if (hi < lo) return;
    if (this.measured && lo <= this.hi && hi >= this.lo) {
      this.lo = Math.max(this.lo, lo);
      this.hi = Math.min(this.hi, hi);
    } else {
      this.lo = lo;
      this.hi = hi;
      this.measured = true;
    }
  }

  /** Server time minus local time, in ms; 0 until a response has been seen. */
  get offsetMs(): number {
    return this.measured ? Math.round((this.lo + this.hi) / 2) : 0;
  }

  /** How far the true offset may be from `offsetMs` either way (Infinity before the first sample). */
  get uncertaintyMs(): number {
    return this.measured ? Math.round((this.hi - this.lo) / 2) : Infinity;
  }
}
