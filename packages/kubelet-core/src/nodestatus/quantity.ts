// Resource quantities as the node status setters use them: exact values in nano units with the
// format that `resource.Quantity.String()` prints them in (apimachinery's CanonicalizeBytes).

import { KubeletError } from "../errors.js";
import { parseQuantity } from "../eviction/quantity.js";

/** A quantity: the exact value in nano units (10^-9) and the format it prints in. */
export interface NodeQuantity {
  readonly nano: bigint;
  readonly format: "BinarySI" | "DecimalSI";
}

const NANO = 1_000_000_000n;

/** `resource.NewQuantity(value, format)`. */
export const quantityOf = (value: bigint | number, format: NodeQuantity["format"]): NodeQuantity => ({
  nano: BigInt(value) * NANO,
  format,
});

/** `resource.NewMilliQuantity(milli, DecimalSI)`. */
export const milliQuantityOf = (milli: bigint | number): NodeQuantity => ({
  nano: BigInt(milli) * 1_000_000n,
  format: "DecimalSI",
});

/** Parses a quantity text as `resource.ParseQuantity` does; throws the package's error naming `path`. */
export function parseNodeQuantity(text: string, path: string): NodeQuantity {
  let parsed: ReturnType<typeof parseQuantity>;
  try {
    parsed = parseQuantity(text);
  } catch (err) {
    throw new KubeletError("InvalidNodeStatusInput", `${path}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const { unscaled, scale } = parsed.amount;
  const shift = scale + 9;
  // Quantities are rounded up to nano precision when parsed, so the shift is never negative.
  const nano = shift >= 0 ? unscaled * 10n ** BigInt(shift) : unscaled / 10n ** BigInt(-shift);
  return { nano, format: parsed.format === "BinarySI" ? "BinarySI" : "DecimalSI" };
}

/** `a.Sub(b)`: the format of `a` is kept. */
export const subtract = (a: NodeQuantity, b: NodeQuantity): NodeQuantity => ({
  nano: a.nano - b.nano,
  format: a.format,
});

/** `a.Add(b)`: the format of `a` is kept. */
export const add = (a: NodeQuantity, b: NodeQuantity): NodeQuantity => ({ nano: a.nano + b.nano, format: a.format });

/** Negative values become 0, as the MachineInfo setter clamps allocatable. */
export const clampAtZero = (q: NodeQuantity): NodeQuantity => (q.nano < 0n ? { nano: 0n, format: q.format } : q);

/** `Quantity.Value()`: rounded up to an integer. */
export function integerValueOf(q: NodeQuantity): bigint {
  const whole = q.nano / NANO;
  return q.nano % NANO === 0n || q.nano < 0n ? whole : whole + 1n;
}

const binarySuffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"] as const;
const decimalSuffixes: Readonly<Record<number, string>> = {
  [-9]: "n",
  [-6]: "u",
  [-3]: "m",
  0: "",
  3: "k",
  6: "M",
  9: "G",
  12: "T",
  15: "P",
  18: "E",
};

/** `Quantity.String()` for a quantity without kept input text (the canonical form). */
export function formatQuantity(q: NodeQuantity): string {
  const v = q.nano;
  if (v === 0n) return "0";
  let format = q.format;
  // BinarySI prints in DecimalSI below 1024 in magnitude and for values that are not integers.
  if (format === "BinarySI" && (v % NANO !== 0n || (v > -1024n * NANO && v < 1024n * NANO))) format = "DecimalSI";
  if (format === "BinarySI") {
    let amount = v / NANO;
    let power = 0;
    while (power < binarySuffixes.length - 1 && amount % 1024n === 0n) {
      amount /= 1024n;
      power++;
    }
    return `${amount}${binarySuffixes[power]}`;
  }
  let mantissa = v;
  let exponent = -9;
  while (mantissa % 10n === 0n) {
    mantissa /= 10n;
    exponent++;
  }
  while (((exponent % 3) + 3) % 3 !== 0) {
    mantissa *= 10n;
    exponent--;
  }
  const suffix = decimalSuffixes[exponent];
  return suffix === undefined ? `${mantissa}e${exponent}` : `${mantissa}${suffix}`;
}
