// Pure formatting of nodekit-cri output, as crictl prints it: its table writer, its sizes and
// durations (docker/go-units), ID truncation, state names, time stamps.
import { ContainerState, PodSandboxState } from "../../gen/messages.js";

/**
 * Lays rows out as crictl's table display does (Go text/tabwriter with minwidth 20, padding 3,
 * padded with spaces): every cell but the last of a row is padded to its column's width, the
 * widest cell of the column plus 3, at least 20; the last cell is printed as it is. Widths count
 * code points, as tabwriter counts runes.
 */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const width: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      if (i === row.length - 1) return;
      width[i] = Math.max(width[i] ?? 20, runes(cell) + 3);
    });
  }
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat((width[i] ?? 20) - runes(cell)))).join(""),
    )
    .map((line) => `${line}\n`)
    .join("");
}

function runes(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** crictl's truncated IDs: 13 characters, after removing `prefix`. */
export function truncateId(id: string, prefix = ""): string {
  const rest = prefix && id.startsWith(prefix) ? id.slice(prefix.length) : id;
  return rest.length > 13 ? rest.slice(0, 13) : rest;
}

/** A digest `algo:hex` as go-digest accepts it; its hex part truncated as crictl shows images. */
export function truncateDigest(image: string): string {
  const m = /^(sha256|sha384|sha512):([a-f0-9]+)$/.exec(image);
  const lengths: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
  if (!m || m[2]?.length !== lengths[m[1] ?? ""]) return image;
  return truncateId(image, `${m[1]}:`);
}

const decimalUnits = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/** go-units HumanSizeWithPrecision: decimal (1000-based) units, `%.{precision}g`. */
export function humanSize(bytes: number, precision = 4): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < decimalUnits.length - 1) {
    size /= 1000;
    i++;
  }
  return `${goG(size, precision)}${decimalUnits[i]}`;
}

/** Go's `%.{p}g` for a finite number ≥ 0: shortest of fixed or exponent form, trailing zeros cut. */
export function goG(value: number, precision: number): string {
  if (value === 0) return "0";
  const exp = Math.floor(Math.log10(Math.abs(Number(value.toPrecision(precision)))));
  if (exp < -4 || exp >= precision) {
    const [mant = "0", e = "0"] = value.toExponential(precision - 1).split("e");
    const m = mant.includes(".") ? mant.replace(/0+$/, "").replace(/\.$/, "") : mant;
    const n = Number(e);
    return `${m}e${n < 0 ? "-" : "+"}${String(Math.abs(n)).padStart(2, "0")}`;
  }
  const fixed = value.toFixed(Math.max(0, precision - 1 - exp));
  return fixed.includes(".") ? fixed.replace(/0+$/, "").replace(/\.$/, "") : fixed;
}

/** go-units HumanDuration, as crictl shows ages ("3 minutes" → "3 minutes ago" in tables). */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

/** How long ago a CRI timestamp (ns since the epoch) was, as crictl's CREATED column says it. */
export function ago(ns: bigint, nowMs: number): string {
  return `${humanDuration(nowMs - Number(ns / 1_000_000n))} ago`;
}

/** crictl's names of sandbox states in tables. */
export function podStateName(state: PodSandboxState): string {
  return state === PodSandboxState.SANDBOX_READY
    ? "Ready"
    : state === PodSandboxState.SANDBOX_NOTREADY
      ? "NotReady"
      : "Unknown";
}

/** crictl's names of container states in tables. */
export function containerStateName(state: ContainerState): string {
  switch (state) {
    case ContainerState.CONTAINER_CREATED:
      return "Created";
    case ContainerState.CONTAINER_RUNNING:
      return "Running";
    case ContainerState.CONTAINER_EXITED:
      return "Exited";
    default:
      return "Unknown";
  }
}

/**
 * A CRI timestamp (ns since the epoch) in Go's RFC 3339 with nanoseconds, trailing zeros cut, in
 * UTC: `2026-12-02T19:41:28.123456789Z`; 0 is Go's zero time `0001-01-01T00:00:00Z`.
 */
export function rfc3339Nano(ns: bigint): string {
  if (ns === 0n) return "0001-01-01T00:00:00Z";
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString().slice(0, 19);
  const frac = (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n)
    .toString()
    .padStart(9, "0")
    .replace(/0+$/, "");
  return `${iso}${frac ? `.${frac}` : ""}Z`;
}

/** Go's time.Time String() form crictl prints in tables ("Created: …"), in UTC. */
export function goTimeString(ns: bigint): string {
  const d = new Date(Number(ns / 1_000_000n));
  const frac = (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n)
    .toString()
    .padStart(9, "0")
    .replace(/0+$/, "");
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(
    d.getUTCMinutes(),
  )}:${pad(d.getUTCSeconds())}${frac ? `.${frac}` : ""} +0000 UTC`;
}

/** A CRI log time stamp in the fixed 9-digit form `kubectl logs --timestamps` prints. */
export function fixedLogTime(time: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(time);
  if (!m) return time;
  return `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}${m[3]}`;
}

/**
 * Parses a Go duration (`300ms`, `1.5h`, `2h45m`, `0`), as time.ParseDuration does; undefined
 * when it is not one. In milliseconds.
 */
export function parseGoDuration(text: string): number | undefined {
  if (text === "0") return 0;
  const unit: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    μs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "") return undefined;
  let total = 0;
  while (rest !== "") {
    const m = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * (unit[m[2] ?? ""] ?? 0);
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}
