// Reading the CRI container log format (the file a runtime writes at a container's `logPath`)
// with the semantics of `kubectl logs`, as the kubelet serves them (pkg/kubelet/kuberuntime/logs).
import type { Stats } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { Code, CriError } from "./errors.js";

/** The output stream a log line came from, as tagged in the CRI log format. */
export type LogStreamType = "stdout" | "stderr";

/**
 * One line of a container's output. Partial records (`P`) are joined with the following records
 * of the same stream up to the closing full record (`F`).
 */
export interface ContainerLogEntry {
  /** The timestamp of the line's first record, exactly as the runtime wrote it (RFC 3339 with nanoseconds). */
  time: string;
  /** The stream the line was written to. */
  stream: LogStreamType;
  /** The content, without the line's newline. */
  line: Buffer;
  /**
   * `true` when the line has no newline: the log ended (or the reader stopped) before the runtime
   * wrote the closing `F` record, or `limitBytes` cut the line.
   */
  partial: boolean;
}

/** One parsed record (one physical line) of the CRI log format; see {@link parseCriLogLine}. */
export interface CriLogRecord {
  /** The timestamp as written. */
  time: string;
  /** `stdout` or `stderr`. */
  stream: LogStreamType;
  /** `true` for a `P` (partial) record: the content continues in the next record of the stream. */
  partial: boolean;
  /** The content, without the record's newline. */
  content: Buffer;
}

/** Options of {@link readContainerLogs} and {@link createContainerLogStream}; `kubectl logs` flags. */
export interface ReadContainerLogsOptions {
  /** Keep reading as the file grows and across rotations, until `signal` aborts or `isRunning` says no. */
  follow?: boolean | undefined;
  /** Start with the last N lines (joined lines, not records). Not allowed with `stream` other than `all`. */
  tail?: number | undefined;
  /** Only lines written in the last `since` seconds (`kubectl logs --since`, the API's `sinceSeconds`). */
  since?: number | undefined;
  /** Only lines written at or after this time; a string keeps nanoseconds. The later of `since`/`sinceTime` wins. */
  sinceTime?: Date | string | undefined;
  /** Stop after this many bytes of formatted output (timestamps and newlines count); the last line is cut. */
  limitBytes?: number | undefined;
  /** Count (and, in the Readable, print) the kubectl timestamp prefix: fixed 9-digit nanoseconds and a space. */
  timestamps?: boolean | undefined;
  /** Which stream to return (default `all`). */
  stream?: LogStreamType | "all" | undefined;
  /** Stops reading; the iteration then ends normally. */
  signal?: AbortSignal | undefined;
  /**
   * With `follow`: asked each time the reader reaches the end of the file. Once it answers `false`
   * the reader drains the file one last time and ends (the kubelet asks the runtime whether the
   * container still runs).
   */
  isRunning?: (() => boolean | Promise<boolean>) | undefined;
  /** Called for each malformed record after the first, which is skipped. Default: skip silently. */
  onMalformedLine?: ((record: Buffer, error: CriError) => void) | undefined;
  /** How often `follow` looks for new data and for a replaced file, in ms (default 100). */
  pollIntervalMs?: number | undefined;
  /** The clock for `since`, ms since the epoch (default `Date.now`). */
  now?: (() => number) | undefined;
}

const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;
const SPACE = 0x20;
const NEWLINE = 0x0a;
const READ_CHUNK = 64 * 1024;

interface ParsedTime {
  /** Nanoseconds since the epoch. */
  ns: bigint;
  /** The kubectl output form: RFC 3339 with exactly nine fraction digits, `Z` for UTC. */
  fixed: string;
}

