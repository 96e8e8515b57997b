import type { Attribution } from '@tally/domain';
import type { Context } from '../../context.js';
import type { ReadContext } from './payment-metrics.service.js';

/** Settings and attribution for one request, each read once through the request's loaders. */
export async function readContext(ctx: Pick<Context, 'loaders'>): Promise<ReadContext> {
  const [settings, codes] = await Promise.all([ctx.loaders.settings.load(1), ctx.loaders.attributions.load(1)]);
  return {
    calendar: { timeZone: settings.timeZone, weekRule: settings.weekRule },
    lowVolumeThreshold: settings.lowVolumeThreshold,
    attributionOf: (code: string): Attribution => codes.get(code) ?? 'UNCLASSIFIED',
  };
}

