/**
 * Durations are milliseconds inside Latch and human strings (`30m`, `2h`, `1h30m`, `90s`, `1d`)
 * at the edges. ISO-8601 (`PT30M`) is accepted too.
 */
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;
type Unit = keyof typeof UNIT_MS;

const HUMAN = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const ISO = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

/** Parses `30m`, `1h30m`, `PT1H`…; returns null for anything else, including zero. */
export function parseDuration(text: string): number | null {
  const t = text.trim();
  if (t === '' || t.length > 32) return null;
  const m = HUMAN.exec(t) ?? ISO.exec(t.toUpperCase());
  if (!m || m.slice(1).every((g) => g === undefined)) return null;
  const [d, h, mi, s] = m.slice(1).map((g) => (g === undefined ? 0 : Number(g))) as [number, number, number, number];
  const ms = d * UNIT_MS.d + h * UNIT_MS.h + mi * UNIT_MS.m + s * UNIT_MS.s;
  return ms > 0 && Number.isSafeInteger(ms) ? ms : null;
}

/** Formats milliseconds the way people write them: `1h30m`, `45s`, `2d`. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let rest = Math.round(ms / 1000) * 1000;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's'] as Unit[]) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * UNIT_MS[unit];
    }
  }
  return out || '0s';
}
