// SHA-256 (FIPS 180-4) and RFC 4648 base32, in plain TypeScript so that the compiler runs
// anywhere (Node, Deno, browsers) and hashes the short chain-name inputs without the per-call
// overhead of node:crypto. Only the first 16 base32 characters (80 bits) are ever needed.

import { createSha256x4, type Sha256x4 } from "./sha256-simd.js";

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

const IV = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const W = new Int32Array(64);
const H = new Int32Array(8);
let buf = new Uint8Array(256);

function utf8(s: string): number {
  // encodes s into buf (growing it), returns the byte length
  let n = 0;
  if (s.length + 72 <= buf.length) {
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[i] = c;
    }
    if (i === s.length) return i;
  }
  const need = s.length * 3 + 72;
  if (buf.length < need) buf = new Uint8Array(need * 2);
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[n++] = c;
    } else if (c < 0x800) {
      buf[n++] = 0xc0 | (c >> 6);
      buf[n++] = 0x80 | (c & 63);
    } else {
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          buf[n++] = 0xf0 | (c >> 18);
          buf[n++] = 0x80 | ((c >> 12) & 63);
          buf[n++] = 0x80 | ((c >> 6) & 63);
          buf[n++] = 0x80 | (c & 63);
          continue;
        }
      }
      buf[n++] = 0xe0 | (c >> 12);
      buf[n++] = 0x80 | ((c >> 6) & 63);
      buf[n++] = 0x80 | (c & 63);
    }
  }
  return n;
}

function compress(words: Int32Array, off: number): void {
  if (words !== W) for (let i = 0; i < 16; i++) W[i] = words[off + i]!;
  rounds(0, 64, H);
}

/**
 * Rounds `from` to `to - 1` of the compression of the block in W, from the working variables in
 * `state` (H itself when `from` is 0). The last round adds them to H; otherwise they are written
 * back to `state` (the state after a message's leading words, shared by messages that start alike).
 */
function rounds(from: number, to: number, state: Int32Array): void {
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let f = state[5]!;
  let g = state[6]!;
  let h = state[7]!;
  for (let i = from; i < to; i++) {
    // the message schedule, computed as the rounds need it
    let w: number;
    if (i < 16) w = W[i]!;
    else {
      const w15 = W[i - 15]!;
      const w2 = W[i - 2]!;
      const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
      const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
      w = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
      W[i] = w;
    }
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + (g ^ (e & (f ^ g))) + K[i]! + w) | 0; // Ch(e, f, g)
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) | (c & (a | b)))) | 0; // Maj(a, b, c)
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  if (to < 64) {
    state[0] = a;
    state[1] = b;
    state[2] = c;
    state[3] = d;
    state[4] = e;
    state[5] = f;
    state[6] = g;
    state[7] = h;
    return;
  }
  H[0] = (H[0]! + a) | 0;
  H[1] = (H[1]! + b) | 0;
  H[2] = (H[2]! + c) | 0;
  H[3] = (H[3]! + d) | 0;
  H[4] = (H[4]! + e) | 0;
  H[5] = (H[5]! + f) | 0;
  H[6] = (H[6]! + g) | 0;
  H[7] = (H[7]! + h) | 0;
}

let M = new Int32Array(32);

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

function digestInto(s: string, t = ""): void {
  // message words, big-endian, straight from the strings when they are ASCII
  let len = s.length + t.length;
  let bytes: Uint8Array | undefined;
  if (!isAscii(s) || !isAscii(t)) {
    len = utf8(s + t);
    bytes = buf;
  }
  const blocks = ((len + 8) >> 6) + 1;
  const nwords = blocks * 16;
  if (M.length < nwords) M = new Int32Array(nwords * 2);
  M.fill(0, 0, nwords);
  if (bytes) {
    for (let i = 0; i < len; i++) M[i >> 2] = M[i >> 2]! | (bytes[i]! << (24 - (i & 3) * 8));
  } else {
    const n = s.length;
    for (let i = 0; i < n; i++) M[i >> 2] = M[i >> 2]! | (s.charCodeAt(i) << (24 - (i & 3) * 8));
    for (let j = 0; j < t.length; j++) {
      const i = n + j;
      M[i >> 2] = M[i >> 2]! | (t.charCodeAt(j) << (24 - (i & 3) * 8));
    }
  }
  M[len >> 2] = M[len >> 2]! | (0x80 << (24 - (len & 3) * 8));
  M[nwords - 1] = len * 8;
  M[nwords - 2] = Math.floor((len * 8) / 2 ** 32);
  H.set(IV);
  for (let off = 0; off < nwords; off += 16) compress(M, off);
}

