import 'reflect-metadata';
import net from 'node:net';
import { DatabaseLockedError, DatabaseUnavailableError, openDatabase, type Database } from '@tally/db';
import { createApp } from './app.js';
import { ConfigError, parseConfig, type Config } from './config.js';
import { createLogger } from './logger.js';
import { loadDemoIfEmpty } from './modules/demo/demo.service.js';

/** One line on stderr and a non-zero exit: what an operator needs, not a stack. */
function fail(message: string, code = 1): never {
  process.stderr.write(`tally: ${message}\n`);
  process.exit(code);
}

async function openOrExplain(config: Config): Promise<Database> {
  try {
    return await openDatabase({
      url: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: config.databasePoolSize,
      applicationName: 'tally-api',
    });
  } catch (err) {
    if (err instanceof DatabaseUnavailableError || err instanceof DatabaseLockedError) fail(`cannot start: ${err.message}`);
    throw err;
  }
}

/** Why `port` cannot be listened on now, or null when it can (port 0 always can). */
function portProblem(port: number, host: string | undefined): Promise<NodeJS.ErrnoException | null> {
  if (port === 0) return Promise.resolve(null);
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    probe.listen(port, host, () => probe.close(() => resolve(null)));
  });
}

function cannotListen(port: number, e: NodeJS.ErrnoException): string {
  return e.code === 'EADDRINUSE' ? `cannot start: port ${port} is already in use (set PORT)` : `cannot listen: ${e.message}`;
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = parseConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
  const logger = createLogger(config);
  // Before the database, migrations and the demo load (half a minute on a first start): a port
  // already taken (or not ours to take) is said at once. Listening still checks it (another
  // process may take it meanwhile).
  const problem = await portProblem(config.port, config.host);
  if (problem) fail(cannotListen(config.port, problem));
  const db = await openOrExplain(config);
  const applied = await db.migrate();
  if (applied.length) logger.info({ applied }, 'migrations applied');
  const app = await createApp({ config, db, logger });
  // A chosen token works from the first request on; a generated one is made once listening.
  if (config.adminToken) await app.services.auth.ensureBootstrapAdmin(config.adminToken);
  let demo: Awaited<ReturnType<typeof loadDemoIfEmpty>> = null;
  if (config.demo) {
    demo = await loadDemoIfEmpty(app.services, logger, (resuming) =>
      process.stdout.write(
        resuming
          ? 'Finishing the demo quarter (Dec 2022 – Feb 2023), whose loading was interrupted…\n'
          : 'Loading the demo quarter (Dec 2022 – Feb 2023) into the empty database…\n',
      ),
    );
  }
  // From here on a signal stops the API gracefully (before, it ends the process as it is: the
  // demo load resumes on the next start).
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // Whatever hangs, the process is gone within the limit plus a little slack.
    setTimeout(() => fail(`shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`), config.shutdownTimeoutMs + 500).unref();
    try {
      await app.stop();
      await db.close();
      logger.info('stopped');
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  let port: number;
  try {
    port = await app.listen(config.port, config.host);
  } catch (err) {
    await db.close();
    fail(cannotListen(config.port, err as NodeJS.ErrnoException));
  }
  // Only once listening, and printed right below: a first start stopped earlier (Ctrl-C during
  // the demo load, a port taken) must not leave a stored token whose secret nobody saw.
  let generatedSecret: string | undefined;
  if (!config.adminToken) {
    try {
      ({ generatedSecret } = await app.services.auth.ensureBootstrapAdmin(undefined));
    } catch (err) {
      if (stopping) return; // a signal came meanwhile: the shutdown under way ends the process
      await app.stop().catch(() => {});
      await db.close().catch(() => {});
      throw err;
    }
  }

  const lines = [
    `Tally API ready at http://localhost:${port}/graphql`,
    `  database: ${db.description}`,
  ];
  if (demo) {
    lines.push(`  demo: ${demo.events} payment outcomes loaded in ${(demo.ms / 1000).toFixed(1)} s; try week 03 of 2023 (2023-01-09):`);
    lines.push('    { paymentSuccess(direction: PAY_IN, from: "2023-01-08T16:00:00Z", to: "2023-01-15T16:00:00Z") { effectiveRate } }');
  }
  if (generatedSecret) {
    lines.push(
      '  first start: an ADMIN token was generated. It is shown only now; store it:',
      `    ${generatedSecret}`,
      '  use it as "Authorization: Bearer <token>" (set TALLY_ADMIN_TOKEN to choose your own instead)',
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
  logger.info({ port, database: db.kind }, 'listening');
}

main().catch((err: unknown) => fail(`cannot start: ${err instanceof Error ? err.message : String(err)}`));
