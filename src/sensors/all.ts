// SPDX-License-Identifier: Apache-2.0
/** Every sensor the agent knows, by name; test/unit/sensor-catalog.test.ts checks it against bpf/ and src/sensors/. */
import type { Sensor } from './sensor.js';
import { execSensor } from './exec/index.js';
import { syscallsSensor } from './syscalls/index.js';
import { ioUringSensor } from './io_uring/index.js';
import { fileOpenSensor } from './file_open/index.js';
import { networkSensor } from './network/index.js';
import { processSensor } from './process/index.js';

export const SENSORS: readonly Sensor[] = [execSensor, syscallsSensor, ioUringSensor, fileOpenSensor, networkSensor, processSensor];
