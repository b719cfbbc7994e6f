// The two Go standard-library parsers the kubelet's threshold parsing leans on, with their
// error texts: time.ParseDuration and strconv.ParseFloat(s, 32).

/** Go's `%q` of an ASCII-or-UTF-8 string (JSON's escaping is the same for the cases that matter). */
const quote = (s: string) => JSON.stringify(s);

const durationUnits: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  "\u00b5s": 1_000n,
  "\u03bcs": 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const limit = 1n << 63n;

/**
 * `time.ParseDuration`: a signed sequence of decimal numbers with units (`300ms`, `-1.5h`,
 * `2h45m`), in nanoseconds. Throws an `Error` with Go's message text.
 */
export function parseGoDuration(orig: string): bigint {
  const invalid = () => new Error(`time: invalid duration ${quote(orig)}`);
  let s = orig;
  let neg = false;
  if (s !== "" && (s[0] === "-" || s[0] === "+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") throw invalid();
  let d = 0n;
  while (s !== "") {
    const first = s[0] as string;
    if (!(first === "." || (first >= "0" && first <= "9"))) throw invalid();
    let i = 0;
    let v = 0n;
    while (i < s.length && (s[i] as string) >= "0" && (s[i] as string) <= "9") {
      if (v > limit / 10n) throw invalid();
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > limit) throw invalid();
      i++;
    }
    const pre = i > 0;
    s = s.slice(i);
    let post = false;
    let f = 0n;
    let scale = 1;
    if (s !== "" && s[0] === ".") {
      s = s.slice(1);
      let j = 0;
      let overflow = false;
      while (j < s.length && (s[j] as string) >= "0" && (s[j] as string) <= "9") {
        if (!overflow) {
          if (f > (limit - 1n) / 10n) {
            overflow = true;
          } else {
            const next = f * 10n + BigInt(s.charCodeAt(j) - 48);
            if (next > limit) overflow = true;
            else {
              f = next;
              scale *= 10;
            }
          }
        }
        j++;
      }
      post = j > 0;
      s = s.slice(j);
    }
    if (!pre && !post) throw invalid();
    let k = 0;
    while (k < s.length && !(s[k] === "." || ((s[k] as string) >= "0" && (s[k] as string) <= "9"))) k++;
    if (k === 0) throw new Error(`time: missing unit in duration ${quote(orig)}`);
    const u = s.slice(0, k);
    s = s.slice(k);
    const unit = Object.hasOwn(durationUnits, u) ? durationUnits[u] : undefined;
    if (unit === undefined) throw new Error(`time: unknown unit ${quote(u)} in duration ${quote(orig)}`);
    if (v > limit / unit) throw invalid();
    v *= unit;
    if (f > 0n) {
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > limit) throw invalid();
    }
    d += v;
    if (d > limit) throw invalid();
  }
  if (neg) return -d;
  if (d > limit - 1n) throw invalid();
  return d;
}

/**
 * `strconv.ParseFloat(s, 32)` for decimal input (digits, `.`, exponent, `inf`/`infinity`/`nan`);
 * the result is a float32 value. Hexadecimal floats and underscores are refused as invalid.
 */
export function parseGoFloat32(s: string): number {
  const lower = s.toLowerCase();
  const special = /^([+-]?)(inf|infinity)$/.exec(lower);
  if (special !== null) return special[1] === "-" ? -Infinity : Infinity;
  if (lower === "nan") return Number.NaN;
  if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s)) {
    throw new Error(`strconv.ParseFloat: parsing ${quote(s)}: invalid syntax`);
  }
  const value = Math.fround(Number(s));
  if (!Number.isFinite(value)) throw new Error(`strconv.ParseFloat: parsing ${quote(s)}: value out of range`);
  return value;
}
