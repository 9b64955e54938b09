/**
 * Which credential fields get a Copy button, by connector kind. Its own module, without zod, so
 * the renderer can import it without bundling the schemas of desktop-api.ts (which re-exports it).
 */

import { own } from './own.js';

/** How long a copied secret stays on the clipboard. */
export const CLIPBOARD_CLEAR_MS = 60_000;

/** The credential fields worth a Copy button, by connector kind; others can still be copied by name. */
export const COPYABLE_FIELDS: Readonly<Record<string, readonly { field: string; label: string }[]>> = {
  pass: [{ field: 'token', label: 'access pass' }],
  postgres: [{ field: 'url', label: 'connection URL' }, { field: 'password', label: 'password' }, { field: 'command', label: 'psql command' }, { field: 'user', label: 'user name' }],
  ssh: [{ field: 'command', label: 'ssh command' }, { field: 'certificate', label: 'certificate' }],
};

export function copyableFields(connector: string): readonly { field: string; label: string }[] {
  return own(COPYABLE_FIELDS, connector) ?? [];
}
