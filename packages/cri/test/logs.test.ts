import { appendFile, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  Code,
  type ContainerLogEntry,
  CriError,
  createContainerLogStream,
  parseCriLogLine,
  type ReadContainerLogsOptions,
  readContainerLogs,
} from "../src/index.js";

// A log as containerd writes it. Times are 2024-05-01T10:00:0N.000000001Z for N = 1..7.
const LOG = [
  "2024-05-01T10:00:01.000000001Z stdout F out one",
  "2024-05-01T10:00:02.000000001Z stderr F err one",
  "2024-05-01T10:00:03.000000001Z stdout P par",
  "2024-05-01T10:00:03.500000001Z stderr F err two",
  "2024-05-01T10:00:04.000000001Z stdout P ti",
  "2024-05-01T10:00:05.000000001Z stdout F al",
  "2024-05-01T10:00:06.5Z stdout F short fraction",
  "2024-05-01T10:00:07.000000001Z stderr F ",
].join("\n");

type Simple = [stream: string, line: string];

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "nk-logs-"));
  file = join(dir, "0.log");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(options: ReadContainerLogsOptions = {}): Promise<ContainerLogEntry[]> {
  const out: ContainerLogEntry[] = [];
  for await (const e of readContainerLogs(file, options)) out.push(e);
  return out;
}
const simple = (entries: ContainerLogEntry[]): Simple[] => entries.map((e) => [e.stream, e.line.toString()]);

async function formatted(options: ReadContainerLogsOptions = {}): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of createContainerLogStream(file, options)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe("parseCriLogLine", () => {
  it.each([
    ["2016-10-06T00:17:09.669794202Z stdout P log content 1", "stdout", true, "log content 1"],
    ["2016-10-06T00:17:09.669794203Z stderr F log content 2", "stderr", false, "log content 2"],
    ["2016-10-06T00:17:09Z stdout F:x:y  two spaces", "stdout", false, " two spaces"],
    ["2016-10-06T02:17:09.1+02:00 stdout P:more ", "stdout", true, ""],
  ])("parses %j", (text, stream, partial, content) => {
    const r = parseCriLogLine(Buffer.from(text));
    expect([r.stream, r.partial, r.content.toString()]).toEqual([stream, partial, content]);
    expect(r.time).toBe(text.slice(0, text.indexOf(" ")));
  });

  it.each([
    ["", /no timestamp/],
    ["hello world", /bad timestamp/],
    ["2016-10-06T00:17:09Z", /no timestamp/],
    ["2016-10-06T00:17:09Z stdin F x", /bad stream/],
    ["2016-10-06T00:17:09Z stdout", /no stream/],
    ["2016-10-06T00:17:09Z stdout F", /no tag/],
    ["2016-13-06T00:17:09Z stdout F x", /bad timestamp/],
  ])("rejects %j", (text, why) => {
    let err: unknown;
    try {
      parseCriLogLine(Buffer.from(text));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CriError);
    expect((err as CriError).code).toBe(Code.DataLoss);
    expect((err as CriError).message).toMatch(why);
  });
});

