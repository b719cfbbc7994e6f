// The NodeAddress setter of pkg/kubelet/nodestatus without a cloud provider, and the kubelet's
// validateNodeIP, over IP addresses parsed and printed as Go's net.IP does.

import { isIP } from "node:net";
import type { NodeAddress } from "./types.js";

/** An IP address as 16 bytes (IPv4 as IPv4-mapped IPv6, as Go keeps it) and whether it is IPv4. */
interface ParsedIP {
  bytes: Uint8Array;
  v4: boolean;
}

/** Parses an IPv4 or IPv6 address (no zone); `undefined` when it is not one. */
function parseIP(text: string): ParsedIP | undefined {
  const family = isIP(text);
  if (family === 4) {
    const bytes = new Uint8Array(16);
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    text.split(".").forEach((part, i) => {
      bytes[12 + i] = Number(part);
    });
    return { bytes, v4: true };
  }
  if (family !== 6 || text.includes("%")) return undefined;
  let head = text;
  let tail4: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tail4 = text
      .slice(lastColon + 1)
      .split(".")
      .map(Number);
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left = "", right] = head.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => Number.parseInt(g, 16)));
  const l = groups(left);
  const r = right === undefined ? [] : groups(right);
  const all = right === undefined ? l : [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  if (tail4.length === 4) {
    tail4.forEach((b, i) => {
      bytes[12 + i] = b;
    });
  }
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return { bytes, v4: mapped };
}

/** Go's `net.IP.String()`: dotted IPv4 for IPv4 (and IPv4-mapped) addresses, RFC 5952 IPv6 otherwise. */
function formatIP(ip: ParsedIP): string {
  const b = ip.bytes;
  if (ip.v4) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  // The longest run of two or more zero groups (the first of equal runs) becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

const isUnspecified = (ip: ParsedIP) =>
  ip.v4 ? ip.bytes.slice(12).every((b) => b === 0) : ip.bytes.every((b) => b === 0);
const isLoopback = (ip: ParsedIP) =>
  ip.v4 ? ip.bytes[12] === 127 : ip.bytes.slice(0, 15).every((b) => b === 0) && ip.bytes[15] === 1;
const isMulticast = (ip: ParsedIP) => (ip.v4 ? ((ip.bytes[12] ?? 0) & 0xf0) === 0xe0 : ip.bytes[0] === 0xff);
const isLinkLocalUnicast = (ip: ParsedIP) =>
  ip.v4 ? ip.bytes[12] === 169 && ip.bytes[13] === 254 : ip.bytes[0] === 0xfe && ((ip.bytes[1] ?? 0) & 0xc0) === 0x80;
const same = (a: ParsedIP, b: ParsedIP) => a.bytes.every((v, i) => v === b.bytes[i]);

/** Whether `text` is an IPv4 or IPv6 address as Go's `net.ParseIP` reads it. */
export const isIPAddress = (text: string): boolean => parseIP(text) !== undefined;

/**
 * The kubelet's `validateNodeIP`: an error message, or `undefined` when the address may be a node
 * IP. With `interfaceAddresses` given, the address must be one of them.
 */
export function validateNodeIP(text: string, interfaceAddresses?: readonly string[]): string | undefined {
  const ip = parseIP(text);
  if (ip === undefined) return "nodeIP must be a valid IP address";
  if (isLoopback(ip)) return "nodeIP can't be loopback address";
  if (isMulticast(ip)) return "nodeIP can't be a multicast address";
  if (isLinkLocalUnicast(ip)) return "nodeIP can't be a link-local unicast address";
  if (isUnspecified(ip)) return "nodeIP can't be an all zeros address";
  if (interfaceAddresses === undefined) return undefined;
  for (const a of interfaceAddresses) {
    const other = parseIP(a);
    if (other && same(ip, other)) return undefined;
  }
  return `node IP: "${formatIP(ip)}" not found in the host's network interfaces`;
}

/** Inputs of {@link nodeAddresses}. */
export interface NodeAddressInput {
  nodeName: string;
  hostname: string;
  nodeIPs?: readonly string[] | undefined;
  lookup?: readonly string[] | undefined;
  defaultRoute?: readonly string[] | undefined;
  interfaceAddresses?: readonly string[] | undefined;
}

/**
 * The NodeAddress setter without a cloud provider: the node IP (or both node IPs, dual-stack) as
 * `InternalIP`, then the `Hostname`. Without a node IP, a hostname that is an IP, else the first
 * valid DNS answer of the preferred family, else the default route's address. Returns the
 * addresses, or the kubelet's error message (the addresses are then left as they were).
 */
export function nodeAddresses(input: NodeAddressInput): { addresses: NodeAddress[] } | { error: string } {
  const validate = (t: string) => validateNodeIP(t, input.interfaceAddresses);
  const nodeIP = input.nodeIPs?.[0] !== undefined ? parseIP(input.nodeIPs[0]) : undefined;
  const secondary = input.nodeIPs?.[1] !== undefined ? parseIP(input.nodeIPs[1]) : undefined;
  const preferIPv4 = nodeIP === undefined || nodeIP.v4;
  const nodeIPSpecified = nodeIP !== undefined && !isUnspecified(nodeIP);
  const secondarySpecified = secondary !== undefined && !isUnspecified(secondary);
  if (nodeIPSpecified) {
    const err = validate(formatIP(nodeIP));
    if (err) return { error: `failed to validate nodeIP: ${err}` };
  }
  if (secondarySpecified) {
    const err = validate(formatIP(secondary));
    if (err) return { error: `failed to validate secondaryNodeIP: ${err}` };
  }
  const hostname: NodeAddress = { type: "Hostname", address: input.hostname };
  if (nodeIPSpecified && secondarySpecified) {
    return {
      addresses: [
        { type: "InternalIP", address: formatIP(nodeIP) },
        { type: "InternalIP", address: formatIP(secondary) },
        hostname,
      ],
    };
  }
  let chosen: ParsedIP | undefined;
  if (nodeIPSpecified) chosen = nodeIP;
  else if (parseIP(input.hostname)) chosen = parseIP(input.hostname);
  else {
    for (const a of input.lookup ?? []) {
      const ip = parseIP(a);
      if (ip === undefined || validate(a) !== undefined) continue;
      if (ip.v4 === preferIPv4) {
        chosen = ip;
        break;
      }
      chosen ??= ip;
    }
    if (chosen === undefined) {
      const routes = (input.defaultRoute ?? []).map(parseIP).filter((ip): ip is ParsedIP => ip !== undefined);
      chosen = routes.find((ip) => ip.v4 === preferIPv4) ?? routes[0];
    }
  }
  if (chosen === undefined) {
    return {
      error: `can't get ip address of node ${input.nodeName}. error: unable to select an IP from default routes.`,
    };
  }
  return { addresses: [{ type: "InternalIP", address: formatIP(chosen) }, hostname] };
}
