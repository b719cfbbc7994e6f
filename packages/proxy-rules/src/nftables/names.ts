// The names kube-proxy's nftables mode gives its per-Service objects (pkg/proxy/nftables/proxier.go:
// hashAndTruncate, servicePortChainNameBase, servicePortEndpointChainNameBase): an 8-character
// base32 SHA-256 prefix, then the readable name, cut to nftables' length limit.

import { hash16 } from "../iptables/chain-hash.js";

/** knftables' NameLengthMax (256) minus the longest prefix (16): the longest name base. */
export const CHAIN_NAME_BASE_MAX = 240;

/**
 * The first 8 characters of `base32.StdEncoding(sha256(s))` (the 40 leading bits of the digest):
 * the start of the 16 the iptables mode's chain names use, from the same fast hasher.
 */
export function hash8(s: string): string {
  return hash16(s).slice(0, 8);
}

/** kube-proxy's hashAndTruncate: `HASH-name`, cut to 240 characters with a `...` end. */
export function hashAndTruncate(name: string): string {
  const out = `${hash8(name)}-${name}`;
  return out.length > CHAIN_NAME_BASE_MAX ? `${out.slice(0, CHAIN_NAME_BASE_MAX - 3)}...` : out;
}

/** The base of a Service port's chain names: `HASH-namespace/name/protocol/portName`. */
export function servicePortChainNameBase(namespace: string, name: string, protocol: string, portName: string): string {
  return hashAndTruncate(`${namespace}/${name}/${protocol}/${portName}`);
}

/**
 * The base of an endpoint's chain and affinity-set names:
 * `HASH-namespace/name/protocol/portName__ip/port`, the `:` of an IPv6 address written `.`.
 */
export function servicePortEndpointChainNameBase(
  namespace: string,
  name: string,
  protocol: string,
  portName: string,
  ip: string,
  port: number,
): string {
  const host = ip.includes(":") ? ip.replaceAll(":", ".") : ip;
  return hashAndTruncate(`${namespace}/${name}/${protocol}/${portName}__${host}/${port}`);
}

/** A name nft accepts unquoted as a chain or set name: a letter, `_` or `.` first, then `[A-Za-z0-9_./-]`. */
export function isNftName(s: string): boolean {
  return /^[A-Za-z_.][A-Za-z0-9_./-]*$/.test(s) && s.length <= 256;
}
