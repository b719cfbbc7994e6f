// The pure formatting of nodekit-cri. Expected values: docker/go-units' own tests (size_test.go,
// duration_test.go), Go's text/tabwriter rules as crictl configures it (minwidth 20, padding 3),
// crictl's config file rules (pkg/common/file.go) and its endpoint precedence (cmd/crictl/main.go).
import { describe, expect, it } from "vitest";
import {
  fixedLogTime,
  formatTable,
  humanDuration,
  humanSize,
  parseGoDuration,
  rfc3339Nano,
  truncateDigest,
  truncateId,
} from "../src/cli/cri/format.js";
import { protoJson, statusDocument } from "../src/cli/cri/proto-json.js";
import { DEFAULT_CLI_TIMEOUT_MS, parseCrictlConfig, resolveSettings, SettingsError } from "../src/cli/cri/settings.js";
import { ContainerState, PodSandboxState, PodSandboxStatus } from "../src/index.js";

describe("go-units sizes and durations", () => {
  it("HumanSize (4 significant digits, decimal units)", () => {
    const KB = 1000;
    const MB = 1000 * KB;
    const GB = 1000 * MB;
    const TB = 1000 * GB;
    const PB = 1000 * TB;
    expect(humanSize(1000)).toBe("1kB");
    expect(humanSize(1024)).toBe("1.024kB");
    expect(humanSize(1000000)).toBe("1MB");
    expect(humanSize(1048576)).toBe("1.049MB");
    expect(humanSize(2 * MB)).toBe("2MB");
    expect(humanSize(3.42 * GB)).toBe("3.42GB");
    expect(humanSize(5.372 * TB)).toBe("5.372TB");
    expect(humanSize(2.22 * PB)).toBe("2.22PB");
    expect(humanSize(10000000000000 * PB)).toBe("1e+04YB");
  });

  it("HumanSizeWithPrecision 3, as crictl images prints sizes", () => {
    expect(humanSize(1048576, 3)).toBe("1.05MB");
    expect(humanSize(4_400_000, 3)).toBe("4.4MB");
    expect(humanSize(999, 3)).toBe("999B");
    expect(humanSize(0, 3)).toBe("0B");
  });

  it("HumanDuration", () => {
    const s = 1000;
    const m = 60 * s;
    const h = 60 * m;
    const day = 24 * h;
    const week = 7 * day;
    const month = 30 * day;
    const year = 365 * day;
    const cases: [number, string][] = [
      [450, "Less than a second"],
      [47 * s, "47 seconds"],
      [1 * m, "About a minute"],
      [3 * m, "3 minutes"],
      [35 * m, "35 minutes"],
      [35 * m + 40 * s, "35 minutes"],
      [1 * h, "About an hour"],
      [3 * h, "3 hours"],
      [3 * h + 60 * m, "4 hours"],
      [24 * h, "24 hours"],
      [1 * day + 12 * h, "36 hours"],
      [2 * day, "2 days"],
      [7 * day, "7 days"],
      [13 * day + 5 * h, "13 days"],
      [2 * week, "2 weeks"],
      [2 * week + 4 * day, "2 weeks"],
      [3 * week, "3 weeks"],
      [4 * week, "4 weeks"],
      [4 * week + 3 * day, "4 weeks"],
      [1 * month, "4 weeks"],
      [1 * month + 2 * week, "6 weeks"],
      [3 * month, "3 months"],
      [13 * month, "13 months"],
      [3 * year + 2 * month, "3 years"],
    ];
    for (const [ms, text] of cases) expect([ms, humanDuration(ms)]).toEqual([ms, text]);
  });
});

describe("crictl's table layout (text/tabwriter, minwidth 20, padding 3)", () => {
  it("pads every cell but the last to max(20, widest + 3)", () => {
    const out = formatTable([
      ["A", "B", "C"],
      ["twenty-characters-ab", "b", "the last cell is never padded"],
    ]);
    expect(out).toBe(
      `A${" ".repeat(22)}B${" ".repeat(19)}C\n` +
        `twenty-characters-ab${" ".repeat(3)}b${" ".repeat(19)}the last cell is never padded\n`,
    );
  });

  it("counts code points, as tabwriter counts runes", () => {
    expect(formatTable([["é", "x"]])).toBe(`é${" ".repeat(19)}x\n`);
  });
});

describe("IDs, times and Go durations", () => {
  it("truncates IDs to 13 and digests after their algorithm", () => {
    expect(truncateId("0123456789abcdef")).toBe("0123456789abc");
    expect(truncateId("sha256:0123456789abcdef", "sha256:")).toBe("0123456789abc");
    const digest = `sha256:${"ab".repeat(32)}`;
    expect(truncateDigest(digest)).toBe("ababababababa");
    expect(truncateDigest("sha256:abc")).toBe("sha256:abc"); // not a valid digest: as is
    expect(truncateDigest("docker.io/library/busybox:latest")).toBe("docker.io/library/busybox:latest");
  });

  it("writes RFC 3339 with nanoseconds as Go does, and the fixed form of kubectl --timestamps", () => {
    expect(rfc3339Nano(1_700_000_000_123_456_789n)).toBe("2023-11-14T22:13:20.123456789Z");
    expect(rfc3339Nano(1_700_000_000_100_000_000n)).toBe("2023-11-14T22:13:20.1Z");
    expect(rfc3339Nano(1_700_000_000_000_000_000n)).toBe("2023-11-14T22:13:20Z");
    expect(rfc3339Nano(0n)).toBe("0001-01-01T00:00:00Z");
    expect(fixedLogTime("2016-10-06T00:17:09.669794202Z")).toBe("2016-10-06T00:17:09.669794202Z");
    expect(fixedLogTime("2016-10-06T00:17:09.6697Z")).toBe("2016-10-06T00:17:09.669700000Z");
    expect(fixedLogTime("2016-10-06T00:17:09+02:00")).toBe("2016-10-06T00:17:09.000000000+02:00");
  });

  it("parses Go durations as time.ParseDuration", () => {
    expect(parseGoDuration("2s")).toBe(2000);
    expect(parseGoDuration("1.5h")).toBe(5_400_000);
    expect(parseGoDuration("2h45m")).toBe(9_900_000);
    expect(parseGoDuration("300ms")).toBe(300);
    expect(parseGoDuration("0")).toBe(0);
    expect(parseGoDuration("10")).toBeUndefined(); // a unit is required
    expect(parseGoDuration("abc")).toBeUndefined();
  });
});

