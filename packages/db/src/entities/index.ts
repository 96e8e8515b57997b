import { ApiTokenEntity } from './api-token.entity.js';
import { SettingsEntity } from './settings.entity.js';
import { SourceEntity, SourceKeyEntity } from './source.entity.js';
import { FailureCodeEntity } from './failure-code.entity.js';

export * from './api-token.entity.js';
export * from './settings.entity.js';
export * from './source.entity.js';
export * from './failure-code.entity.js';

export const entities = [ApiTokenEntity, SettingsEntity, SourceEntity, SourceKeyEntity, FailureCodeEntity];
