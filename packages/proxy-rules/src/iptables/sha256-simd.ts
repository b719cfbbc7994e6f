// SHA-256 of four one-block messages at once, in WebAssembly SIMD (one message per i32x4 lane):
// the chain names of a Service port's endpoints are hashed four by four, about twice as fast as
// the plain TypeScript rounds. The module (under 1 KB) is assembled here, byte by byte, when first
// needed; where WebAssembly or its SIMD instructions are missing, the caller keeps to its own
// rounds.

/** Byte offsets in the module's memory: constants, message schedule, state, IV, output. */
const K_AT = 0;
const W_AT = 1024;
const STATE_AT = 2048;
const IV_AT = 2176;
const OUT_AT = 2304;

/** The four-lane hasher: write the lanes' blocks into `words`, then call `run`. */
export interface Sha256x4 {
  /**
   * The lanes' blocks: word `t` (0–15) of lane `j` at `4 * t + j`. Before `run(from)`, the first
   * `from` words of every lane must be the ones whose rounds gave the state set by `setState`.
   */
  readonly words: Int32Array;
  /** The working variables after the first `from` rounds (the IV when `from` is 0), for all lanes. */
  setState(state: Int32Array): void;
  /** Runs rounds `from`…63 of every lane; the message schedule is computed from `words`. */
  run(from: number): void;
  /** The first three words of each lane's digest after `run`: word `k` of lane `j` at `4 * k + j`. */
  readonly digest: Int32Array;
}

/** The part of the WebAssembly JS API used here (the package's types do not include the DOM's). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

/** Creates the hasher, or `undefined` where WebAssembly SIMD is not available. */
export function createSha256x4(k: Int32Array, iv: Int32Array): Sha256x4 | undefined {
  const wasm = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (wasm === undefined) return undefined;
  let exports: Record<string, unknown>;
  try {
    exports = new wasm.Instance(new wasm.Module(moduleBytes())).exports;
  } catch {
    return undefined; // no SIMD instructions here
  }
  const buffer = (exports.memory as { buffer: ArrayBuffer }).buffer;
  const mem = new Int32Array(buffer);
  // Each word four times, one per lane.
  const spread = (words: Int32Array, at: number): void => {
    words.forEach((v, i) => {
      mem.fill(v, at + 4 * i, at + 4 * i + 4);
    });
  };
  spread(k, K_AT >> 2);
  spread(iv, IV_AT >> 2);
  const state = STATE_AT >> 2;
  return {
    words: new Int32Array(buffer, W_AT, 64),
    setState: (s) => {
      spread(s, state);
    },
    run: exports.run as (from: number) => void,
    digest: new Int32Array(buffer, OUT_AT, 12),
  };
}

// --- the module, assembled -----------------------------------------------------------------

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vector = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const name = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const simd = (op: number) => [0xfd, ...uleb(op)];
const get = (l: number) => [0x20, ...uleb(l)];
const set = (l: number) => [0x21, ...uleb(l)];
/** `local.get from; local.set to` for each pair. */
const copies = (...pairs: [from: number, to: number][]) => pairs.flatMap(([from, to]) => [...get(from), ...set(to)]);
const tee = (l: number) => [0x22, ...uleb(l)];
const i32 = (n: number) => [0x41, ...sleb(n)];
const load = (offset: number) => [...simd(0x00), 4, ...uleb(offset)]; // v128.load align=16
const store = (offset: number) => [...simd(0x0b), 4, ...uleb(offset)]; // v128.store
const ADD = simd(174); // i32x4.add
const XOR = simd(81); // v128.xor
const AND = simd(78); // v128.and
const OR = simd(80); // v128.or
const SHL = simd(171); // i32x4.shl
const SHR = simd(173); // i32x4.shr_u
const rotr = (l: number, n: number) => [...get(l), ...i32(n), ...SHR, ...get(l), ...i32(32 - n), ...SHL, ...OR];
const shr = (l: number, n: number) => [...get(l), ...i32(n), ...SHR];

