/**
 * Duration choices for the request and extend forms: a few round presets within the policy's
 * maximum (always including its default and its maximum), and a custom value that may not exceed
 * the maximum. Durations are milliseconds here and `30m`/`1h30m` on the wire (duration.ts).
 */
import { formatDuration, parseDuration } from '../../../src/shared/duration.js';

const M = 60_000;
const H = 60 * M;
const D = 24 * H;

/** Round durations people ask for. */
const CANDIDATES = [5 * M, 15 * M, 30 * M, H, 2 * H, 4 * H, 8 * H, D, 3 * D, 7 * D];
/** As many chips as fit on one line of the popover. */
export const MAX_PRESETS = 6;

/** Presets within `maxMs`, ascending: the round ones, the default and the maximum, thinned to MAX_PRESETS. */
export function durationPresets(maxMs: number, defaultMs: number): number[] {
  if (!(maxMs > 0)) return [];
  const def = Math.min(defaultMs > 0 ? defaultMs : maxMs, maxMs);
  const all = [...new Set([...CANDIDATES.filter((c) => c < maxMs), def, maxMs])].sort((a, b) => a - b);
  if (all.length <= MAX_PRESETS) return all;
  // Keep the default and the maximum; spread the others evenly over what is left.
  const keep = new Set([def, maxMs]);
  const rest = all.filter((d) => !keep.has(d));
  const slots = MAX_PRESETS - keep.size;
  for (let i = 0; i < slots; i++) keep.add(rest[Math.round((i * (rest.length - 1)) / Math.max(1, slots - 1))]!);
  return [...keep].sort((a, b) => a - b);
}

/**
 * The duration a form starts with: the person's default from the settings when this role allows
 * it, else the policy's default (itself never above the maximum).
 */
export function initialDuration(policy: { maxDurationMs: number; defaultDurationMs: number }, preferredMs: number | null): number {
  if (preferredMs !== null && preferredMs > 0 && preferredMs <= policy.maxDurationMs) return preferredMs;
  return Math.min(policy.defaultDurationMs > 0 ? policy.defaultDurationMs : policy.maxDurationMs, policy.maxDurationMs);
}

export type CustomDuration = { ok: true; ms: number } | { ok: false; message: string };

/** A typed duration (`45m`, `1h30m`), capped at the maximum. */
export function parseCustomDuration(text: string, maxMs: number): CustomDuration {
  if (text.trim() === '') return { ok: false, message: `Enter a duration, like 45m or 1h30m (at most ${formatDuration(maxMs)}).` };
  const ms = parseDuration(text);
  if (ms === null) return { ok: false, message: `“${text.trim()}” is not a duration; write it like 45m, 2h or 1h30m.` };
  if (ms > maxMs) return { ok: false, message: `At most ${formatDuration(maxMs)} for this role; ask for ${formatDuration(maxMs)} or less.` };
  return { ok: true, ms };
}

/** `30 min`, `1 h`, `1 h 30 min`, `2 d` — the chip's label (the wire form is `formatDuration`). */
export function durationLabel(ms: number): string {
  const d = Math.floor(ms / D);
  const h = Math.floor((ms % D) / H);
  const m = Math.floor((ms % H) / M);
  const s = Math.round((ms % M) / 1000);
  const parts = [d > 0 ? `${d} d` : '', h > 0 ? `${h} h` : '', m > 0 ? `${m} min` : '', s > 0 ? `${s} s` : ''].filter(Boolean);
  return parts.length === 0 ? '0 min' : parts.join(' ');
}