/** SHA-256 of the UTF-8 encoding of `s`, as 32 bytes. */
export function sha256(s: string): Uint8Array {
  digestInto(s);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const v = H[i]!;
    out[i * 4] = (v >>> 24) & 255;
    out[i * 4 + 1] = (v >>> 16) & 255;
    out[i * 4 + 2] = (v >>> 8) & 255;
    out[i * 4 + 3] = v & 255;
  }
  return out;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));

/**
 * The first 16 characters of `base32.StdEncoding.EncodeToString(sha256(s + suffix))`: the 80
 * leading bits of the digest, 5 bits per character. This is the hash kube-proxy puts in its chain
 * names. (The suffix saves building the concatenated string.)
 */
export function hash16(s: string, suffix = ""): string {
  if (!oneBlock(s, suffix, "")) digestInto(s, suffix);
  return sepDeclOfH().slice(10, 26); // the hash part of `:KUBE-SEP-<hash> - [0:0]`
}

/**
 * The common case, an ASCII message `s + t + u` of at most 55 bytes (one block), packed straight
 * into the message schedule from the parts (no concatenated string, which V8 would flatten
 * first): digests it into H and returns true. Returns false (and leaves H alone) otherwise.
 */
function oneBlock(s: string, t: string, u: string): boolean {
  if (s.length + t.length + u.length > 55) return false;
  let or = 0;
  let word = 0;
  let i = 0;
  for (let j = 0; j < s.length; j++, i++) {
    const c = s.charCodeAt(j);
    or |= c;
    word = (word << 8) | c;
    if ((i & 3) === 3) W[i >> 2] = word;
  }
  if (or >= 0x80 || !packTail(t, u, i, word)) return false;
  H.set(IV);
  compress(W, 0);
  return true;
}

/**
 * Packs `t + u` after the first `at` bytes (whose last, incomplete word is in the low bits of
 * `word`), then the terminator, the padding and the bit length, into the words of a block: word
 * `t` at `out[t * stride + lane]` (W itself, or a lane of the four-lane hasher). False if not ASCII.
 */
function packTail(t: string, u: string, at: number, word: number, out: Int32Array = W, stride = 1, lane = 0): boolean {
  let or = 0;
  let i = at;
  for (let j = 0; j < t.length; j++, i++) {
    const c = t.charCodeAt(j);
    or |= c;
    word = (word << 8) | c;
    if ((i & 3) === 3) out[(i >> 2) * stride + lane] = word;
  }
  for (let j = 0; j < u.length; j++, i++) {
    const c = u.charCodeAt(j);
    or |= c;
    word = (word << 8) | c;
    if ((i & 3) === 3) out[(i >> 2) * stride + lane] = word;
  }
  if (or >= 0x80) return false;
  const len = i;
  // the 0x80 terminator, zero padding, the bit length
  word = (word << 8) | 0x80;
  i++;
  while ((i & 3) !== 0) {
    word <<= 8;
    i++;
  }
  out[((i >> 2) - 1) * stride + lane] = word;
  for (let k = i >> 2; k < 15; k++) out[k * stride + lane] = 0;
  out[15 * stride + lane] = len * 8;
  return true;
}

/**
 * `KUBE-SEP-` + {@link hash16}`(s + t + u)`, built as one flat string (the endpoint chain names
 * are the most numerous strings of a compilation).
 */
export function sepChainName(s: string, t: string, u = ""): string {
  if (!oneBlock(s, t, u)) digestInto(s, t + u);
  return sepDeclOfH().slice(1, 26);
}

const PREFIX_WORDS = new Int32Array(14);
const PREFIX_STATE = new Int32Array(8);

/**
 * {@link sepChainName}`(prefix, ips[i], suffix)` for every address, into `names`, and the
 * chains' declarations (`:NAME - [0:0]\n`) into `decls`: the endpoint chains of a Service port.
 * The words of the shared prefix are packed once, and the rounds that read only them run once.
 */
