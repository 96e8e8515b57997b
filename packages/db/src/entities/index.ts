import { ApiTokenEntity } from './api-token.entity.js';
import { SettingsEntity } from './settings.entity.js';

export * from './api-token.entity.js';
export * from './settings.entity.js';

export const entities = [ApiTokenEntity, SettingsEntity];