describe("proto3 JSON with default values, as crictl's -o json", () => {
  it("emits defaults, names enums, writes 64-bit integers as strings", () => {
    const status = PodSandboxStatus.fromPartial({ id: "p", createdAt: 5n, state: PodSandboxState.SANDBOX_READY });
    const json = protoJson(status, "sandbox") as Record<string, unknown>;
    expect(json).toMatchObject({ id: "p", state: "SANDBOX_READY", createdAt: "5", labels: {}, runtimeHandler: "" });
    expect(protoJson({ state: ContainerState.CONTAINER_CREATED }, "container")).toEqual({ state: "CONTAINER_CREATED" });
    // ContainerEventResponse: the sandbox's state and the containers' states each by their enum.
    expect(protoJson({ podSandboxStatus: { state: 1 }, containersStatuses: [{ state: 1 }] }, "container")).toEqual({
      podSandboxStatus: { state: "SANDBOX_NOTREADY" },
      containersStatuses: [{ state: "CONTAINER_RUNNING" }],
    });
    expect(protoJson({ data: Buffer.from("hi") }, "container")).toEqual({ data: "aGk=" });
  });

  it("builds inspect documents as outputStatusData: info parsed when JSON, keys sorted", () => {
    expect(
      JSON.stringify(
        statusDocument({ status: { b: 1, a: 2 }, info: { info: '{"z":1,"pid":7}', sandboxMode: '"podsandbox"' } }),
      ),
    ).toBe('{"info":{"pid":7,"z":1},"sandboxMode":"podsandbox","status":{"a":2,"b":1}}');
  });
});

describe("crictl's config file and endpoint precedence", () => {
  it("reads crictl.yaml's keys and refuses unknown ones", () => {
    expect(
      parseCrictlConfig(
        "runtime-endpoint: unix:///run/containerd/containerd.sock\nimage-endpoint: unix:///img.sock\ntimeout: 10\ndebug: true\npull-image-on-create: false\ndisable-pull-on-run: true\n",
        "/etc/crictl.yaml",
      ),
    ).toEqual({
      runtimeEndpoint: "unix:///run/containerd/containerd.sock",
      imageEndpoint: "unix:///img.sock",
      timeoutSeconds: 10,
      debug: true,
      pullImageOnCreate: false,
      disablePullOnRun: true,
    });
    expect(() => parseCrictlConfig("bogus: 1\n", "/c.yaml")).toThrow("Config option 'bogus' is not valid");
    expect(() => parseCrictlConfig("timeout: soon\n", "/c.yaml")).toThrow(SettingsError);
    expect(parseCrictlConfig("", "/c.yaml")).toEqual({});
  });

  it("flag, then CONTAINER_RUNTIME_ENDPOINT, then the config file, then the defaults", () => {
    const config = { runtimeEndpoint: "unix:///config.sock", timeoutSeconds: 7 };
    const env = { CONTAINER_RUNTIME_ENDPOINT: "unix:///env.sock" };
    expect(resolveSettings({ runtimeEndpoint: "unix:///flag.sock" }, env, config)).toMatchObject({
      runtimeEndpoint: "unix:///flag.sock",
      source: "flag",
      timeoutMs: 7000,
    });
    expect(resolveSettings({}, env, config)).toMatchObject({ runtimeEndpoint: "unix:///env.sock", source: "env" });
    expect(resolveSettings({}, {}, config)).toMatchObject({ runtimeEndpoint: "unix:///config.sock", source: "config" });
    expect(resolveSettings({}, {}, undefined)).toMatchObject({
      runtimeEndpoint: undefined,
      source: "default",
      timeoutMs: DEFAULT_CLI_TIMEOUT_MS,
    });
    // The image endpoint: flag, IMAGE_SERVICE_ENDPOINT, config; else the runtime's.
    expect(resolveSettings({}, { IMAGE_SERVICE_ENDPOINT: "unix:///i.sock" }, config).imageEndpoint).toBe(
      "unix:///i.sock",
    );
    // --timeout: a Go duration; 0 or less means the default.
    expect(resolveSettings({ timeout: "20s" }, {}, config).timeoutMs).toBe(20_000);
    expect(resolveSettings({ timeout: "0s" }, {}, config).timeoutMs).toBe(DEFAULT_CLI_TIMEOUT_MS);
    expect(() => resolveSettings({ timeout: "20" }, {}, undefined)).toThrow(SettingsError);
    expect(() => resolveSettings({ runtimeEndpoint: "" }, {}, undefined)).toThrow("--runtime-endpoint is not set");
  });
});
