/**
 * `latch admin --data-dir DIR …`: operator commands on the server host, straight on the store (no
 * token needed: whoever can read the data dir already owns the server).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { addUser, listPrincipals, newCodeFor } from '../server/auth/identity.js';
import { ApiError } from '../server/http/errors.js';
import { openStore, type Store } from '../server/store/open.js';
import { CliError } from './errors.js';

export async function withLocalStore<T>(dataDir: string, fn: (store: Store) => Promise<T>): Promise<T> {
  if (!existsSync(join(dataDir, 'latch.db'))) throw new CliError(`no Latch store in ${dataDir}; start the server once with \`latch serve --data-dir ${dataDir}\` or pass the right --data-dir`);
  const store = await openStore(dataDir);
  try {
    return await fn(store);
  } catch (err) {
    if (err instanceof ApiError) throw new CliError(err.message);
    throw err;
  } finally {
    await store.close();
  }
}

export const localAdmin = {
  addUser: (dataDir: string, input: { name: string; groups: string[]; admin: boolean }) =>
    withLocalStore(dataDir, async (store) => {
      const r = await addUser(store, input, null, Date.now());
      return { user: r.user, code: r.code };
    }),
  newCode: (dataDir: string, name: string) => withLocalStore(dataDir, (store) => newCodeFor(store, name, Date.now())),
  listUsers: (dataDir: string) => withLocalStore(dataDir, (store) => listPrincipals(store.db)),
};
