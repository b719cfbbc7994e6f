// Addresses for the rule evaluator: IPv4 as an unsigned 32-bit number, IPv6 as a bigint, and
// prefixes (`10.0.0.0/8`, `fd00::/64`, `10.0.0.0/255.0.0.0`) as a value and a mask of the same kind.
// Kept apart from the compiler's model so that the evaluator reads any spelling iptables accepts.

/** A parsed address: `v4` numbers or `v6` bigints. */
export type Addr = { readonly family: 4; readonly v: number } | { readonly family: 6; readonly v: bigint };

/** A parsed prefix: the network and its mask, of one family. */
export type Prefix =
  | { readonly family: 4; readonly net: number; readonly mask: number; readonly bits: number }
  | { readonly family: 6; readonly net: bigint; readonly mask: bigint; readonly bits: number };

const V6_ALL = (1n << 128n) - 1n;

function parseV4(s: string): number | undefined {
  let v = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || ++dots > 3) return undefined;
      v = v * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      octet = octet * 10 + (c - 0x30);
      digits++;
      if (octet > 255) return undefined;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return v * 256 + octet;
}

function parseV6(s: string): bigint | undefined {
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const zone = s.indexOf("%");
  if (zone >= 0) return undefined;
  let tail: number[] = [];
  // an embedded IPv4 tail
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".", lastColon)) {
    const v4 = parseV4(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [Math.floor(v4 / 65536), v4 % 65536];
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const group = (h: string) => (h === "" ? [] : h.split(":"));
  const [first = "", second] = halves; // split gives at least one part
  const head = group(first);
  const rest = second === undefined ? [] : group(second);
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const groups = [...head, ...new Array<string>(8 - total).fill("0"), ...rest];
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(Number.parseInt(g, 16));
  }
  const [hi, lo] = tail;
  if (hi !== undefined && lo !== undefined) v = (v & ~0xffffffffn) | (BigInt(hi) << 16n) | BigInt(lo);
  return v;
}

/** Parses an IPv4 or IPv6 address (IPv6 optionally in brackets); undefined when it is not one. */
export function parseAddr(s: string): Addr | undefined {
  if (s.includes(":")) {
    const v = parseV6(s);
    return v === undefined ? undefined : { family: 6, v };
  }
  const v = parseV4(s);
  return v === undefined ? undefined : { family: 4, v };
}

/** Parses `addr`, `addr/len` or `addr/dotted-mask`; a bare address is a full-length prefix. */
export function parsePrefix(s: string): Prefix | undefined {
  const slash = s.indexOf("/");
  const a = parseAddr(slash < 0 ? s : s.slice(0, slash));
  if (!a) return undefined;
  const m = slash < 0 ? undefined : s.slice(slash + 1);
  if (a.family === 4) {
    let mask: number;
    let bits: number;
    if (m === undefined) {
      bits = 32;
      mask = 0xffffffff;
    } else if (/^\d{1,2}$/.test(m)) {
      bits = Number(m);
      if (bits > 32) return undefined;
      mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    } else {
      const dotted = parseV4(m);
      if (dotted === undefined) return undefined;
      mask = dotted;
      bits = popcount32(mask);
    }
    return { family: 4, net: (a.v & mask) >>> 0, mask, bits };
  }
  let bits = 128;
  if (m !== undefined) {
    if (!/^\d{1,3}$/.test(m) || Number(m) > 128) return undefined;
    bits = Number(m);
  }
  const mask = bits === 0 ? 0n : (V6_ALL << BigInt(128 - bits)) & V6_ALL;
  return { family: 6, net: a.v & mask, mask, bits };
}

function popcount32(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v >>>= 1) n += v & 1;
  return n;
}

/** Whether the prefix holds the address (false across families). */
export function prefixContains(p: Prefix, a: Addr): boolean {
  if (p.family === 4) return a.family === 4 && (a.v & p.mask) >>> 0 === p.net;
  return a.family === 6 && (a.v & p.mask) === p.net;
}

/** The canonical text of an address (IPv6 compressed as RFC 5952 writes it). */
export function formatAddr(a: Addr): string {
  if (a.family === 4) return [a.v >>> 24, (a.v >>> 16) & 255, (a.v >>> 8) & 255, a.v & 255].join(".");
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((a.v >> BigInt(i * 16)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** Same address? */
export function addrEqual(a: Addr, b: Addr): boolean {
  return a.family === b.family && a.v === b.v;
}

/** Whether an address is loopback (127.0.0.0/8, ::1). */
export function isLoopbackAddr(a: Addr): boolean {
  return a.family === 4 ? a.v >>> 24 === 127 : a.v === 1n;
}

/** A map key for an address. */
export function addrKey(a: Addr): string {
  return a.family === 4 ? `4:${a.v}` : `6:${a.v.toString(16)}`;
}