function moduleBytes(): Uint8Array {
  // locals: 0 `from` (param), 1 round (i32); v128: 2–9 a…h, 10 t1, 11 t2, 12 x
  const [FROM, I, A, B, C, D, E, F, G, H, T1, T2, X] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const at = [...get(I), ...i32(4), 0x74]; // round * 16 (i32.shl)
  const loopWhileBelow64 = [...get(I), ...i32(1), 0x6a, ...tee(I), ...i32(64), 0x48, 0x0d, 0]; // i32.add, lt_s, br_if
  const body = [
    // message schedule: W[16…63]
    ...i32(16),
    ...set(I),
    0x03,
    0x40, // loop
    ...at,
    ...at,
    ...load(W_AT - 2 * 16),
    ...set(X),
    ...rotr(X, 17),
    ...rotr(X, 19),
    ...XOR,
    ...shr(X, 10),
    ...XOR,
    ...at,
    ...load(W_AT - 7 * 16),
    ...ADD,
    ...at,
    ...load(W_AT - 15 * 16),
    ...set(X),
    ...rotr(X, 7),
    ...rotr(X, 18),
    ...XOR,
    ...shr(X, 3),
    ...XOR,
    ...ADD,
    ...at,
    ...load(W_AT - 16 * 16),
    ...ADD,
    ...store(W_AT),
    ...loopWhileBelow64,
    0x0b,
    // the working variables, then rounds from…63
    ...[A, B, C, D, E, F, G, H].flatMap((l, k) => [...i32(0), ...load(STATE_AT + 16 * k), ...set(l)]),
    ...get(FROM),
    ...set(I),
    0x03,
    0x40, // loop
    // t1 = h + Σ1(e) + Ch(e, f, g) + K[i] + W[i]
    ...get(H),
    ...rotr(E, 6),
    ...rotr(E, 11),
    ...XOR,
    ...rotr(E, 25),
    ...XOR,
    ...ADD,
    ...get(G),
    ...get(E),
    ...get(F),
    ...get(G),
    ...XOR,
    ...AND,
    ...XOR,
    ...ADD,
    ...at,
    ...load(K_AT),
    ...ADD,
    ...at,
    ...load(W_AT),
    ...ADD,
    ...set(T1),
    // t2 = Σ0(a) + Maj(a, b, c)
    ...rotr(A, 2),
    ...rotr(A, 13),
    ...XOR,
    ...rotr(A, 22),
    ...XOR,
    ...get(A),
    ...get(B),
    ...AND,
    ...get(C),
    ...get(A),
    ...get(B),
    ...OR,
    ...AND,
    ...OR,
    ...ADD,
    ...set(T2),
    ...copies([G, H], [F, G], [E, F]),
    ...get(D),
    ...get(T1),
    ...ADD,
    ...set(E),
    ...copies([C, D], [B, C], [A, B]),
    ...get(T1),
    ...get(T2),
    ...ADD,
    ...set(A),
    ...loopWhileBelow64,
    0x0b,
    // the digest's first three words: IV + a, b, c
    ...[A, B, C].flatMap((l, k) => [
      ...i32(0),
      ...get(l),
      ...i32(0),
      ...load(IV_AT + 16 * k),
      ...ADD,
      ...store(OUT_AT + 16 * k),
    ]),
    0x0b,
  ];
  const code = [...uleb(2), 1, 0x7f, 11, 0x7b, ...body]; // locals: 1 × i32, 11 × v128
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // \0asm, version 1
    ...section(1, vector([[0x60, 1, 0x7f, 0]])), // type: (i32) → ()
    ...section(3, vector([[0]])), // one function of that type
    ...section(5, vector([[0, 1]])), // one memory of one page
    ...section(
      7,
      vector([
        [...name("run"), 0, 0],
        [...name("memory"), 2, 0],
      ]),
    ),
    ...section(10, vector([[...uleb(code.length), ...code]])),
  ]);
}