function parseTime(text: string): ParsedTime | undefined {
  const m = TIMESTAMP.exec(text);
  if (!m) return undefined;
  const [, seconds = "", fraction = "", zone = "Z"] = m;
  const ms = Date.parse(`${seconds}${zone}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = fraction.padEnd(9, "0");
  const fixedZone = zone === "+00:00" || zone === "-00:00" ? "Z" : zone;
  return { ns: BigInt(ms) * 1_000_000n + BigInt(frac), fixed: `${seconds}.${frac}${fixedZone}` };
}

function malformed(message: string): CriError {
  return new CriError(Code.DataLoss, `malformed CRI log record: ${message}`);
}

/**
 * Parses one record (one physical line, without its newline) of the CRI log format,
 * `<RFC3339Nano timestamp> <stdout|stderr> <tags> <content>`, where the first of the
 * `:`-separated tags is `P` for a partial record and anything else (`F`) for a full one.
 *
 * @throws {CriError} `DataLoss` when the record does not have that shape.
 * @example
 * ```ts
 * const r = parseCriLogLine(Buffer.from("2016-10-06T00:17:09.669794202Z stdout P log content 1"));
 * // { time: "2016-10-06T00:17:09.669794202Z", stream: "stdout", partial: true, content: <"log content 1"> }
 * ```
 */
export function parseCriLogLine(record: Buffer): CriLogRecord {
  return toRecord(parseRecord(record));
}

interface ParsedRecord extends CriLogRecord {
  parsedTime: ParsedTime;
}

function toRecord(r: ParsedRecord): CriLogRecord {
  return { time: r.time, stream: r.stream, partial: r.partial, content: r.content };
}

function parseRecord(record: Buffer): ParsedRecord {
  const timeEnd = record.indexOf(SPACE);
  if (timeEnd < 0) throw malformed("no timestamp");
  const time = record.toString("latin1", 0, timeEnd);
  const parsedTime = parseTime(time);
  if (!parsedTime) throw malformed(`bad timestamp ${JSON.stringify(time)}`);
  const streamEnd = record.indexOf(SPACE, timeEnd + 1);
  if (streamEnd < 0) throw malformed("no stream");
  const stream = record.toString("latin1", timeEnd + 1, streamEnd);
  if (stream !== "stdout" && stream !== "stderr") throw malformed(`bad stream ${JSON.stringify(stream)}`);
  const tagEnd = record.indexOf(SPACE, streamEnd + 1);
  if (tagEnd < 0) throw malformed("no tag");
  const firstTag = record.toString("latin1", streamEnd + 1, tagEnd).split(":")[0];
  return { time, parsedTime, stream, partial: firstTag === "P", content: record.subarray(tagEnd + 1) };
}

interface InternalEntry extends ContainerLogEntry {
  ns: bigint;
  fixedTime: string;
}

const CAUGHT_UP: unique symbol = Symbol("caught-up");

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev;
}

/**
 * All joined lines of the file in order; yields CAUGHT_UP once, the first time the end of the
 * file is reached (after flushing the incomplete lines when not following).
 */
async function* joinedLines(
  path: string,
  options: ReadContainerLogsOptions,
): AsyncGenerator<InternalEntry | typeof CAUGHT_UP> {
  const { follow = false, signal, isRunning, onMalformedLine, pollIntervalMs = 100 } = options;
  const pending: Record<LogStreamType, { first: ParsedRecord; parts: Buffer[] } | undefined> = {
    stdout: undefined,
    stderr: undefined,
  };
  let sawRecord = false;

  function take(record: Buffer): InternalEntry | undefined {
    let r: ParsedRecord;
    try {
      r = parseRecord(record);
    } catch (err) {
      // The kubelet fails when the first line has no known format, and logs and skips later ones.
      if (!sawRecord) throw new CriError(Code.DataLoss, `unsupported log format in ${path}`, { cause: err });
      onMalformedLine?.(record, err as CriError);
      return undefined;
    }
    sawRecord = true;
    const started = pending[r.stream];
    if (r.partial) {
      if (started) started.parts.push(r.content);
      else pending[r.stream] = { first: r, parts: [r.content] };
      return undefined;
    }
    pending[r.stream] = undefined;
    const first = started?.first ?? r;
    const line = started ? Buffer.concat([...started.parts, r.content]) : r.content;
    return entry(first, line, false);
  }

  function entry(first: ParsedRecord, line: Buffer, partial: boolean): InternalEntry {
    const { time, stream, parsedTime } = first;
    return { time, stream, line, partial, ns: parsedTime.ns, fixedTime: parsedTime.fixed };
  }

  function* flush(): Generator<InternalEntry> {
    const unfinished = [pending.stdout, pending.stderr]
      .filter((p) => p !== undefined)
      .sort((a, b) => (a.first.parsedTime.ns < b.first.parsedTime.ns ? -1 : 1));
    pending.stdout = undefined;
    pending.stderr = undefined;
    for (const p of unfinished) yield entry(p.first, Buffer.concat(p.parts), true);
  }

  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === "ENOENT" ? Code.NotFound : Code.Unknown;
    throw new CriError(code, `cannot open log file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    let identity = await fh.stat();
    let offset = 0;
    let carry: Buffer = Buffer.alloc(0);
    let caughtUp = false;
    let lastDrain = false;
    let replaced = false;
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      if (signal?.aborted) return;
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      if (bytesRead > 0) {
        offset += bytesRead;
        // A copy: the entries and the partial records keep slices of it while `buf` is reused.
        let data = Buffer.concat([carry, buf.subarray(0, bytesRead)]);
        for (let nl = data.indexOf(NEWLINE); nl >= 0; nl = data.indexOf(NEWLINE)) {
          const e = take(data.subarray(0, nl));
          data = data.subarray(nl + 1);
          if (e) yield e;
        }
        carry = data;
        continue;
      }
      // End of the file.
      if (!follow || lastDrain) {
        // Not following (or the container stopped): a last line without newline is still read.
        if (carry.length) {
          const e = take(carry);
          carry = Buffer.alloc(0);
          if (e) yield e;
        }
        yield* flush();
        if (!caughtUp) yield CAUGHT_UP;
        return;
      }
      if (!caughtUp) {
        caughtUp = true;
        yield CAUGHT_UP;
      }
      if (replaced) {
        // The old file is drained: continue with the one now at the path.
        const next = await open(path, "r").catch((err: NodeJS.ErrnoException) => {
          if (err.code === "ENOENT") return undefined;
          throw err;
        });
        if (next) {
          await fh.close();
          fh = next;
          identity = await fh.stat();
          offset = 0;
          carry = Buffer.alloc(0);
          replaced = false;
          continue;
        }
      } else {
        const current = await statOrUndefined(path);
        if (current && !sameFile(current, identity)) {
          // Rotated (renamed and recreated): read what is left in the old file once more, then switch.
          replaced = true;
          continue;
        }
        if (current && current.size < offset) {
          // Truncated in place (copytruncate): start again at the beginning.
          offset = 0;
          carry = Buffer.alloc(0);
          continue;
        }
      }
      if (isRunning && !(await isRunning())) {
        lastDrain = true;
        continue;
      }
      await sleep(pollIntervalMs, signal);
    }
  } finally {
    await fh.close();
  }
}