describe("readContainerLogs", () => {
  const now = () => Date.parse("2024-05-01T10:00:08Z");
  it.each<[string, ReadContainerLogsOptions, Simple[]]>([
    [
      "everything, partial records joined",
      {},
      [
        ["stdout", "out one"],
        ["stderr", "err one"],
        ["stderr", "err two"],
        ["stdout", "partial"],
        ["stdout", "short fraction"],
        ["stderr", ""],
      ],
    ],
    [
      "stdout only",
      { stream: "stdout" },
      [
        ["stdout", "out one"],
        ["stdout", "partial"],
        ["stdout", "short fraction"],
      ],
    ],
    [
      "stderr only",
      { stream: "stderr" },
      [
        ["stderr", "err one"],
        ["stderr", "err two"],
        ["stderr", ""],
      ],
    ],
    [
      "tail 3 counts joined lines",
      { tail: 3 },
      [
        ["stdout", "partial"],
        ["stdout", "short fraction"],
        ["stderr", ""],
      ],
    ],
    [
      "tail 4",
      { tail: 4 },
      [
        ["stderr", "err two"],
        ["stdout", "partial"],
        ["stdout", "short fraction"],
        ["stderr", ""],
      ],
    ],
    ["tail 0", { tail: 0 }, []],
    [
      "tail beyond the file",
      { tail: 100 },
      [
        ["stdout", "out one"],
        ["stderr", "err one"],
        ["stderr", "err two"],
        ["stdout", "partial"],
        ["stdout", "short fraction"],
        ["stderr", ""],
      ],
    ],
    [
      // A joined line has the time of its first record (10:00:03), so it is before 10:00:03.5.
      "sinceTime with nanoseconds, inclusive",
      { sinceTime: "2024-05-01T10:00:03.500000001Z" },
      [
        ["stderr", "err two"],
        ["stdout", "short fraction"],
        ["stderr", ""],
      ],
    ],
    [
      "sinceTime one nanosecond later",
      { sinceTime: "2024-05-01T10:00:03.500000002Z" },
      [
        ["stdout", "short fraction"],
        ["stderr", ""],
      ],
    ],
    ["sinceTime in another zone", { sinceTime: "2024-05-01T12:00:06.6+02:00" }, [["stderr", ""]]],
    [
      "sinceTime as a Date",
      { sinceTime: new Date("2024-05-01T10:00:06.000Z") },
      [
        ["stdout", "short fraction"],
        ["stderr", ""],
      ],
    ],
    // now is 10:00:08: 2 s back is 10:00:06.
    [
      "since 2 seconds",
      { since: 2, now },
      [
        ["stdout", "short fraction"],
        ["stderr", ""],
      ],
    ],
    // The later of since (10:00:06) and sinceTime (10:00:01) wins.
    [
      "since and sinceTime",
      { since: 2, sinceTime: "2024-05-01T10:00:01Z", now },
      [
        ["stdout", "short fraction"],
        ["stderr", ""],
      ],
    ],
    // tail first, then since: of the last 3 lines only those from 10:00:06 on.
    [
      "tail then since",
      { tail: 3, sinceTime: "2024-05-01T10:00:06Z" },
      [
        ["stdout", "short fraction"],
        ["stderr", ""],
      ],
    ],
    // "out one\n" is 8 bytes, "err one\n" 8: 20 bytes leave 4 of "err two".
    [
      "limitBytes cuts the last line",
      { limitBytes: 20 },
      [
        ["stdout", "out one"],
        ["stderr", "err one"],
        ["stderr", "err "],
      ],
    ],
    [
      "limitBytes on a line boundary",
      { limitBytes: 16 },
      [
        ["stdout", "out one"],
        ["stderr", "err one"],
      ],
    ],
    // With timestamps each line costs 31 more bytes: 39 + 3.
    [
      "limitBytes counts timestamps",
      { limitBytes: 42, timestamps: true },
      [
        ["stdout", "out one"],
        ["stderr", ""],
      ],
    ],
    [
      "limitBytes applies after the stream filter",
      { limitBytes: 11, stream: "stderr" },
      [
        ["stderr", "err one"],
        ["stderr", "err"],
      ],
    ],
  ])("%s", async (_name, options, expected) => {
    await writeFile(file, `${LOG}\n`);
    expect(simple(await collect(options))).toEqual(expected);
  });

  it("keeps the time as written and marks cut and unfinished lines partial", async () => {
    await writeFile(file, `${LOG}\n2024-05-01T10:00:09Z stdout P never fini`);
    const entries = await collect();
    expect(entries.map((e) => e.time)).toEqual([
      "2024-05-01T10:00:01.000000001Z",
      "2024-05-01T10:00:02.000000001Z",
      "2024-05-01T10:00:03.500000001Z",
      "2024-05-01T10:00:03.000000001Z",
      "2024-05-01T10:00:06.5Z",
      "2024-05-01T10:00:07.000000001Z",
      "2024-05-01T10:00:09Z",
    ]);
    expect(entries.map((e) => e.partial)).toEqual([false, false, false, false, false, false, true]);
    expect(entries.at(-1)?.line.toString()).toBe("never fini");
    const cut = await collect({ limitBytes: 3 });
    expect(cut).toEqual([
      { time: "2024-05-01T10:00:01.000000001Z", stream: "stdout", line: Buffer.from("out"), partial: true },
    ]);
  });

  it("reads a last line without newline", async () => {
    await writeFile(file, "2024-05-01T10:00:01Z stdout F no newline");
    expect(simple(await collect())).toEqual([["stdout", "no newline"]]);
  });

  it("keeps bytes that are not UTF-8", async () => {
    await writeFile(
      file,
      Buffer.concat([Buffer.from("2024-05-01T10:00:01Z stdout F "), Buffer.from([0xff, 0xfe]), Buffer.from("\n")]),
    );
    expect((await collect())[0]?.line).toEqual(Buffer.from([0xff, 0xfe]));
  });

  it("fails on a malformed first record, skips and reports later ones", async () => {
    await writeFile(file, "garbage\n2024-05-01T10:00:01Z stdout F x\n");
    const err = await collect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CriError);
    expect((err as CriError).code).toBe(Code.DataLoss);
    expect((err as CriError).message).toContain("unsupported log format");

    await writeFile(
      file,
      "2024-05-01T10:00:01Z stdout F a\nbroken line\n2024-05-01T10:00:02Z stdin F b\n2024-05-01T10:00:03Z stderr F c\n",
    );
    const bad: string[] = [];
    const entries = await collect({ onMalformedLine: (line, e) => bad.push(`${line.toString()}: ${e.rawMessage}`) });
    expect(simple(entries)).toEqual([
      ["stdout", "a"],
      ["stderr", "c"],
    ]);
    expect(bad).toEqual([
      'broken line: malformed CRI log record: bad timestamp "broken"',
      '2024-05-01T10:00:02Z stdin F b: malformed CRI log record: bad stream "stdin"',
    ]);
  });

  it.each<[string, ReadContainerLogsOptions, RegExp]>([
    ["tail with a single stream", { tail: 1, stream: "stdout" }, /tail cannot be combined/],
    ["negative tail", { tail: -1 }, /tail must be/],
    ["zero limitBytes", { limitBytes: 0 }, /limitBytes must be/],
    ["bad sinceTime", { sinceTime: "yesterday" }, /sinceTime/],
    ["bad stream", { stream: "stdin" as "stdout" }, /stream must be/],
  ])("rejects %s", async (_name, options, why) => {
    await writeFile(file, `${LOG}\n`);
    const err = (await collect(options).catch((e: unknown) => e)) as CriError;
    expect(err).toBeInstanceOf(CriError);
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.message).toMatch(why);
  });

  it("fails with NotFound for a missing file", async () => {
    const err = await collect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CriError);
    expect((err as CriError).code).toBe(Code.NotFound);
  });
});

