// The container hash the kubelet stores in the `io.kubernetes.container.hash` annotation and
// compares on every sync to decide whether a running container still matches its spec
// (kubecontainer.HashContainer, pkg/kubelet/container/helpers.go, Kubernetes 1.31 and later).
//
// Recipe, reproduced byte for byte so that containers created by a Go kubelet and by nodekit agree:
//   1. Go `json.Marshal` of the map {name, image}. A map marshals with sorted keys, so the text is
//      always `{"image":"…","name":"…"}`; strings use Go's HTML-safe escaping.
//   2. That []byte is rendered by go-spew `%#v` (apimachinery's DeepHashObject: SortKeys,
//      DisableMethods, SpewKeys, Indent " "): a byte slice prints as `([]uint8)[b0 b1 …]`, the type
//      in parentheses, then each byte in decimal, separated by single spaces, inside square brackets.
//   3. 32-bit FNV-1a over the bytes of that rendering.
//   4. `strconv.FormatUint(hash, 16)`: lowercase hex without leading zeros.

const FNV32_OFFSET_BASIS = 0x811c9dc5;
const FNV32_PRIME = 0x01000193;

const HEX = "0123456789abcdef";

/** Printable ASCII that Go's JSON encoder writes as it is. */
const SAFE = /^[\x20-\x21\x23-\x25\x27-\x3b\x3d\x3f-\x5b\x5d-\x7e]*$/;

/**
 * A string as Go's `encoding/json` writes it with HTML escaping on (the default of
 * `json.Marshal`), including the surrounding quotes. Returns the text.
 *
 * - `"` and `\` are backslash-escaped; `\b \f \n \r \t` use their short forms.
 * - Other bytes below 0x20 and `<`, `>`, `&` become `\u00XX` (lowercase hex).
 * - U+2028 and U+2029 become `\u2028` / `\u2029`.
 * - Everything else, DEL and non-ASCII included, is written as raw UTF-8. A lone UTF-16 surrogate
 *   (which no Go string can hold) is encoded as U+FFFD, as the API server would have decoded it.
 */
function goJsonString(value: string): string {
  if (SAFE.test(value)) return `"${value}"`;
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0; // a for-of character has a code point
    switch (cp) {
      case 0x22:
        out += '\\"';
        continue;
      case 0x5c:
        out += "\\\\";
        continue;
      case 0x08:
        out += "\\b";
        continue;
      case 0x0c:
        out += "\\f";
        continue;
      case 0x0a:
        out += "\\n";
        continue;
      case 0x0d:
        out += "\\r";
        continue;
      case 0x09:
        out += "\\t";
        continue;
      case 0x3c: // <
      case 0x3e: // >
      case 0x26: // &
        out += `\\u00${HEX[cp >> 4]}${HEX[cp & 0xf]}`;
        continue;
      case 0x2028:
      case 0x2029:
        out += `\\u202${HEX[cp & 0xf]}`;
        continue;
    }
    if (cp < 0x20) {
      out += `\\u00${HEX[cp >> 4]}${HEX[cp & 0xf]}`;
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      out += "\ufffd";
    } else {
      out += ch;
    }
  }
  return `${out}"`;
}

/** FNV-1a state after one more byte. */
const step = (h: number, b: number): number => Math.imul(h ^ b, FNV32_PRIME) >>> 0;

/** The decimal digits of every byte value, as the ASCII codes spew prints. */
const DECIMAL: readonly (readonly number[])[] = Array.from({ length: 256 }, (_, b) =>
  [...String(b)].map((d) => d.charCodeAt(0)),
);

/** The FNV-1a state after the spew prefix `([]uint8)[`. */
const PREFIX_STATE = [..."([]uint8)["].reduce((h, ch) => step(h, ch.charCodeAt(0)), FNV32_OFFSET_BASIS);

/** FNV-1a 32 of the go-spew `%#v` rendering of `bytes`, computed without building the rendering. */
function hashSpewedBytes(bytes: Uint8Array): number {
  let h = PREFIX_STATE;
  for (let i = 0; i < bytes.length; i++) {
    if (i > 0) h = step(h, 0x20);
    for (const d of DECIMAL[bytes[i] ?? 0] ?? []) h = step(h, d);
  }
  return step(h, 0x5d); // ]
}

const utf8 = new TextEncoder();

const PLAIN = /^[\x20-\x7e]*$/;

/** {@link hashSpewedBytes} of ASCII text, reading its char codes as the bytes. */
function hashSpewedText(text: string): number {
  let h = PREFIX_STATE;
  for (let i = 0; i < text.length; i++) {
    if (i > 0) h = step(h, 0x20);
    for (const d of DECIMAL[text.charCodeAt(i)] ?? []) h = step(h, d);
  }
  return step(h, 0x5d); // ]
}

/**
 * The kubelet's hash of a container spec, as the lowercase hex string it writes into the
 * `io.kubernetes.container.hash` annotation. Only `name` and `image` take part (the only fields of a
 * container that may change in a running pod); a missing image counts as the empty string.
 *
 * Byte-compatible with `strconv.FormatUint(kubecontainer.HashContainer(c), 16)` of the Go kubelet
 * (1.31+), so a nodekit reconciler does not restart containers a Go kubelet created, and the other
 * way round.
 *
 * @example
 * ```ts
 * hashContainer({ name: "test_container", image: "foo/image:v1" }); // => "8e45cbd0"
 * ```
 */
export function hashContainer(container: { name: string; image?: string }): string {
  // Every sync compares every running container's hash: remember recent (name, image) pairs.
  const key = `${container.name}\u0000${container.image ?? ""}`;
  const known = memo.get(key);
  if (known !== undefined) return known;
  const json = `{"image":${goJsonString(container.image ?? "")},"name":${goJsonString(container.name)}}`;
  // Printable ASCII (the usual image and container names) is its own UTF-8: no encoding needed.
  const hash = (PLAIN.test(json) ? hashSpewedText(json) : hashSpewedBytes(utf8.encode(json))).toString(16);
  if (memo.size >= 50_000) memo.clear();
  memo.set(key, hash);
  return hash;
}

const memo = new Map<string, string>();