function sinceNs(options: ReadContainerLogsOptions): bigint | undefined {
  let since: bigint | undefined;
  if (options.since !== undefined) {
    const now = (options.now ?? Date.now)();
    since = BigInt(Math.round(now - options.since * 1000)) * 1_000_000n;
  }
  if (options.sinceTime !== undefined) {
    let t: bigint;
    if (typeof options.sinceTime === "string") {
      const parsed = parseTime(options.sinceTime);
      if (!parsed) throw new CriError(Code.InvalidArgument, `sinceTime: not an RFC 3339 time: ${options.sinceTime}`);
      t = parsed.ns;
    } else {
      t = BigInt(options.sinceTime.getTime()) * 1_000_000n;
    }
    if (since === undefined || t > since) since = t;
  }
  return since;
}

function validate(options: ReadContainerLogsOptions): void {
  const { tail, limitBytes, since, stream = "all" } = options;
  const nonNegativeInteger = (v: number | undefined) => v === undefined || (Number.isInteger(v) && v >= 0);
  if (!nonNegativeInteger(tail)) throw new CriError(Code.InvalidArgument, `tail must be an integer >= 0, got ${tail}`);
  if (limitBytes !== undefined && !(Number.isInteger(limitBytes) && limitBytes > 0)) {
    throw new CriError(Code.InvalidArgument, `limitBytes must be an integer > 0, got ${limitBytes}`);
  }
  if (since !== undefined && !(Number.isFinite(since) && since > 0)) {
    throw new CriError(Code.InvalidArgument, `since must be > 0 seconds, got ${since}`);
  }
  if (stream !== "all" && stream !== "stdout" && stream !== "stderr") {
    throw new CriError(Code.InvalidArgument, `stream must be stdout, stderr or all, got ${String(stream)}`);
  }
  if (tail !== undefined && stream !== "all") {
    throw new CriError(Code.InvalidArgument, "tail cannot be combined with a single stream");
  }
}

