// IP address and CIDR parsing/formatting with the semantics kube-proxy gets from Go's
// net.ParseIP / netutils.ParseIPSloppy and net.IP.String(): IPv4 parts may carry legacy leading
// zeros ("010" is ten), IPv6 is printed in RFC 5952 form. Pure, allocation-light, no dependencies.

/** An IP family, named as Kubernetes names it (`v1.IPFamily`). */
export type IPFamily = "IPv4" | "IPv6";

/** A parsed IP address: its family, its 16-bit words (2 for IPv4, 8 for IPv6) and canonical text. */
export interface ParsedIP {
  readonly family: IPFamily;
  readonly words: readonly number[];
  readonly text: string;
}

/** A parsed CIDR: the masked network address, the prefix length and canonical text (`10.0.0.0/8`). */
export interface ParsedCIDR {
  readonly ip: ParsedIP;
  readonly prefix: number;
  readonly text: string;
}

function parseIPv4Words(s: string, start: number, end: number, out: number[]): boolean {
  let part = 0;
  let digits = 0;
  let parts = 0;
  let acc = 0;
  for (let i = start; i <= end; i++) {
    const c = i === end ? 46 : s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || parts === 4) return false;
      acc = acc * 256 + part;
      parts++;
      part = 0;
      digits = 0;
      continue;
    }
    if (c < 48 || c > 57) return false;
    part = part * 10 + (c - 48);
    digits++;
    if (digits > 3 || part > 255) return false;
  }
  if (parts !== 4) return false;
  out.push(Math.floor(acc / 65536), acc % 65536);
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function parseIPv6Words(s: string): number[] | undefined {
  const n = s.length;
  if (n < 2 || n > 45) return undefined;
  const head: number[] = [];
  const tail: number[] = [];
  let cur = head;
  let i = 0;
  let sawDouble = false;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return undefined;
    sawDouble = true;
    cur = tail;
    i = 2;
    if (i === n) return [0, 0, 0, 0, 0, 0, 0, 0];
  }
  while (i < n) {
    // one group: hex digits, or a trailing dotted IPv4
    let j = i;
    let v = 0;
    while (j < n && j - i < 5) {
      const h = hexValue(s.charCodeAt(j));
      if (h < 0) break;
      v = v * 16 + h;
      j++;
    }
    if (j < n && s.charCodeAt(j) === 46) {
      // embedded IPv4 must be the last thing
      const words: number[] = [];
      if (!parseIPv4Words(s, i, n, words)) return undefined;
      cur.push(words[0] ?? 0, words[1] ?? 0); // parseIPv4Words gave two
      i = n;
      break;
    }
    if (j === i || j - i > 4) return undefined;
    cur.push(v);
    i = j;
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return undefined;
    i++;
    if (i < n && s.charCodeAt(i) === 58) {
      if (sawDouble) return undefined;
      sawDouble = true;
      cur = tail;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return undefined; // trailing single colon
    }
  }
  const total = head.length + tail.length;
  if (sawDouble) {
    if (total > 7) return undefined;
    const zeros = new Array<number>(8 - total).fill(0);
    return head.concat(zeros, tail);
  }
  if (total !== 8) return undefined;
  return head;
}

function formatIPv4(words: readonly number[]): string {
  const a = words[0] ?? 0;
  const b = words[1] ?? 0;
  return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
}

function formatIPv6(w: readonly number[]): string {
  // longest run of zero words (length >= 2), first one on ties (Go and RFC 5952)
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += "::";
      i += bestLen - 1;
      continue;
    }
    if (out !== "" && !out.endsWith(":")) out += ":";
    out += (w[i] ?? 0).toString(16);
  }
  return out;
}

/**
 * Parses an IP address as kube-proxy does (`ParseIPSloppy`): IPv4 in dotted decimal (leading zeros
 * allowed, read as decimal), IPv6 in any RFC 4291 text form. IPv4-mapped IPv6 addresses
 * (`::ffff:1.2.3.4`) and zones are rejected. Returns `undefined` for anything else.
 */
