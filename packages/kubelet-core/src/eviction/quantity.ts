// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource), as far as eviction
// thresholds need them: parsing with the apimachinery grammar, rounding and caps, the integer
// value, and the canonical text the kubelet prints in its messages.

import { KubeletError } from "../errors.js";

/** How a quantity was written, and so how it is printed: `12e6`, `12Mi` or `12M`. */
export type QuantityFormat = "DecimalExponent" | "BinarySI" | "DecimalSI";

/** A parsed `resource.Quantity`. */
export interface Quantity {
  /** The exact value, `unscaled × 10^scale`, after apimachinery's rounding up to nano precision and caps. */
  readonly amount: { readonly unscaled: bigint; readonly scale: number };
  /** The value rounded up (away from zero) to an integer, as `Quantity.Value()` returns it. */
  readonly value: bigint;
  /** The format the quantity keeps (BinarySI becomes DecimalSI for values between 0 and 1). */
  readonly format: QuantityFormat;
  /** The text `Quantity.String()` gives: the input where it was already canonical, else the canonical form. */
  readonly text: string;
}

/** The apimachinery errors, with their exact text. */
const splitREString = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";
const errFormatWrong = `quantities must match the regular expression '${splitREString}'`;
const errNumeric = "unable to parse numeric part of quantity";
const errSuffix = "unable to parse quantity's suffix";

const invalid = (message: string) => new KubeletError("InvalidQuantity", message);

const decimalSuffixes: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  "": 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const binarySuffixes: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const maxInt64 = (1n << 63n) - 1n;
const minInt64 = -(1n << 63n);
const nano = -9;
/** Exponents this port materialises; Go keeps larger ones symbolic (nobody sets such a threshold). */
const maxExponent = 10_000;

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const pow10 = (n: number) => 10n ** BigInt(n);

interface Scanned {
  positive: boolean;
  value: string;
  num: string;
  denom: string;
  suffix: string;
}

/** The fast scanner of apimachinery: sign, leading zeros, digits, `.digits`, suffix letters, exponent digits. */
function scan(str: string): Scanned {
  let positive = true;
  let pos = 0;
  const end = str.length;
  if (str[0] === "-") {
    positive = false;
    pos++;
  } else if (str[0] === "+") {
    pos++;
  }
  while (pos < end && str[pos] === "0") pos++;
  if (pos >= end) return { positive, value: "0", num: "0", denom: "", suffix: "" };
  let i = pos;
  while (i < end && isDigit(str[i])) i++;
  if (i >= end) return { positive, value: str, num: str.slice(pos), denom: "", suffix: "" };
  let num = str.slice(pos, i);
  if (num === "") num = "0";
  pos = i;
  let denom = "";
  if (str[pos] === ".") {
    pos++;
    i = pos;
    while (i < end && isDigit(str[i])) i++;
    denom = str.slice(pos, i);
    if (i >= end) return { positive, value: str, num, denom, suffix: "" };
    pos = i;
  }
  const value = str.slice(0, pos);
  const suffixStart = pos;
  i = pos;
  while (i < end && "eEinumkKMGTP".includes(str[i] as string)) i++;
  if (i >= end) return { positive, value, num, denom, suffix: str.slice(suffixStart) };
  pos = i;
  if (str[pos] === "-" || str[pos] === "+") pos++;
  i = pos;
  while (i < end && isDigit(str[i])) i++;
  if (i >= end) return { positive, value, num, denom, suffix: str.slice(suffixStart) };
  throw invalid(errFormatWrong);
}

/** Go's strconv.ParseInt(s, 10, 64) success check (optional sign, decimal digits, int64 range). */
function parseGoInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v > maxInt64 || v < minInt64 ? undefined : v;
}

function interpret(suffix: string): { base: 2 | 10; exponent: number; format: QuantityFormat } | undefined {
  const dec = decimalSuffixes[suffix];
  if (dec !== undefined && Object.hasOwn(decimalSuffixes, suffix))
    return { base: 10, exponent: dec, format: "DecimalSI" };
  const bin = binarySuffixes[suffix];
  if (bin !== undefined && Object.hasOwn(binarySuffixes, suffix)) return { base: 2, exponent: bin, format: "BinarySI" };
  if (suffix.length > 1 && (suffix[0] === "e" || suffix[0] === "E")) {
    const parsed = parseGoInt64(suffix.slice(1));
    if (parsed === undefined) return undefined;
    // Go truncates to int32; exponents that large are refused here rather than wrapped.
    if (parsed > BigInt(maxExponent) || parsed < BigInt(-maxExponent)) return undefined;
    return { base: 10, exponent: Number(parsed), format: "DecimalExponent" };
  }
  return undefined;
}