/** Joined lines after `tail`, `since` and `stream`, without the byte limit. */
async function* selectedLines(path: string, options: ReadContainerLogsOptions): AsyncGenerator<InternalEntry> {
  validate(options);
  const since = sinceNs(options);
  const { tail, stream = "all" } = options;
  const keep = (e: InternalEntry) =>
    (since === undefined || e.ns >= since) && (stream === "all" || e.stream === stream);
  // With tail, the last `tail` lines before the end of the file, in a circular buffer.
  let ring: InternalEntry[] | undefined = tail === undefined ? undefined : [];
  let seen = 0;
  for await (const e of joinedLines(path, options)) {
    if (e === CAUGHT_UP) {
      if (ring) {
        const start = seen > ring.length ? seen % ring.length : 0;
        for (let i = 0; i < ring.length; i++) {
          const r = ring[(start + i) % ring.length];
          if (r && keep(r)) yield r;
        }
      }
      ring = undefined;
      continue;
    }
    if (ring) {
      if (tail === 0) continue;
      ring[seen % (tail ?? 1)] = e;
      seen++;
      continue;
    }
    if (keep(e)) yield e;
  }
}

function prefixOf(e: InternalEntry, timestamps: boolean): Buffer {
  return timestamps ? Buffer.from(`${e.fixedTime} `, "latin1") : Buffer.alloc(0);
}

/**
 * Reads a container's log file in the CRI log format with the semantics of `kubectl logs`
 * (the kubelet's `ReadLogs`): records tagged `P` are joined into one line with the following
 * records of their stream; `tail` starts with the last N lines; `since`/`sinceTime` skip lines
 * written before that time; `stream` picks stdout or stderr; `limitBytes` counts the formatted
 * output (with the timestamp prefix when `timestamps` is set, and the newline) and cuts the last
 * line; `follow` keeps reading as the file grows and, when the file at `path` is replaced (the
 * kubelet's log rotation renames `0.log` and the runtime reopens it), finishes the old file and
 * continues with the new one, until `signal` aborts or `isRunning` answers `false`.
 *
 * A malformed first record fails the read with a `CriError` (`DataLoss`), later malformed records
 * are skipped and reported to `onMalformedLine`, as the kubelet does.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * for await (const { time, stream, line } of readContainerLogs("/var/log/pods/ns_pod_uid/app/0.log", {
 *   follow: true,
 *   tail: 10,
 *   signal: ac.signal,
 * })) {
 *   console.log(time, stream, line.toString());
 * }
 * ```
 */
export async function* readContainerLogs(
  path: string,
  options: ReadContainerLogsOptions = {},
): AsyncGenerator<ContainerLogEntry, void, undefined> {
  const { limitBytes, timestamps = false } = options;
  let remain = limitBytes ?? Number.POSITIVE_INFINITY;
  for await (const e of selectedLines(path, options)) {
    const prefix = prefixOf(e, timestamps).length;
    const size = prefix + e.line.length + (e.partial ? 0 : 1);
    const entry: ContainerLogEntry = { time: e.time, stream: e.stream, line: e.line, partial: e.partial };
    if (size >= remain) {
      if (size > remain) {
        entry.line = e.line.subarray(0, Math.max(0, Math.min(e.line.length, remain - prefix)));
        entry.partial = true;
      }
      yield entry;
      return;
    }
    remain -= size;
    yield entry;
  }
}

/**
 * The formatted output of {@link readContainerLogs} as a byte stream, as `kubectl logs` prints it:
 * each line followed by a newline (stdout and stderr interleaved in file order), prefixed with
 * the time in fixed nanosecond form (`2016-10-06T00:17:09.669794202Z `) when `timestamps` is set,
 * cut after exactly `limitBytes` bytes.
 *
 * @example
 * ```ts
 * createContainerLogStream("/var/log/pods/ns_pod_uid/app/0.log", { timestamps: true, since: 600 })
 *   .pipe(process.stdout);
 * ```
 */
export function createContainerLogStream(path: string, options: ReadContainerLogsOptions = {}): Readable {
  const { limitBytes, timestamps = false } = options;
  async function* formatted(): AsyncGenerator<Buffer> {
    let remain = limitBytes ?? Number.POSITIVE_INFINITY;
    for await (const e of selectedLines(path, options)) {
      const parts = [prefixOf(e, timestamps), e.line];
      if (!e.partial) parts.push(Buffer.from("\n"));
      let out = Buffer.concat(parts);
      if (out.length >= remain) {
        out = out.subarray(0, remain);
        if (out.length) yield out;
        return;
      }
      remain -= out.length;
      yield out;
    }
  }
  return Readable.from(formatted(), { objectMode: false });
}