export function parseIP(s: string): ParsedIP | undefined {
  if (typeof s !== "string" || s.length === 0 || s.length > 45) return undefined;
  if (s.indexOf(":") < 0) {
    const words: number[] = [];
    if (!parseIPv4Words(s, 0, s.length, words)) return undefined;
    return { family: "IPv4", words, text: formatIPv4(words) };
  }
  const words = parseIPv6Words(s);
  if (!words) return undefined;
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff) {
    return undefined; // IPv4-mapped: Go would treat it as IPv4; we refuse the ambiguity
  }
  return { family: "IPv6", words, text: formatIPv6(words) };
}

/**
 * The canonical text of an IP address of the given family, or `undefined` if `s` is not one.
 * Allocation-free for IPv4 addresses already in canonical form (the common case).
 */
export function canonicalIP(s: string, family: IPFamily): string | undefined {
  if (typeof s !== "string") return undefined;
  if (family === "IPv4") {
    const n = s.length;
    if (n < 7 || n > 15) {
      const ip = parseIP(s);
      return ip?.family === "IPv4" ? ip.text : undefined;
    }
    let parts = 0;
    let digits = 0;
    let value = 0;
    let leadingZero = false;
    for (let i = 0; i <= n; i++) {
      const c = i === n ? 46 : s.charCodeAt(i);
      if (c === 46) {
        if (digits === 0 || value > 255) return undefined;
        parts++;
        digits = 0;
        value = 0;
        continue;
      }
      if (c < 48 || c > 57) return undefined;
      if (digits === 1 && value === 0) leadingZero = true;
      value = value * 10 + (c - 48);
      digits++;
      if (digits > 3) return undefined;
    }
    if (parts !== 4) return undefined;
    return leadingZero ? parseIP(s)?.text : s;
  }
  const ip = parseIP(s);
  return ip && ip.family === family ? ip.text : undefined;
}

/** Parses a CIDR (`10.0.0.0/8`, `fd00::/64`; host bits are masked off as Go's `ParseCIDR` does). */
export function parseCIDR(s: string): ParsedCIDR | undefined {
  if (typeof s !== "string") return undefined;
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  if (!ip) return undefined;
  const bits = s.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  const max = ip.family === "IPv4" ? 32 : 128;
  if (prefix > max) return undefined;
  const words = ip.words.map((w, i) => {
    const keep = Math.max(0, Math.min(16, prefix - i * 16));
    return keep === 0 ? 0 : w & (0xffff << (16 - keep)) & 0xffff;
  });
  const text = ip.family === "IPv4" ? formatIPv4(words) : formatIPv6(words);
  const net: ParsedIP = { family: ip.family, words, text };
  return { ip: net, prefix, text: `${text}/${prefix}` };
}

/** Whether `cidr` contains `ip` (always false across families). */
export function cidrContains(cidr: ParsedCIDR, ip: ParsedIP): boolean {
  if (cidr.ip.family !== ip.family) return false;
  for (let i = 0; i < ip.words.length; i++) {
    const keep = Math.max(0, Math.min(16, cidr.prefix - i * 16));
    if (keep === 0) return true;
    const mask = (0xffff << (16 - keep)) & 0xffff;
    if (((ip.words[i] ?? 0) & mask) !== cidr.ip.words[i]) return false;
  }
  return true;
}

/** Whether the address is a loopback address (127.0.0.0/8 or ::1). */
export function isLoopback(ip: ParsedIP): boolean {
  if (ip.family === "IPv4") return (ip.words[0] ?? 0) >> 8 === 127;
  return ip.words.every((w, i) => (i === 7 ? w === 1 : w === 0));
}

/** Whether the CIDR is the zero CIDR of its family (`0.0.0.0/0`, `::/0`). */
export function isZeroCIDR(cidr: ParsedCIDR): boolean {
  return cidr.prefix === 0;
}

/** `net.JoinHostPort`: `ip:port`, or `[ip]:port` for IPv6. */
export function joinHostPort(ip: string, port: number): string {
  return ip.indexOf(":") >= 0 ? `[${ip}]:${port}` : `${ip}:${port}`;
}
