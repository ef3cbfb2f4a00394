// SPDX-License-Identifier: Apache-2.0
/**
 * Official OTLP protobuf codec for tests.
 *
 * The OTel JS 0.2xx packages we depend on no longer ship the OTLP protos, so this
 * module fetches the protobufjs static codec that the OTel JS project generated
 * from opentelemetry-proto v1.7 (it knows `LogRecord.event_name`) out of the npm
 * package `@opentelemetry/otlp-transformer@0.208.0`:
 *
 *   npm pack @opentelemetry/otlp-transformer@0.208.0 --pack-destination <tmp>
 *   tar -xzf <tgz> package/build/src/generated/root.js
 *
 * The tarball is checked against its published sha512 integrity and the extracted
 * file against a pinned sha256, then cached as `test/.cache/otlp-transformer-0.208.0/root.cjs`
 * (gitignored), so the registry is only contacted once per clone. root.js needs `protobufjs/minimal`
 * (protobufjs 7, installed as a dependency of @grpc/proto-loader).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, mkdtempSync, copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CACHE_DIR = path.join(REPO_ROOT, 'test', '.cache');

const PKG_NAME = '@opentelemetry/otlp-transformer';
const PKG_VERSION = '0.208.0';
/** `dist.integrity` of the published tarball (npm view @opentelemetry/otlp-transformer@0.208.0 dist.integrity). */
const PKG_INTEGRITY =
  'sha512-DCFPY8C6lAQHUNkzcNT9R+qYExvsk6C5Bto2pbNxgicpcSWbe2WHShLxkOxIdNcBiYPdVHv/e7vH7K6TI+C+fQ==';
const MEMBER = 'package/build/src/generated/root.js';
/** sha256 of MEMBER inside that tarball. */
const ROOT_JS_SHA256 = '50f9144a8b2152a43e1517e792672c48b5c54e7cc5c1f26fb1b8c13708016a5d';

/**
 * Where the cached codec lives. Stored as .cjs: root.js is CommonJS, and a plain .js under
 * this repo's "type": "module" package.json would be loaded as ESM.
 */
export const ROOT_JS_PATH = path.join(CACHE_DIR, `otlp-transformer-${PKG_VERSION}`, 'root.cjs');

const NPM_TIMEOUT_MS = 180_000;

/** Options for `toObject`: 64-bit ints as decimal strings, enums as names, bytes as base64. */
export const TO_OBJECT_OPTIONS = {
  longs: String,
  enums: String,
  bytes: String,
  defaults: false,
  arrays: true,
  objects: true,
  oneofs: false,
} as const;

// ---- minimal typing of the protobufjs static codec -------------------------------------

export interface MessageType {
  decode(reader: Uint8Array): object;
  encode(message: object): { finish(): Uint8Array };
  toObject(message: object, options?: object): Record<string, any>;
  verify(message: object): string | null;
  fromObject(object: Record<string, any>): object;
}

export interface OtlpCodec {
  ExportLogsServiceRequest: MessageType;
  ExportLogsServiceResponse: MessageType;
  ExportMetricsServiceRequest: MessageType;
  ExportMetricsServiceResponse: MessageType;
  ExportTraceServiceRequest: MessageType;
  ExportTraceServiceResponse: MessageType;
  /** name -> number and number -> name, as protobufjs generates enums. */
  SeverityNumber: Record<string, number | string>;
  AggregationTemporality: Record<string, number | string>;
  /** Decodes an ExportLogsServiceRequest and returns its plain-object form (TO_OBJECT_OPTIONS). */
  decodeLogsRequest(buf: Uint8Array): Record<string, any>;
  /** Decodes an ExportMetricsServiceRequest and returns its plain-object form (TO_OBJECT_OPTIONS). */
  decodeMetricsRequest(buf: Uint8Array): Record<string, any>;
  /** Decodes an ExportTraceServiceRequest and returns its plain-object form (TO_OBJECT_OPTIONS). */
  decodeTracesRequest(buf: Uint8Array): Record<string, any>;
  /** Encoded, empty ExportLogsServiceResponse (full success). */
  emptyLogsResponse(): Buffer;
  /** Encoded, empty ExportMetricsServiceResponse (full success). */
  emptyMetricsResponse(): Buffer;
  /** Encoded, empty ExportTraceServiceResponse (full success). */
  emptyTracesResponse(): Buffer;
  /** Encodes a request from its plain-object form (handy for hand-made fixtures). */
  encodeLogsRequest(obj: Record<string, any>): Buffer;
  encodeMetricsRequest(obj: Record<string, any>): Buffer;
}

