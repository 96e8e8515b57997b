import { createPubSub } from '@graphql-yoga/subscription';

/** Topics published inside one process. Payloads carry ids or small values only. */
export type Topics = {
  SETTINGS_UPDATED: [{ at: Date }];
};

export function createTallyPubSub() {
  return createPubSub<Topics>();
}
