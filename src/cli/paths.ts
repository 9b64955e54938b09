import { homedir } from 'node:os';
import { join } from 'node:path';

/** `$LATCH_HOME`, default `~/.latch`: the CLI's credential file (when no keychain) and the default server data dir. */
export const latchHome = () => process.env.LATCH_HOME || join(homedir(), '.latch');
export const defaultDataDir = () => process.env.LATCH_DATA_DIR || join(latchHome(), 'server');