/** An exact decimal: `unscaled × 10^scale`. */
interface Decimal {
  unscaled: bigint;
  scale: number;
}

const abs = (v: bigint) => (v < 0n ? -v : v);

/** Rounds away from zero to an integer. */
function roundUpToInteger(d: Decimal): bigint {
  if (d.scale >= 0) return d.unscaled * pow10(d.scale);
  const divisor = pow10(-d.scale);
  const q = d.unscaled / divisor;
  if (q * divisor === d.unscaled) return q;
  return d.unscaled < 0n ? q - 1n : q + 1n;
}

/** Moves all factors of ten from the mantissa into the exponent, then lowers it to a multiple of 3. */
function canonicalDecimal(d: Decimal): { mantissa: bigint; exponent: number } {
  let mantissa = d.unscaled;
  let exponent = d.scale;
  while (mantissa !== 0n && mantissa % 10n === 0n) {
    mantissa /= 10n;
    exponent++;
  }
  while (exponent % 3 !== 0) {
    mantissa *= 10n;
    exponent--;
  }
  return { mantissa, exponent };
}

function decimalSuffixFor(exponent: number): string | undefined {
  for (const [suffix, e] of Object.entries(decimalSuffixes)) if (e === exponent) return suffix;
  return undefined;
}

/** `CanonicalizeBytes`: the text `Quantity.String()` prints when no input text is kept. */
function canonicalText(d: Decimal, format: QuantityFormat): string {
  if (d.unscaled === 0n) return "0";
  let shown = format;
  let integer: bigint | undefined;
  if (format === "BinarySI") {
    const whole = roundUpToInteger(d);
    const exact = d.scale >= 0 || whole * pow10(-d.scale) === d.unscaled;
    if (isBelow1024(d) || !exact) shown = "DecimalSI";
    else integer = whole;
  }
  if (shown === "BinarySI" && integer !== undefined) {
    let amount = integer;
    let power = 0;
    while (amount !== 0n && amount % 1024n === 0n) {
      amount /= 1024n;
      power++;
    }
    const suffix = Object.entries(binarySuffixes).find(([, e]) => e === power * 10)?.[0] ?? "";
    return `${amount}${suffix}`;
  }
  const { mantissa, exponent } = canonicalDecimal(d);
  if (shown === "DecimalExponent") return exponent === 0 ? `${mantissa}` : `${mantissa}e${exponent}`;
  const suffix = decimalSuffixFor(exponent);
  // Past the SI range (beyond E or below n) apimachinery has no suffix; the exponent form keeps the value.
  return suffix === undefined ? `${mantissa}e${exponent}` : `${mantissa}${suffix}`;
}

/** -1024 < d < 1024, exactly. */
function isBelow1024(d: Decimal): boolean {
  const limit = 1024n;
  if (d.scale >= 0) return abs(d.unscaled * pow10(d.scale)) < limit;
  return abs(d.unscaled) < limit * pow10(-d.scale);
}

/**
 * Parses a Kubernetes quantity exactly as `resource.ParseQuantity` does: decimal SI suffixes
 * (`n u m k M G T P E`), binary suffixes (`Ki`…`Ei`), exponents (`1e3`, `5E-3`), decimals
 * (`1.5Gi`), a sign, leading zeros; values are rounded up to nano precision and binary values
 * capped at 2^63-1. Throws a {@link KubeletError} with reason `InvalidQuantity` and
 * apimachinery's message text.
 *
 * @example
 * ```ts
 * parseQuantity("1.5Gi").value; // 1610612736n
 * parseQuantity("1e3").text;    // "1e3"
 * ```
 */