describe("createContainerLogStream", () => {
  it.each<[string, ReadContainerLogsOptions, string]>([
    ["plain", {}, "out one\nerr one\nerr two\npartial\nshort fraction\n\n"],
    [
      "timestamps in fixed nanosecond form",
      { timestamps: true, tail: 3 },
      "2024-05-01T10:00:03.000000001Z partial\n" +
        "2024-05-01T10:00:06.500000000Z short fraction\n" +
        "2024-05-01T10:00:07.000000001Z \n",
    ],
    ["limitBytes cuts exactly", { limitBytes: 10 }, "out one\ner"],
    ["limitBytes can cut inside a timestamp", { limitBytes: 12, timestamps: true }, "2024-05-01T1"],
    ["stderr", { stream: "stderr" }, "err one\nerr two\n\n"],
  ])("%s", async (_name, options, expected) => {
    await writeFile(file, `${LOG}\n`);
    expect(await formatted(options)).toBe(expected);
  });

  it("prints an offset as written and UTC as Z", async () => {
    await writeFile(file, "2024-05-01T12:00:01.25+02:00 stdout F a\n2024-05-01T10:00:02-00:00 stdout F b\n");
    expect(await formatted({ timestamps: true })).toBe(
      "2024-05-01T12:00:01.250000000+02:00 a\n2024-05-01T10:00:02.000000000Z b\n",
    );
  });
});

