import { describe, expect, it } from "vitest";
import { KubeletError } from "../src/errors.js";
import { parseQuantity } from "../src/eviction/quantity.js";
import {
  defaultEvictionHard,
  type EvictionThreshold,
  type EvictionThresholdConfig,
  evictionSignals,
  parseEvictionThresholds,
} from "../src/eviction/thresholds.js";

// Expected values come from the upstream tests: pkg/kubelet/eviction/helpers_test.go
// (TestParseThresholdConfig) and k8s.io/apimachinery/pkg/api/resource/quantity_test.go
// (TestQuantityParse, TestQuantityParseEmit, TestQuantityString). Quantities upstream writes as
// quantityMustParse("150Mi") are written here as their byte counts (Mi = 2^20, Gi = 2^30);
// float32 literals (0.105) as Math.fround(0.105); 30s as 30 000 ms. Error texts are the kubelet's
// format strings filled in.

const Mi = 2n ** 20n;
const Gi = 2n ** 30n;
const f32 = Math.fround;
const gracePeriodMs = 30_000;

type Case = EvictionThresholdConfig & { expectErr?: string; expectThresholds: EvictionThreshold[] };

const threshold = (
  signal: EvictionThreshold["signal"],
  value: EvictionThreshold["value"],
  minReclaim: EvictionThreshold["value"],
  grace = 0,
): EvictionThreshold => ({ signal, operator: "LessThan", value, gracePeriodMs: grace, minReclaim });