export function parseQuantity(str: string): Quantity {
  if (str.length === 0) throw invalid(errFormatWrong);
  if (str === "0") return { amount: { unscaled: 0n, scale: 0 }, value: 0n, format: "DecimalSI", text: "0" };
  const { positive, value, num, denom, suffix } = scan(str);
  const interpreted = interpret(suffix);
  if (interpreted === undefined) throw invalid(errSuffix);
  const { base, exponent } = interpreted;
  let format = interpreted.format;

  // The int64 fast path: its result is the same number as the general path, but it may keep the
  // input text as the printed form.
  let precision: number;
  let scale: number;
  let multiplier = 1n;
  if (base === 10) {
    scale = exponent;
    precision = 18 - (num.length + denom.length);
  } else {
    scale = 0;
    if (denom.length === 0) {
      multiplier = 1n << BigInt(exponent);
      precision = 15 - num.length - Math.trunc(Math.fround(Math.fround(exponent) * 3) / 10) - 1;
    } else {
      precision = -1;
    }
  }
  if (precision >= 0) {
    scale -= denom.length;
    if (scale >= nano) {
      const shifted = num + denom;
      const parsed = parseGoInt64(shifted);
      if (parsed === undefined) throw invalid(errNumeric);
      const product = parsed * multiplier;
      if (product <= maxInt64) {
        const signed = positive ? product : -product;
        const d = { unscaled: signed, scale };
        const keepsText =
          format === "BinarySI"
            ? exponent % 10 === 0 && (parsed & 7n) !== 0n
            : scale % 3 === 0 && !shifted.endsWith("000") && shifted[0] !== "0";
        const text = keepsText ? str : canonicalText(d, format);
        return { amount: d, value: roundUpToInteger(d), format, text };
      }
    }
  }

  // The general path (inf.Dec): the numeric text, times the suffix, rounded up to nano, capped.
  const numeric = /^([+-]?)([0-9]*)(?:\.([0-9]*))?$/.exec(value);
  if (numeric === null || (numeric[2] === "" && (numeric[3] ?? "") === "")) {
    throw invalid(errNumeric);
  }
  const fraction = numeric[3] ?? "";
  let magnitude: Decimal = { unscaled: BigInt(`${numeric[2]}${fraction}` || "0"), scale: -fraction.length };
  if (base === 10) magnitude = { unscaled: magnitude.unscaled, scale: magnitude.scale + exponent };
  else magnitude = { unscaled: magnitude.unscaled << BigInt(exponent), scale: magnitude.scale };
  const negative = numeric[1] === "-" && magnitude.unscaled !== 0n;
  if (magnitude.unscaled !== 0n && magnitude.scale < nano) {
    const divisor = pow10(nano - magnitude.scale);
    const q = magnitude.unscaled / divisor;
    magnitude = { unscaled: q * divisor === magnitude.unscaled ? q : q + 1n, scale: nano };
  }
  if (format === "BinarySI" && !fitsInt64(magnitude)) {
    magnitude = { unscaled: maxInt64, scale: 0 };
  }
  if (format === "BinarySI" && magnitude.unscaled !== 0n && !atLeastOne(magnitude)) format = "DecimalSI";
  const d = negative ? { unscaled: -magnitude.unscaled, scale: magnitude.scale } : magnitude;
  return { amount: d, value: roundUpToInteger(d), format, text: canonicalText(d, format) };
}

/** d ≤ 2^63-1 for a non-negative d. */
function fitsInt64(d: Decimal): boolean {
  if (d.scale >= 0) return d.unscaled * pow10(d.scale) <= maxInt64;
  return d.unscaled <= maxInt64 * pow10(-d.scale);
}

/** d ≥ 1 for a non-negative d. */
function atLeastOne(d: Decimal): boolean {
  if (d.scale >= 0) return d.unscaled >= 1n;
  return d.unscaled >= pow10(-d.scale);
}

/**
 * The text `resource.NewQuantity(value, format).String()` gives for an integer: what the kubelet
 * prints for byte counts (`BinarySI`: `1536Mi`, `1500Mi`, `999`) and counts (`DecimalSI`: `1200`,
 * `2M`).
 *
 * @example
 * ```ts
 * formatQuantity(1610612736n, "BinarySI"); // "1536Mi"
 * formatQuantity(1200n, "DecimalSI");      // "1200"
 * ```
 */
export function formatQuantity(value: bigint | number, format: QuantityFormat): string {
  const unscaled = typeof value === "bigint" ? value : BigInt(Math.trunc(value));
  return canonicalText({ unscaled, scale: 0 }, format);
}
