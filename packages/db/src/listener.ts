import pg from 'pg';

export interface Listener {
  close(): Promise<void>;
}

/**
 * LISTENs on a channel with a dedicated connection (a pooled one would be returned and lose
 * its LISTEN), reconnecting with backoff. `onReconnect` runs after every reconnection: the
 * notifications sent while disconnected are lost, so callers recompute what they serve.
 */
export function listen(
  config: pg.ClientConfig,
  channel: string,
  onMessage: (payload: string) => void,
  onReconnect: () => void,
  onError: (err: unknown) => void = () => {},
): Listener {
  let client: pg.Client | undefined;
  let closed = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;

  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({ ...config, application_name: 'tally-listen' });
    c.on('notification', (n) => {
      if (n.channel === channel && n.payload !== undefined) onMessage(n.payload);
    });
    c.on('error', (err) => {
      onError(err);
      retry(c);
    });
    c.on('end', () => retry(c));
    try {
      await c.connect();
      await c.query(`LISTEN "${channel.replace(/"/g, '""')}"`);
      client = c;
      if (attempt > 0) onReconnect();
      attempt = 0;
    } catch (err) {
      onError(err);
      retry(c);
    }
  };
  const retry = (c: pg.Client) => {
    if (closed || client !== c) {
      if (client === undefined && !timer && !closed) schedule();
      return;
    }
    client = undefined;
    c.end().catch(() => {});
    schedule();
  };
  const schedule = () => {
    if (timer || closed) return;
    attempt++;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, Math.min(10_000, 250 * 2 ** Math.min(attempt, 6)));
  };
  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await client?.end().catch(() => {});
      client = undefined;
    },
  };
}
