// The embedded SHA-256 + base32 (chain-name hashes) against node:crypto, over the lengths around
// block boundaries and the one-block fast path, ASCII and not, split at every point.

import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hash16, sepChainName, sepChainNames, sha256, useSha256x4 } from "../src/iptables/chain-hash.js";
import { createSha256x4 } from "../src/iptables/sha256-simd.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(bytes: Uint8Array): string {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

function expected(s: string): string {
  return base32(createHash("sha256").update(s, "utf8").digest()).slice(0, 16);
}

function sample(n: number, seed: number, wide: boolean): string {
  let s = "";
  for (let i = 0; i < n; i++) {
    const k = (i * 31 + seed * 7) % 97;
    s += wide && k % 11 === 0 ? String.fromCharCode(0x80 + k * 53) : String.fromCharCode(0x21 + (k % 94));
  }
  return wide && n > 2 ? `${s}\u{1F600}` : s;
}

describe("hash16", () => {
  it("matches node:crypto for ASCII and non-ASCII input of 0 to 200 characters, split anywhere", () => {
    for (let n = 0; n <= 200; n++) {
      for (const wide of [false, true]) {
        const s = sample(n, n, wide);
        const want = expected(s);
        expect(hash16(s), `length ${n}`).toBe(want);
        for (const cut of [0, 1, n >> 1, s.length - 1, s.length]) {
          if (cut < 0 || cut > s.length) continue;
          expect(hash16(s.slice(0, cut), s.slice(cut)), `length ${n}, cut ${cut}`).toBe(want);
        }
      }
    }
  });

  it("sepChainName is KUBE-SEP- and the hash", () => {
    for (const [a, b] of [
      ["ns1/svc1:p80tcp", "10.180.0.1:80"],
      ["x".repeat(60), "[fd00::1]:8080"],
      ["é", "1"],
    ] as const) {
      expect(sepChainName(a, b)).toBe(`KUBE-SEP-${expected(a + b)}`);
    }
  });

  for (const lanes of [true, false]) {
    it(`sepChainNames names and declares a port's endpoint chains as sepChainName does (${lanes ? "four lanes" : "scalar"})`, () => {
      useSha256x4(lanes);
      try {
        const pool = ["10.0.0.1", "10.244.100.200", "fd00::1", "x".repeat(30), "é", "", "192.168.1.1"];
        for (let n = 0; n <= 60; n++) {
          for (const suffix of [":80", "]:8080", ""]) {
            const prefix = sample(n, n, n % 7 === 5);
            // 0…9 addresses: every remainder of the groups of four
            const ips = pool.concat(pool).slice(n % 3, (n % 3) + (n % 10));
            const names: string[] = [];
            const decls: string[] = [];
            sepChainNames(prefix, ips, suffix, names, decls);
            const want = ips.map((ip) => `KUBE-SEP-${expected(prefix + ip + suffix)}`);
            expect(names, `prefix length ${n}, suffix ${suffix}, ${ips.length} addresses`).toEqual(want);
            expect(decls).toEqual(want.map((name) => `:${name} - [0:0]\n`));
          }
        }
      } finally {
        useSha256x4(true);
      }
    });
  }

  it("hashes four messages at once with WebAssembly SIMD on this machine's Node", () => {
    const k = new Int32Array(64);
    const x4 = createSha256x4(k, new Int32Array(8));
    expect(x4, "WebAssembly SIMD should be available in Node ≥ 16.4").toBeDefined();
  });

  it("gives kube-proxy's chain hashes", () => {
    // from kube-proxy's TestOverallIPTablesRules: ns1/svc1:p80 TCP → KUBE-SVC-XPGD46QRK7WJZT7O
    expect(hash16("ns1/svc1:p80tcp")).toBe("XPGD46QRK7WJZT7O");
  });

  it("sha256 matches node:crypto", () => {
    for (const s of ["", "abc", "x".repeat(55), "x".repeat(56), "x".repeat(64), "é".repeat(40)]) {
      expect(Buffer.from(sha256(s)).toString("hex")).toBe(createHash("sha256").update(s).digest("hex"));
    }
  });
});
