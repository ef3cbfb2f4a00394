// SPDX-License-Identifier: Apache-2.0
/** Anomaly detection telemetry (src/anomaly/): rendered into README by scripts/gen-docs.mjs. */
import type { TelemetrySpec } from '../sensors/sensor.js';
import { CONTAINER_ATTRIBUTES, METRIC_CONTAINER_KEYS } from '../telemetry/container-attributes.js';
import { ANOMALY_ALERT_EVENT, ANOMALY_WINDOW_EVENT, WINDOW_ATTRS } from './features.js';

export const ANOMALY_SCORE_GAUGE = 'contguard.anomaly.score';

export const anomalyTelemetry: TelemetrySpec = {
  metrics: [
    {
      name: ANOMALY_SCORE_GAUGE,
      instrument: 'gauge',
      unit: '1',
      description: "Isolation Forest score of the container's last window against its image's model, in (0, 1]: near 1 anomalous, 0.5 or less normal (anomaly.enabled; none while the image's model is learning).",
      attributes: [...METRIC_CONTAINER_KEYS],
    },
  ],
  events: [
    {
      name: ANOMALY_ALERT_EVENT,
      severity: 'WARN',
      description: "A container's window scored at or above anomaly.threshold. Carries the trace id of the container's process tree when traces are on.",
      attributes: {
        ...CONTAINER_ATTRIBUTES,
        'contguard.anomaly.score': 'the score',
        'contguard.anomaly.threshold': 'anomaly.threshold',
        'contguard.anomaly.window_seconds': 'length of the window scored',
        'contguard.anomaly.window_end': 'end of the window (ISO 8601)',
        'contguard.anomaly.features': 'the features that moved most, each "name: value vs baseline 5th-95th percentile"',
        'contguard.anomaly.feature_values': 'those features: name to value in the window',
      },
    },
    {
      name: ANOMALY_WINDOW_EVENT,
      severity: 'INFO',
      description:
        "The end of one container's monitoring window (anomaly.enabled), with its cumulative resource counters: the input the detector reads, so `contguard anomaly train|score --log-dir` replays the same windows from JSON lines.",
      attributes: {
        ...CONTAINER_ATTRIBUTES,
        [WINDOW_ATTRS.seconds]: 'window length',
        [WINDOW_ATTRS.cpuSeconds]: 'CPU time (user + system) since the container started',
        [WINDOW_ATTRS.memoryBytes]: 'memory working set (usage without inactive file pages)',
        [WINDOW_ATTRS.diskBytes]: 'block IO bytes (read + write) since the container started',
        [WINDOW_ATTRS.throttledSeconds]: 'time throttled by the CPU quota since the container started',
        [WINDOW_ATTRS.tasks]: 'tasks (pids.current)',
      },
    },
  ],
};
