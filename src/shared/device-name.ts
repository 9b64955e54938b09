/**
 * The name a device is enrolled under: shown in device lists and written to the audit trail
 * (`user.enrolled`), so plain text on one line, like a reason. Blank means "no name" (the server
 * calls it `device`).
 */
import { z } from 'zod';
import { CONTROL_OR_INVISIBLE } from './plain-text.js';

export const DEVICE_NAME_MAX = 100;

export const deviceNameSchema = z
  .string()
  .trim()
  .max(DEVICE_NAME_MAX)
  .refine((name) => !CONTROL_OR_INVISIBLE.test(name), 'must be plain text on one line, without control or invisible characters; name it like "ana-laptop" or "Ana\'s MacBook"');

const CONTROL_OR_INVISIBLE_ALL = new RegExp(CONTROL_OR_INVISIBLE.source, 'gu');

/**
 * A default device name from `raw` (the host name) that the schema accepts: what it refuses taken
 * out, cut on a character boundary so that `suffix` still fits. '' when nothing is left.
 */
export function deviceNameFrom(raw: string, suffix = ''): string {
  const clean = raw.replace(CONTROL_OR_INVISIBLE_ALL, ' ').replace(/\s+/g, ' ').trim();
  if (clean === '') return '';
  let name = '';
  for (const ch of clean) {
    if (name.length + ch.length + suffix.length > DEVICE_NAME_MAX) break;
    name += ch;
  }
  return `${name.trimEnd()}${suffix}`;
}
