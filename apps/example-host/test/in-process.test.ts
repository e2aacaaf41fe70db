/** The host with the plugin's router in its own process. */
import { describe } from 'vitest';
import { describeHostScenarios } from './host-scenarios.js';
import { startInProcessTransport } from './support.js';

describe('host in-process', () => describeHostScenarios(startInProcessTransport));