const testCases: Record<string, Case> = {
  "no values": {
    enforceNodeAllocatable: [],
    evictionHard: {},
    evictionSoft: {},
    evictionSoftGracePeriod: {},
    evictionMinimumReclaim: {},
    expectThresholds: [],
  },
  "all memory eviction values": {
    enforceNodeAllocatable: ["pods"],
    evictionHard: { "memory.available": "150Mi" },
    evictionSoft: { "memory.available": "300Mi" },
    evictionSoftGracePeriod: { "memory.available": "30s" },
    evictionMinimumReclaim: { "memory.available": "0" },
    expectThresholds: [
      threshold("allocatableMemory.available", { quantity: 150n * Mi }, { quantity: 0n }),
      threshold("memory.available", { quantity: 150n * Mi }, { quantity: 0n }),
      threshold("memory.available", { quantity: 300n * Mi }, { quantity: 0n }, gracePeriodMs),
    ],
  },
  "all memory eviction values in percentages": {
    enforceNodeAllocatable: [],
    evictionHard: { "memory.available": "10%" },
    evictionSoft: { "memory.available": "30%" },
    evictionSoftGracePeriod: { "memory.available": "30s" },
    evictionMinimumReclaim: { "memory.available": "5%" },
    expectThresholds: [
      threshold("memory.available", { percentage: f32(0.1) }, { percentage: f32(0.05) }),
      threshold("memory.available", { percentage: f32(0.3) }, { percentage: f32(0.05) }, gracePeriodMs),
    ],
  },
  "disk eviction values": {
    enforceNodeAllocatable: [],
    evictionHard: { "imagefs.available": "150Mi", "nodefs.available": "100Mi" },
    evictionSoft: { "imagefs.available": "300Mi", "nodefs.available": "200Mi" },
    evictionSoftGracePeriod: { "imagefs.available": "30s", "nodefs.available": "30s" },
    evictionMinimumReclaim: { "imagefs.available": "2Gi", "nodefs.available": "1Gi" },
    expectThresholds: [
      threshold("imagefs.available", { quantity: 150n * Mi }, { quantity: 2n * Gi }),
      threshold("nodefs.available", { quantity: 100n * Mi }, { quantity: 1n * Gi }),
      threshold("imagefs.available", { quantity: 300n * Mi }, { quantity: 2n * Gi }, gracePeriodMs),
      threshold("nodefs.available", { quantity: 200n * Mi }, { quantity: 1n * Gi }, gracePeriodMs),
    ],
  },
  "disk eviction values in percentages": {
    enforceNodeAllocatable: [],
    evictionHard: { "imagefs.available": "15%", "nodefs.available": "10.5%" },
    evictionSoft: { "imagefs.available": "30%", "nodefs.available": "20.5%" },
    evictionSoftGracePeriod: { "imagefs.available": "30s", "nodefs.available": "30s" },
    evictionMinimumReclaim: { "imagefs.available": "10%", "nodefs.available": "5%" },
    expectThresholds: [
      threshold("imagefs.available", { percentage: f32(0.15) }, { percentage: f32(0.1) }),
      threshold("nodefs.available", { percentage: f32(0.105) }, { percentage: f32(0.05) }),
      threshold("imagefs.available", { percentage: f32(0.3) }, { percentage: f32(0.1) }, gracePeriodMs),
      threshold("nodefs.available", { percentage: f32(0.205) }, { percentage: f32(0.05) }, gracePeriodMs),
    ],
  },
  "inode eviction values": {
    enforceNodeAllocatable: [],
    evictionHard: { "imagefs.inodesFree": "150Mi", "nodefs.inodesFree": "100Mi" },
    evictionSoft: { "imagefs.inodesFree": "300Mi", "nodefs.inodesFree": "200Mi" },
    evictionSoftGracePeriod: { "imagefs.inodesFree": "30s", "nodefs.inodesFree": "30s" },
    evictionMinimumReclaim: { "imagefs.inodesFree": "2Gi", "nodefs.inodesFree": "1Gi" },
    expectThresholds: [
      threshold("imagefs.inodesFree", { quantity: 150n * Mi }, { quantity: 2n * Gi }),
      threshold("nodefs.inodesFree", { quantity: 100n * Mi }, { quantity: 1n * Gi }),
      threshold("imagefs.inodesFree", { quantity: 300n * Mi }, { quantity: 2n * Gi }, gracePeriodMs),
      threshold("nodefs.inodesFree", { quantity: 200n * Mi }, { quantity: 1n * Gi }, gracePeriodMs),
    ],
  },
  "disable via 0%": {
    enforceNodeAllocatable: [],
    evictionHard: { "memory.available": "0%" },
    evictionSoft: { "memory.available": "0%" },
    expectThresholds: [],
  },
  "disable via 100%": {
    enforceNodeAllocatable: [],
    evictionHard: { "memory.available": "100%" },
    evictionSoft: { "memory.available": "100%" },
    expectThresholds: [],
  },
  "invalid-signal": {
    evictionHard: { "mem.available": "150Mi" },
    expectErr: "unsupported eviction signal mem.available",
    expectThresholds: [],
  },
  "hard-signal-negative": {
    evictionHard: { "memory.available": "-150Mi" },
    expectErr: "eviction threshold memory.available must be positive: -150Mi",
    expectThresholds: [],
  },
  "hard-signal-negative-percentage": {
    evictionHard: { "memory.available": "-15%" },
    expectErr: "eviction percentage threshold memory.available must be >= 0%: -15%",
    expectThresholds: [],
  },
  "hard-signal-percentage-greater-than-100%": {
    evictionHard: { "memory.available": "150%" },
    expectErr: "eviction percentage threshold memory.available must be <= 100%: 150%",
    expectThresholds: [],
  },
  "soft-signal-negative": {
    evictionSoft: { "memory.available": "-150Mi" },
    expectErr: "eviction threshold memory.available must be positive: -150Mi",
    expectThresholds: [],
  },
  "valid-and-invalid-signal": {
    evictionHard: { "memory.available": "150Mi", "invalid.foo": "150Mi" },
    expectErr: "unsupported eviction signal invalid.foo",
    expectThresholds: [],
  },
  "soft-no-grace-period": {
    evictionSoft: { "memory.available": "150Mi" },
    expectErr: "grace period must be specified for the soft eviction threshold memory.available",
    expectThresholds: [],
  },
  "soft-negative-grace-period": {
    evictionSoft: { "memory.available": "150Mi" },
    evictionSoftGracePeriod: { "memory.available": "-30s" },
    expectErr: "invalid eviction grace period specified: -30s, must be a positive value",
    expectThresholds: [],
  },
  "negative-reclaim": {
    evictionMinimumReclaim: { "memory.available": "-300Mi" },
    expectErr: "negative eviction minimum reclaim specified for memory.available",
    expectThresholds: [],
  },
};

