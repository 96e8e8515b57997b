import { defineProject } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.mjs';

export default defineProject(sharedTestConfig(import.meta.dirname));
