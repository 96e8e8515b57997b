import type { Router } from 'express';
import express from 'express';
import type { Database } from '@tally/db';

/**
 * `/healthz`: the process is up (liveness). `/readyz`: the database answers (readiness), so a
 * load balancer stops sending traffic during an outage or a shutdown and resumes after.
 */
export function healthRoutes(db: Database, isDraining: () => boolean): Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    if (isDraining()) {
      res.status(503).json({ status: 'unavailable', reason: 'shutting down' });
      return;
    }
    try {
      await db.ping(2_000);
      res.json({ status: 'ready', database: db.kind });
    } catch {
      res.status(503).json({ status: 'unavailable', reason: 'database unreachable', database: db.kind });
    }
  });
  return router;
}
