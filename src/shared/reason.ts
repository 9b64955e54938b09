/** Reason rules (FIELD-CASES B24): trimmed, 10–1024 characters (not bytes), no control characters. */
import { CONTROL_OR_INVISIBLE } from './plain-text.js';

export const REASON_MIN = 10;
export const REASON_MAX = 1024;

export type ReasonCheck =
  | { ok: true; reason: string }
  | { ok: false; code: 'reason_required' | 'reason_invalid' | 'reason_too_long'; message: string };

export function checkReason(raw: string | undefined, required: boolean): ReasonCheck {
  const reason = (raw ?? '').trim();
  if (reason === '') {
    if (!required) return { ok: true, reason: '' };
    return raw === undefined || raw === ''
      ? { ok: false, code: 'reason_required', message: `a reason is required (at least ${REASON_MIN} characters)` }
      : { ok: false, code: 'reason_invalid', message: `the reason is blank; say why you need access (at least ${REASON_MIN} characters)` };
  }
  const length = [...reason].length;
  if (length > REASON_MAX) {
    return { ok: false, code: 'reason_too_long', message: `the reason is ${length} characters; the most is ${REASON_MAX}` };
  }
  if (CONTROL_OR_INVISIBLE.test(reason)) {
    return { ok: false, code: 'reason_invalid', message: 'the reason contains control or invisible characters; use plain text on one line' };
  }
  if (length < REASON_MIN) {
    return { ok: false, code: 'reason_invalid', message: `the reason is too short; say why you need access in at least ${REASON_MIN} characters` };
  }
  return { ok: true, reason };
}