/** Upstream compares the lists as sets (thresholdsEqual); so does this, through a stable key. */
const show = (v: EvictionThreshold["value"] | undefined) =>
  v === undefined ? "-" : "quantity" in v ? `${v.quantity}n` : `${v.percentage}%`;
const key = (t: EvictionThreshold) => `${t.signal} ${t.gracePeriodMs} ${show(t.value)} ${show(t.minReclaim)}`;
/** The printed text of a quantity is checked on its own below; the table compares values. */
const valueOnly = (v: EvictionThreshold["value"]): EvictionThreshold["value"] =>
  "quantity" in v ? { quantity: v.quantity } : v;
const withoutText = (t: EvictionThreshold): EvictionThreshold =>
  t.minReclaim === undefined
    ? { ...t, value: valueOnly(t.value) }
    : { ...t, value: valueOnly(t.value), minReclaim: valueOnly(t.minReclaim) };
const sorted = (list: EvictionThreshold[]) => [...list].map(withoutText).sort((a, b) => (key(a) < key(b) ? -1 : 1));

describe("TestParseThresholdConfig (pkg/kubelet/eviction/helpers_test.go)", () => {
  it.each(Object.entries(testCases))("%s", (_name, testCase) => {
    const { expectErr, expectThresholds, ...config } = testCase;
    if (expectErr !== undefined) {
      let caught: unknown;
      try {
        parseEvictionThresholds(config);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(KubeletError);
      expect((caught as KubeletError).reason).toBe("InvalidEvictionThreshold");
      expect((caught as KubeletError).message).toBe(expectErr);
      return;
    }
    expect(sorted(parseEvictionThresholds(config))).toEqual(sorted(expectThresholds));
  });

  it("has all 17 upstream cases", () => {
    expect(Object.keys(testCases)).toHaveLength(17);
  });
});

describe("beyond the upstream table", () => {
  it("parses the Linux defaults (defaults_linux.go)", () => {
    expect(defaultEvictionHard).toEqual({
      "memory.available": "100Mi",
      "nodefs.available": "10%",
      "nodefs.inodesFree": "5%",
      "imagefs.available": "15%",
      "imagefs.inodesFree": "5%",
    });
    expect(parseEvictionThresholds({ evictionHard: defaultEvictionHard })).toEqual([
      {
        signal: "memory.available",
        operator: "LessThan",
        value: { quantity: 100n * Mi, text: "100Mi" },
        gracePeriodMs: 0,
      },
      { signal: "nodefs.available", operator: "LessThan", value: { percentage: f32(0.1) }, gracePeriodMs: 0 },
      { signal: "nodefs.inodesFree", operator: "LessThan", value: { percentage: f32(0.05) }, gracePeriodMs: 0 },
      { signal: "imagefs.available", operator: "LessThan", value: { percentage: f32(0.15) }, gracePeriodMs: 0 },
      { signal: "imagefs.inodesFree", operator: "LessThan", value: { percentage: f32(0.05) }, gracePeriodMs: 0 },
    ]);
  });

  it("accepts the signals validSignal accepts, not swap.available", () => {
    for (const signal of evictionSignals) {
      expect(parseEvictionThresholds({ evictionHard: { [signal]: "1" } })[0]?.signal).toBe(signal);
    }
    expect(() => parseEvictionThresholds({ evictionHard: { "swap.available": "1Gi" } })).toThrow(
      "unsupported eviction signal swap.available",
    );
  });

  it("reports the errors of the Go parsers with their text", () => {
    const message = (config: EvictionThresholdConfig) => {
      try {
        parseEvictionThresholds(config);
      } catch (err) {
        return (err as Error).message;
      }
      return undefined;
    };
    expect(message({ evictionHard: { "memory.available": "1mi" } })).toBe("unable to parse quantity's suffix");
    expect(message({ evictionHard: { "memory.available": "abc" } })).toBe(
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    );
    expect(message({ evictionHard: { "memory.available": "0" } })).toBe(
      "eviction threshold memory.available must be positive: 0",
    );
    expect(message({ evictionHard: { "memory.available": "abc%" } })).toBe(
      'strconv.ParseFloat: parsing "abc": invalid syntax',
    );
    expect(
      message({ evictionSoft: { "memory.available": "1Gi" }, evictionSoftGracePeriod: { "memory.available": "30" } }),
    ).toBe('time: missing unit in duration "30"');
    expect(
      message({ evictionSoft: { "memory.available": "1Gi" }, evictionSoftGracePeriod: { "memory.available": "3d" } }),
    ).toBe('time: unknown unit "d" in duration "3d"');
    expect(message({ evictionMinimumReclaim: { "memory.available": "0%" } })).toBe(
      "eviction percentage minimum reclaim memory.available must be positive: 0%",
    );
  });

  it("takes Go durations for grace periods", () => {
    const [soft] = parseEvictionThresholds({
      evictionSoft: { "memory.available": "1.5Gi" },
      evictionSoftGracePeriod: { "memory.available": "1m30.5s" },
    });
    expect(soft).toEqual({
      signal: "memory.available",
      operator: "LessThan",
      // 1.5Gi prints as Quantity.String() prints it: 1536Mi.
      value: { quantity: 1536n * Mi, text: "1536Mi" },
      gracePeriodMs: 90_500,
    });
  });
});

// k8s.io/apimachinery/pkg/api/resource/quantity_test.go, TestQuantityParse: input → decQuantity(unscaled, scale, format).
type Format = "DecimalSI" | "BinarySI" | "DecimalExponent";
const maxAllowed: [bigint, number] = [(1n << 63n) - 1n, 0];
const parseTable: [string, bigint, number, Format][] = [
  ["0", 0n, 0, "DecimalSI"],
  ["0n", 0n, 0, "DecimalSI"],
  ["0u", 0n, 0, "DecimalSI"],
  ["0m", 0n, 0, "DecimalSI"],
  ["0Ki", 0n, 0, "BinarySI"],
  ["0k", 0n, 0, "DecimalSI"],
  ["0Mi", 0n, 0, "BinarySI"],
  ["0M", 0n, 0, "DecimalSI"],
  ["0Gi", 0n, 0, "BinarySI"],
  ["0G", 0n, 0, "DecimalSI"],
  ["0Ti", 0n, 0, "BinarySI"],
  ["0T", 0n, 0, "DecimalSI"],
  ["1", 1n, 0, "DecimalSI"],
  ["1Ki", 1024n, 0, "BinarySI"],
  ["8Ki", 8n * 1024n, 0, "BinarySI"],
  ["7Mi", 7n * 1024n ** 2n, 0, "BinarySI"],
  ["6Gi", 6n * 1024n ** 3n, 0, "BinarySI"],
  ["5Ti", 5n * 1024n ** 4n, 0, "BinarySI"],
  ["4Pi", 4n * 1024n ** 5n, 0, "BinarySI"],
  ["3Ei", 3n * 1024n ** 6n, 0, "BinarySI"],
  ["10Ti", 10n * 1024n ** 4n, 0, "BinarySI"],
  ["100Ti", 100n * 1024n ** 4n, 0, "BinarySI"],
  ["5n", 5n, -9, "DecimalSI"],
  ["4u", 4n, -6, "DecimalSI"],
  ["3m", 3n, -3, "DecimalSI"],
  ["9", 9n, 0, "DecimalSI"],
  ["8k", 8n, 3, "DecimalSI"],
  ["50k", 5n, 4, "DecimalSI"],
  ["7M", 7n, 6, "DecimalSI"],
  ["6G", 6n, 9, "DecimalSI"],
  ["5T", 5n, 12, "DecimalSI"],
  ["40T", 4n, 13, "DecimalSI"],
  ["300T", 3n, 14, "DecimalSI"],
  ["2P", 2n, 15, "DecimalSI"],
  ["1E", 1n, 18, "DecimalSI"],
  ["1E-3", 1n, -3, "DecimalExponent"],
  ["1e3", 1n, 3, "DecimalExponent"],
  ["1E6", 1n, 6, "DecimalExponent"],
  ["1e9", 1n, 9, "DecimalExponent"],
  ["1E12", 1n, 12, "DecimalExponent"],
  ["1e15", 1n, 15, "DecimalExponent"],
  ["1E18", 1n, 18, "DecimalExponent"],
  ["1e14", 1n, 14, "DecimalExponent"],
  ["1e13", 1n, 13, "DecimalExponent"],
  ["1e3", 1n, 3, "DecimalExponent"],
  ["100.035k", 100035n, 0, "DecimalSI"],
  ["0.001", 1n, -3, "DecimalSI"],
  ["0.0005k", 5n, -1, "DecimalSI"],
  ["0.005", 5n, -3, "DecimalSI"],
  ["0.05", 5n, -2, "DecimalSI"],
  ["0.5", 5n, -1, "DecimalSI"],
  ["0.00050k", 5n, -1, "DecimalSI"],
  ["0.00500", 5n, -3, "DecimalSI"],
  ["0.05000", 5n, -2, "DecimalSI"],
  ["0.50000", 5n, -1, "DecimalSI"],
  ["0.5e0", 5n, -1, "DecimalExponent"],
  ["0.5e-1", 5n, -2, "DecimalExponent"],
  ["0.5e-2", 5n, -3, "DecimalExponent"],
  ["0.5e0", 5n, -1, "DecimalExponent"],
  ["10.035M", 10035n, 3, "DecimalSI"],
  ["1.2e3", 12n, 2, "DecimalExponent"],
  ["1.3E+6", 13n, 5, "DecimalExponent"],
  ["1.40e9", 14n, 8, "DecimalExponent"],
  ["1.53E12", 153n, 10, "DecimalExponent"],
  ["1.6e15", 16n, 14, "DecimalExponent"],
  ["1.7E18", 17n, 17, "DecimalExponent"],
  ["9.01", 901n, -2, "DecimalSI"],
  ["8.1k", 81n, 2, "DecimalSI"],
  ["7.123456M", 7123456n, 0, "DecimalSI"],
  ["6.987654321G", 6987654321n, 0, "DecimalSI"],
  ["5.444T", 5444n, 9, "DecimalSI"],
  ["40.1T", 401n, 11, "DecimalSI"],
  ["300.2T", 3002n, 11, "DecimalSI"],
  ["2.5P", 25n, 14, "DecimalSI"],
  ["1.01E", 101n, 16, "DecimalSI"],
  ["3.001n", 4n, -9, "DecimalSI"],
  ["1.1E-9", 2n, -9, "DecimalExponent"],
  ["0.0000000001", 1n, -9, "DecimalSI"],
  ["0.0000000005", 1n, -9, "DecimalSI"],
  ["0.00000000050", 1n, -9, "DecimalSI"],
  ["0.5e-9", 1n, -9, "DecimalExponent"],
  ["0.9n", 1n, -9, "DecimalSI"],
  ["0.00000012345", 124n, -9, "DecimalSI"],
  ["0.00000012354", 124n, -9, "DecimalSI"],
  ["9Ei", ...maxAllowed, "BinarySI"],
  ["9223372036854775807Ki", ...maxAllowed, "BinarySI"],
  ["12E", 12n, 18, "DecimalSI"],
  ["100.035Ki", 10243584n, -2, "BinarySI"],
  ["0.5Mi", 512n * 1024n, 0, "BinarySI"],
  ["0.05Gi", 536870912n, -1, "BinarySI"],
  ["0.025Ti", 274877906944n, -1, "BinarySI"],
  ["0.000000000001Ki", 2n, -9, "DecimalSI"],
  [".001", 1n, -3, "DecimalSI"],
  [".0001k", 100n, -3, "DecimalSI"],
  ["1.", 1n, 0, "DecimalSI"],
  ["1.G", 1n, 9, "DecimalSI"],
];

/** Compares two exact decimals. */
const cmp = (a: { unscaled: bigint; scale: number }, b: { unscaled: bigint; scale: number }) => {
  const s = Math.min(a.scale, b.scale);
  const x = a.unscaled * 10n ** BigInt(a.scale - s);
  const y = b.unscaled * 10n ** BigInt(b.scale - s);
  return x === y ? 0 : x < y ? -1 : 1;
};

describe("TestQuantityParse (apimachinery quantity_test.go)", () => {
  it("refuses the empty string", () => {
    expect(() => parseQuantity("")).toThrow();
  });

  it.each(parseTable)("%s", (input, unscaled, scale, format) => {
    for (const [sign, prefix] of [
      [1n, ""],
      [-1n, "-"],
      [1n, "+"],
    ] as const) {
      const got = parseQuantity(prefix + input);
      expect(cmp(got.amount, { unscaled: sign * unscaled, scale })).toBe(0);
      expect(got.format).toBe(format);
    }
  });

  it.each(["1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", " 1", "1 "])(
    "refuses %j",
    (input) => {
      expect(() => parseQuantity(input)).toThrow();
    },
  );
});

describe("TestQuantityParseEmit (apimachinery quantity_test.go)", () => {
  it.each([
    ["1Ki", "1Ki"],
    ["1Mi", "1Mi"],
    ["1Gi", "1Gi"],
    ["1024Mi", "1Gi"],
    ["1000M", "1G"],
    [".001Ki", "1024m"],
    [".000001Ki", "1024u"],
    [".000000001Ki", "1024n"],
    [".000000000001Ki", "2n"],
  ])("%s prints as %s, and negated with a minus", (input, text) => {
    expect(parseQuantity(input).text).toBe(text);
    expect(parseQuantity(`-${input}`).text).toBe(`-${text}`);
  });
});

describe("TestQuantityString (apimachinery quantity_test.go), the parsing half", () => {
  it.each([
    ["1Gi", "1024Mi"],
    ["300Mi", "307200Ki"],
    ["6Ki", ""],
    ["1001Gi", "1025024Mi"],
    ["1Ti", "1024Gi"],
    ["5", "5000m"],
    ["500m", "0.5"],
    ["1G", "1000M"],
    ["1G", "0.001T"],
    ["1m", "1000u"],
    ["80m", ""],
    ["1080m", "1.08"],
    ["1080m", "1080000000n"],
    ["300M", ""],
    ["1T", ""],
    ["1234567M", ""],
    ["1234567m", ""],
    ["3k", ""],
    ["1025", ""],
    ["0", ""],
    ["1e9", ".001e12"],
    ["1e-3", "0.001e0"],
    ["1e-9", "1000e-12"],
    ["80e-3", ""],
    ["300e6", ""],
    ["1e12", ""],
    ["1e3", ""],
    ["3e3", ""],
    ["0", "00"],
    ["1n", ""],
    ["80n", ""],
    ["1080n", ""],
    ["1u", ""],
    ["80u", ""],
    ["1080u", ""],
  ])("%s is canonical; %j prints as it", (canonical, alternate) => {
    expect(parseQuantity(canonical).text).toBe(canonical);
    if (alternate !== "") expect(parseQuantity(alternate).text).toBe(canonical);
  });
});

describe("quantity values in bytes", () => {
  it.each([
    ["100Mi", 104857600n],
    ["1.5Gi", 1610612736n],
    ["1e3", 1000n],
    ["1k", 1000n],
    ["2.5M", 2500000n],
    ["0.5", 1n],
    ["-0.5", -1n],
  ])("%s is %s", (input, value) => {
    expect(parseQuantity(input).value).toBe(value);
  });
});

describe("quantity errors", () => {
  it("are KubeletErrors with reason InvalidQuantity and apimachinery's text", () => {
    let caught: unknown;
    try {
      parseQuantity("1mi");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(KubeletError);
    expect((caught as KubeletError).reason).toBe("InvalidQuantity");
    expect((caught as KubeletError).message).toBe("unable to parse quantity's suffix");
  });
});
