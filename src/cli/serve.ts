/** `latch serve`: the approval server, with graceful shutdown on SIGTERM and config reload on SIGHUP. */
import type { Command } from 'commander';
import type { LatchServer } from '../server/server.js';
import { CliError } from './errors.js';
import { defaultDataDir } from './paths.js';

export interface ServeFlags { host: string; port: string; dataDir?: string; config?: string; publicUrl?: string }

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the approval server')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '7300')
    .option('--data-dir <dir>', 'where the store and keys live (default $LATCH_DATA_DIR or ~/.latch/server)')
    .option('--config <file>', 'configuration file (YAML); reloaded on SIGHUP')
    .option('--public-url <url>', 'the URL clients use (issuer of access passes)')
    .action(async (flags: ServeFlags) => {
      await serve(flags);
    });
}

export async function serve(flags: ServeFlags, onReady?: (url: string, server: LatchServer) => void): Promise<void> {
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port ${flags.port} is not a port number (0–65535)`);
  const dataDir = flags.dataDir ?? defaultDataDir();
  // Loaded here, not at the top: every other `latch` command starts without the server's code.
  const { createLatchServer } = await import('../server/server.js');
  let server;
  try {
    server = await createLatchServer({ dataDir, configFile: flags.config ?? null, publicUrl: flags.publicUrl });
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
  let url: string;
  try {
    url = await server.listen(flags.host, port);
  } catch (err) {
    await server.close();
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'EADDRINUSE' ? `port ${port} on ${flags.host} is in use; stop the other process or pass --port` : `could not listen on ${flags.host}:${port}: ${(err as Error).message}`);
  }
  const log = server.log;
  log.info({ url, dataDir, config: flags.config ?? null, store: server.store.file }, 'latch server listening');
  if (!flags.config) log.warn('no --config given: there are no resources to request; see examples/demo.yaml');
  if (server.bootstrap) {
    // Printed once, on the first start of an empty store; the code is single-use.
    process.stdout.write(`\nBootstrap admin enrollment code (single use, valid 7 days):\n  latch login --server ${url} --code ${server.bootstrap.code}\n\n`);
  }
  onReady?.(url, server);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    server.close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    void server.reloadConfig().then(
      (r) => {
        if (r.ok) log.info({ config: flags.config }, 'configuration reloaded');
        else log.error({ error: r.error.message }, 'configuration NOT reloaded; the previous one stays in force');
      },
      // A bug in reading the file must not take the server down with it (it used to, on
      // `resource: constructor`): the reload failed, the server goes on.
      (err: unknown) => log.error({ error: err instanceof Error ? err.message : String(err) }, 'configuration reload failed'),
    );
  });
}