export function sepChainNames(
  prefix: string,
  ips: readonly string[],
  suffix: string,
  names: string[],
  decls: string[],
): void {
  const p = prefix.length;
  const full = p >> 2; // words made of the prefix alone
  let or = 0;
  let word = 0;
  for (let j = 0; j < p && p <= 55; j++) {
    const c = prefix.charCodeAt(j);
    or |= c;
    word = (word << 8) | c;
    if ((j & 3) === 3) PREFIX_WORDS[j >> 2] = word;
  }
  const fast = p <= 55 && or < 0x80;
  if (fast) {
    for (let k = 0; k < full; k++) W[k] = PREFIX_WORDS[k]!;
    PREFIX_STATE.set(IV);
    rounds(0, full, PREFIX_STATE);
  }
  const x4 = fast && ips.length > 1 ? sha256x4() : undefined;
  if (x4) {
    x4.setState(PREFIX_STATE);
    const words = x4.words;
    for (let k = 0; k < full; k++) words.fill(PREFIX_WORDS[k]!, 4 * k, 4 * k + 4);
    for (let i = 0; i < ips.length; i += 4) lanes(x4, i, prefix, ips, suffix, full, word, names, decls);
    return;
  }
  for (let i = 0; i < ips.length; i++) {
    const ip = ips[i]!;
    if (fast) for (let k = 0; k < full; k++) W[k] = PREFIX_WORDS[k]!;
    if (fast && p + ip.length + suffix.length <= 55 && packTail(ip, suffix, p, word)) {
      H.set(IV);
      rounds(full, 64, PREFIX_STATE);
    } else if (!oneBlock(prefix, ip, suffix)) digestInto(prefix, ip + suffix);
    const decl = sepDeclOfH();
    decls[i] = decl;
    names[i] = decl.slice(1, 26);
  }
}

/**
 * Addresses `i`…`i + 3` of {@link sepChainNames} on the four-lane hasher (whose lanes start with
 * the prefix words; `word` is the prefix's incomplete last word). A message that is not one ASCII
 * block takes the scalar path.
 */
function lanes(
  x4: Sha256x4,
  i: number,
  prefix: string,
  ips: readonly string[],
  suffix: string,
  full: number,
  word: number,
  names: string[],
  decls: string[],
): void {
  const n = Math.min(4, ips.length - i);
  const words = x4.words;
  let scalar = 0; // lanes left to the scalar path
  for (let j = 0; j < n; j++) {
    const ip = ips[i + j]!;
    if (prefix.length + ip.length + suffix.length > 55 || !packTail(ip, suffix, prefix.length, word, words, 4, j)) {
      scalar |= 1 << j;
    }
  }
  x4.run(full);
  const digest = x4.digest;
  for (let j = 0; j < n; j++) {
    if ((scalar & (1 << j)) === 0) {
      H[0] = digest[j]!;
      H[1] = digest[4 + j]!;
      H[2] = digest[8 + j]!;
    } else if (!oneBlock(prefix, ips[i + j]!, suffix)) digestInto(prefix, ips[i + j]! + suffix);
    const decl = sepDeclOfH();
    decls[i + j] = decl;
    names[i + j] = decl.slice(1, 26);
  }
}

let x4State: Sha256x4 | null | undefined;

/** The four-lane hasher, made on first use; `undefined` without WebAssembly SIMD (or when off). */
function sha256x4(): Sha256x4 | undefined {
  if (x4State === undefined) x4State = createSha256x4(K, IV) ?? null;
  return x4State ?? undefined;
}

/** Turns the four-lane hasher off (`false`) or back on, for tests of the scalar path. */
export function useSha256x4(on: boolean): void {
  x4State = on ? undefined : null;
}

/**
 * The declaration of the endpoint chain named by the digest in H, `:KUBE-SEP-<hash> - [0:0]\n`,
 * as one flat string; the name is its slice `[1, 26)`.
 */
function sepDeclOfH(): string {
  const a = H[0]!;
  const b = H[1]!;
  const c = H[2]!;
  return String.fromCharCode(
    58, // :
    75, // K
    85, // U
    66, // B
    69, // E
    45, // -
    83, // S
    69, // E
    80, // P
    45, // -
    CODES[(a >>> 27) & 31]!,
    CODES[(a >>> 22) & 31]!,
    CODES[(a >>> 17) & 31]!,
    CODES[(a >>> 12) & 31]!,
    CODES[(a >>> 7) & 31]!,
    CODES[(a >>> 2) & 31]!,
    CODES[((a << 3) | (b >>> 29)) & 31]!,
    CODES[(b >>> 24) & 31]!,
    CODES[(b >>> 19) & 31]!,
    CODES[(b >>> 14) & 31]!,
    CODES[(b >>> 9) & 31]!,
    CODES[(b >>> 4) & 31]!,
    CODES[((b << 1) | (c >>> 31)) & 31]!,
    CODES[(c >>> 26) & 31]!,
    CODES[(c >>> 21) & 31]!,
    CODES[(c >>> 16) & 31]!,
    32, // " - [0:0]\n"
    45,
    32,
    91,
    48,
    58,
    48,
    93,
    10,
  );
}