describe("readContainerLogs with follow", () => {
  async function next(it: AsyncIterator<ContainerLogEntry>): Promise<Simple> {
    const r = await it.next();
    if (r.done) throw new Error("ended");
    return [r.value.stream, r.value.line.toString()];
  }

  it("reads appends, joins records written apart, follows a rotation and stops on abort", async () => {
    await writeFile(file, "2024-05-01T10:00:01Z stdout F before\n2024-05-01T10:00:02Z stdout F last\n");
    const ac = new AbortController();
    const it = readContainerLogs(file, { follow: true, tail: 1, signal: ac.signal, pollIntervalMs: 10 })[
      Symbol.asyncIterator
    ]();
    expect(await next(it)).toEqual(["stdout", "last"]);

    const pending = next(it);
    await appendFile(file, "2024-05-01T10:00:03Z stderr P hal");
    await new Promise((r) => setTimeout(r, 50));
    await appendFile(file, "f a record\n2024-05-01T10:00:04Z stderr F  done\n");
    expect(await pending).toEqual(["stderr", "half a record done"]);

    // The kubelet's rotation: rename 0.log, the runtime reopens 0.log and writes on.
    await appendFile(file, "2024-05-01T10:00:05Z stdout F old file\n");
    await rename(file, `${file}.20240501-100005`);
    await new Promise((r) => setTimeout(r, 50));
    await writeFile(file, "2024-05-01T10:00:06Z stdout F new file\n");
    expect(await next(it)).toEqual(["stdout", "old file"]);
    expect(await next(it)).toEqual(["stdout", "new file"]);
    await appendFile(file, "2024-05-01T10:00:07Z stderr F still new\n");
    expect(await next(it)).toEqual(["stderr", "still new"]);

    const end = it.next();
    await new Promise((r) => setTimeout(r, 30));
    ac.abort();
    expect(await end).toEqual({ done: true, value: undefined });
  });

  it("ends after a last drain once isRunning answers false", async () => {
    await writeFile(file, "2024-05-01T10:00:01Z stdout F a\n");
    let running = true;
    // Entries are kept, not converted at once: a later read must not overwrite an earlier line.
    const kept: ContainerLogEntry[] = [];
    const done = (async () => {
      for await (const e of readContainerLogs(file, { follow: true, isRunning: () => running, pollIntervalMs: 10 })) {
        kept.push(e);
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    await appendFile(file, "2024-05-01T10:00:02Z stdout F b\n2024-05-01T10:00:03Z stdout P c");
    running = false;
    await done;
    expect(simple(kept)).toEqual([
      ["stdout", "a"],
      ["stdout", "b"],
      ["stdout", "c"],
    ]);
  });

  it("streams formatted output while following", async () => {
    await writeFile(file, "");
    const ac = new AbortController();
    const stream = createContainerLogStream(file, { follow: true, signal: ac.signal, pollIntervalMs: 10 });
    const chunks: string[] = [];
    stream.on("data", (c: Buffer) => {
      chunks.push(c.toString());
      if (chunks.length === 2) ac.abort();
    });
    const ended = new Promise((r) => stream.on("end", r));
    await appendFile(file, "2024-05-01T10:00:01Z stdout F one\n");
    await new Promise((r) => setTimeout(r, 50));
    await appendFile(file, "2024-05-01T10:00:02Z stderr F two\n");
    await ended;
    expect(chunks.join("")).toBe("one\ntwo\n");
  });
});