// ---- download + cache --------------------------------------------------------------------

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function sriOf(file: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

function cachedRootJsValid(): boolean {
  return existsSync(ROOT_JS_PATH) && sha256File(ROOT_JS_PATH) === ROOT_JS_SHA256;
}

let ensurePromise: Promise<string> | undefined;

/**
 * Makes sure `test/.cache/otlp-transformer-0.208.0/root.cjs` exists and is the pinned file;
 * downloads it with `npm pack` only when it is missing or corrupt. Returns its path.
 */
export function ensureOtlpRootJs(): Promise<string> {
  ensurePromise ??= doEnsure().catch((err) => {
    ensurePromise = undefined;
    throw err;
  });
  return ensurePromise;
}

async function doEnsure(): Promise<string> {
  if (cachedRootJsValid()) return ROOT_JS_PATH;

  mkdirSync(path.dirname(ROOT_JS_PATH), { recursive: true });
  const tmp = mkdtempSync(path.join(CACHE_DIR, '.otlp-pack-'));
  try {
    try {
      await execFileP('npm', ['pack', `${PKG_NAME}@${PKG_VERSION}`, '--pack-destination', tmp, '--silent'], {
        cwd: tmp,
        timeout: NPM_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err: any) {
      throw new Error(
        `otlp-codec: "npm pack ${PKG_NAME}@${PKG_VERSION}" failed (is the npm registry reachable?): ` +
          `${err?.stderr || err?.message || err}`,
      );
    }
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`otlp-codec: npm pack produced no .tgz in ${tmp}`);
    const tgzPath = path.join(tmp, tgz);
    const sri = sriOf(tgzPath);
    if (sri !== PKG_INTEGRITY) {
      throw new Error(`otlp-codec: ${tgz} integrity mismatch: got ${sri}, want ${PKG_INTEGRITY}`);
    }
    await execFileP('tar', ['-xzf', tgzPath, '-C', tmp, MEMBER], { timeout: 60_000 });
    const extracted = path.join(tmp, MEMBER);
    const sum = sha256File(extracted);
    if (sum !== ROOT_JS_SHA256) {
      throw new Error(`otlp-codec: ${MEMBER} sha256 mismatch: got ${sum}, want ${ROOT_JS_SHA256}`);
    }
    // Atomic publish so concurrent test processes never see a half-written file.
    const staged = `${ROOT_JS_PATH}.${process.pid}.tmp`;
    copyFileSync(extracted, staged);
    renameSync(staged, ROOT_JS_PATH);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return ROOT_JS_PATH;
}

// ---- load ------------------------------------------------------------------------------------

let codecPromise: Promise<OtlpCodec> | undefined;

/** Downloads (once) and loads the official OTLP codec. Memoized per process. */
export function loadOtlpCodec(): Promise<OtlpCodec> {
  codecPromise ??= ensureOtlpRootJs()
    .then(buildCodec)
    .catch((err) => {
      codecPromise = undefined;
      throw err;
    });
  return codecPromise;
}

function buildCodec(rootJs: string): OtlpCodec {
  const req = createRequire(rootJs);
  let minimal: any;
  try {
    minimal = req('protobufjs/minimal');
  } catch (err) {
    throw new Error(
      `otlp-codec: cannot resolve "protobufjs/minimal" from ${rootJs}; protobufjs 7 is expected in ` +
        `node_modules as a dependency of @grpc/proto-loader (run npm ci): ${(err as Error).message}`,
    );
  }
  // Without Long support protobufjs decodes fixed64 nanoseconds as lossy doubles.
  if (!minimal.util.Long) {
    minimal.util.Long = req('long');
    minimal.configure();
  }
  const root = req(rootJs);
  const proto = root?.opentelemetry?.proto;
  if (!proto?.collector?.logs?.v1?.ExportLogsServiceRequest) {
    throw new Error(`otlp-codec: ${rootJs} does not export opentelemetry.proto.collector.logs.v1`);
  }
  if (!proto.collector?.trace?.v1?.ExportTraceServiceRequest) {
    throw new Error(`otlp-codec: ${rootJs} does not export opentelemetry.proto.collector.trace.v1`);
  }
  const logsSvc = proto.collector.logs.v1;
  const metricsSvc = proto.collector.metrics.v1;
  const traceSvc = proto.collector.trace.v1;

  const decode = (type: MessageType, buf: Uint8Array) =>
    type.toObject(type.decode(buf), TO_OBJECT_OPTIONS);
  const encode = (type: MessageType, obj: Record<string, any>) => {
    const msg = type.fromObject(obj);
    const bad = type.verify(msg);
    if (bad) throw new Error(`otlp-codec: invalid message: ${bad}`);
    return Buffer.from(type.encode(msg).finish());
  };

  return {
    ExportLogsServiceRequest: logsSvc.ExportLogsServiceRequest,
    ExportLogsServiceResponse: logsSvc.ExportLogsServiceResponse,
    ExportMetricsServiceRequest: metricsSvc.ExportMetricsServiceRequest,
    ExportMetricsServiceResponse: metricsSvc.ExportMetricsServiceResponse,
    ExportTraceServiceRequest: traceSvc.ExportTraceServiceRequest,
    ExportTraceServiceResponse: traceSvc.ExportTraceServiceResponse,
    SeverityNumber: proto.logs.v1.SeverityNumber,
    AggregationTemporality: proto.metrics.v1.AggregationTemporality,
    decodeLogsRequest: (buf) => decode(logsSvc.ExportLogsServiceRequest, buf),
    decodeMetricsRequest: (buf) => decode(metricsSvc.ExportMetricsServiceRequest, buf),
    decodeTracesRequest: (buf) => decode(traceSvc.ExportTraceServiceRequest, buf),
    emptyLogsResponse: () => Buffer.from(logsSvc.ExportLogsServiceResponse.encode({}).finish()),
    emptyMetricsResponse: () => Buffer.from(metricsSvc.ExportMetricsServiceResponse.encode({}).finish()),
    emptyTracesResponse: () => Buffer.from(traceSvc.ExportTraceServiceResponse.encode({}).finish()),
    encodeLogsRequest: (obj) => encode(logsSvc.ExportLogsServiceRequest, obj),
    encodeMetricsRequest: (obj) => encode(metricsSvc.ExportMetricsServiceRequest, obj),
  };
}
