// SPDX-License-Identifier: Apache-2.0
/** One behaviour observed in a container, as every output receives it. */

export type AttributeValue = string | number | boolean | string[] | Record<string, number>;
export type Attributes = Record<string, AttributeValue>;

/** OTel severity numbers used by ContGuard (lowest value of each range). */
export const Severity = {
  INFO: 9,
  WARN: 13,
  ERROR: 17,
} as const;
export type SeverityName = keyof typeof Severity;

export interface EventRecord {
  /** Static, project-prefixed OTel EventName, e.g. `contguard.process.exec`. */
  eventName: string;
  /** When it happened (kernel clock converted to wall-clock), nanoseconds since the epoch. */
  timeUnixNano: bigint;
  severity: SeverityName;
  /** Short display string; escaped by each output that prints it. */
  body: string;
  /** Semantic-convention attributes: container.*, process.*, ... */
  attributes: Attributes;
}

/** Where event records go: console, JSON lines, OTel logs. */
export interface EventSink {
  write(record: EventRecord): void;
  /** Flushes buffered records; resolves once they are out. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}
