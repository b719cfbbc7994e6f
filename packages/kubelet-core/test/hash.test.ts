import { describe, expect, it } from "vitest";
import { hashContainer } from "../src/plan/hash.js";

// An independent reference for the last two steps of the kubelet's recipe, fed with JSON written by
// hand (what Go's json.Marshal produces for the map {name, image}), so that the escaping in
// hash.ts is checked against literal expectations rather than against itself.

/** 32-bit FNV-1a (hash/fnv New32a). */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** go-spew `%#v` of a []byte: `([]uint8)[` + decimal bytes separated by spaces + `]`. */
function spew(bytes: Uint8Array): string {
  return `([]uint8)[${Array.from(bytes).join(" ")}]`;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Hash of a container whose json.Marshal output is `goJson` (written out literally in the cases). */
function referenceHash(goJson: string): string {
  return fnv1a(utf8(spew(utf8(goJson)))).toString(16);
}

describe("reference pieces", () => {
  it.each([
    ["", 0x811c9dc5],
    ["a", 0xe40c292c],
    ["foobar", 0xbf9cf968],
  ])("fnv-1a 32 of %j is the published test vector", (input, expected) => {
    expect(fnv1a(utf8(input))).toBe(expected);
  });

  it("renders a byte slice the way go-spew %#v does", () => {
    expect(spew(utf8('{"a":1}'))).toBe("([]uint8)[123 34 97 34 58 49 125]");
  });
});

describe("hashContainer", () => {
  // pkg/kubelet/container/helpers_test.go TestHashContainer (1.31+ recipe) and
  // container_hash_test.go TestConsistentHashContainer (sampleV131HashValue): both pin 0x8e45cbd0
  // for this name and image; their containers also carry args, command, ports, env and resources,
  // none of which takes part in the hash.
  it("matches the value pinned by the kubelet's own tests", () => {
    expect(hashContainer({ name: "test_container", image: "foo/image:v1" })).toBe("8e45cbd0");
  });

  it("ignores every field other than name and image", () => {
    const full = {
      name: "test_container",
      image: "foo/image:v1",
      command: ["/bin/testcmd"],
      args: ["/bin/sh", "-c", "echo abc"],
      ports: [{ containerPort: 8001 }],
      env: [{ name: "ENV_FOO", value: "bar" }],
    };
    expect(hashContainer(full)).toBe("8e45cbd0");
  });

  it("hashes the JSON with keys sorted (image before name)", () => {
    expect(hashContainer({ name: "foo1", image: "busybox" })).toBe(referenceHash('{"image":"busybox","name":"foo1"}'));
  });

  it("treats a missing image as the empty string", () => {
    expect(hashContainer({ name: "app" })).toBe(referenceHash('{"image":"","name":"app"}'));
    expect(hashContainer({ name: "app" })).toBe(hashContainer({ name: "app", image: "" }));
  });

  it("changes when the image or the name changes", () => {
    const base = hashContainer({ name: "app", image: "nginx:1.27" });
    expect(hashContainer({ name: "app", image: "nginx:1.28" })).not.toBe(base);
    expect(hashContainer({ name: "app2", image: "nginx:1.27" })).not.toBe(base);
  });

  // Go's json.Marshal escapes for HTML by default; each row is (name, image, the exact JSON Go writes).
  it.each([
    ["HTML-sensitive characters", "a", "x<y>&z", String.raw`{"image":"x\u003cy\u003e\u0026z","name":"a"}`],
    ["quote and backslash", 'q"uo\\te', "img", String.raw`{"image":"img","name":"q\"uo\\te"}`],
    ["short control escapes", "a", "1\b2\f3\n4\r5\t6", String.raw`{"image":"1\b2\f3\n4\r5\t6","name":"a"}`],
    ["other control bytes", "a", "\u0001\u001f", String.raw`{"image":"\u0001\u001f","name":"a"}`],
    ["DEL is not escaped", "a", "x\u007fy", '{"image":"x\u007fy","name":"a"}'],
    ["apostrophe, slash unescaped", "it's", "r.io/a/b:c", `{"image":"r.io/a/b:c","name":"it's"}`],
    ["line and paragraph separators", "a", "x\u2028y\u2029z", String.raw`{"image":"x\u2028y\u2029z","name":"a"}`],
    ["non-ASCII stays raw UTF-8", "café", "образ:🐳", '{"image":"образ:🐳","name":"café"}'],
  ])("escapes like Go: %s", (_what, name, image, goJson) => {
    expect(hashContainer({ name, image })).toBe(referenceHash(goJson));
  });

  it("encodes a lone surrogate as U+FFFD, as Go would have decoded it from the API", () => {
    expect(hashContainer({ name: "a", image: "x\ud800y" })).toBe(hashContainer({ name: "a", image: "x\ufffdy" }));
  });

  it("prints lowercase hex without leading zeros (strconv.FormatUint(h, 16))", () => {
    // A name whose hash has a zero top nibble, so that padding would show.
    let name = "";
    for (let i = 0; ; i++) {
      name = `c${i}`;
      if (fnv1a(utf8(spew(utf8(`{"image":"busybox","name":"${name}"}`)))) < 0x10000000) break;
    }
    const h = hashContainer({ name, image: "busybox" });
    expect(h).toMatch(/^[1-9a-f][0-9a-f]{0,6}$/);
    expect(h).toBe(referenceHash(`{"image":"busybox","name":"${name}"}`));
  });
});
