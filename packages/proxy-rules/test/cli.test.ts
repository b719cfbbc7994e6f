// nodekit-proxy as a subprocess (the built dist/cli/nodekit-proxy.js, as npx runs it): compile on
// the example manifests (examples/node-agent/manifests) with an EndpointSlice List as
// `kubectl get -o json` prints it, a Node and a KubeProxyConfiguration; explain; diff; partial
// syncs; errors naming file, object and field; exit statuses; colour only when asked. nftables:
// compile --mode nftables, diff and explain of its transactions and of a node's `nft list ruleset`
// (fixtures/nft-list-ruleset-web.txt: a network namespace loaded with the transaction compiled here).

import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const cli = new URL("../dist/cli/nodekit-proxy.js", import.meta.url).pathname;
const manifests = new URL("../../../examples/node-agent/manifests", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "nodekit-proxy-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}) {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first (npm test does)`);
  // no colour variables from outside (Node 22+ warns on stderr when both are set, even empty)
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...base } = process.env;
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env: { ...base, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const sliceList = (ips: string[]) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "List",
    items: [
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "web-abcde", namespace: "demo", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true }, nodeName: "node-1" })),
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      },
    ],
  });
const nodeYaml = `apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: { kubernetes.io/hostname: node-1 }
spec:
  podCIDRs: [10.244.0.0/24]
status:
  addresses:
    - { type: Hostname, address: node-1 }
    - { type: InternalIP, address: 192.168.77.1 }
`;
const configYaml = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: 10.244.0.0/16
iptables:
  masqueradeAll: false
  masqueradeBit: 14
nodePortAddresses: null
`;

describe("nodekit-proxy", () => {
  const slices2 = file("slices.json", sliceList(["10.244.0.11", "10.244.0.12"]));
  const node = file("node.yaml", nodeYaml);
  const config = file("config.yaml", configYaml);

  it("compile: the example manifests, a slice List, a Node and kube-proxy's configuration", () => {
    const r = run(["compile", "--node", node, "--config", config, manifests, slices2]);
    expect(r.status, r.stderr).toBe(0);
    // the NodePort Service demo/web: two endpoints, half each; the cache Service has none
    const svc = r.stdout.split("\n").filter((l) => l.startsWith("-A KUBE-SVC-"));
    expect(svc).toHaveLength(3);
    expect(svc[0]).toContain("! -s 10.244.0.0/16 -j KUBE-MARK-MASQ");
    expect(svc[1]).toContain(
      '--comment "demo/web:http -> 10.244.0.11:8080" -m statistic --mode random --probability 0.5000000000',
    );
    expect(svc[2]).toContain('--comment "demo/web:http -> 10.244.0.12:8080" -j KUBE-SEP-');
    expect(r.stdout).toContain(
      '--comment "demo/cache has no endpoints" -m tcp -p tcp -d 10.96.0.63 --dport 6379 -j REJECT',
    );
    expect(r.stdout).toContain("--dport 30080 -j KUBE-EXT-");
    expect(r.stderr).toContain("skipped 3 objects that are not a Service or EndpointSlice");
    expect(r.stderr).toContain(`${manifests}/web.yaml (document 1): Pod demo/web-1`);
    const json = JSON.parse(run(["compile", "--json", "--node", node, "--config", config, manifests, slices2]).stdout);
    expect(json.results).toHaveLength(1);
    expect(json.results[0].family).toBe("IPv4");
    expect(json.results[0].text).toBe(r.stdout);
    expect(json.skipped).toHaveLength(3);
  });

  it("compile: a ServiceList whose items carry no kind (as client libraries print it) and a single JSON object", () => {
    const list = file(
      "services.json",
      JSON.stringify({
        apiVersion: "v1",
        kind: "ServiceList",
        items: [
          {
            metadata: { namespace: "demo", name: "api" },
            spec: { clusterIP: "10.96.0.90", ports: [{ port: 443, protocol: "TCP" }] },
          },
        ],
      }),
    );
    const one = file(
      "api-slice.json",
      JSON.stringify({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { namespace: "demo", name: "api-1", labels: { "kubernetes.io/service-name": "api" } },
        addressType: "IPv4",
        endpoints: [{ addresses: ["10.244.0.21"], conditions: { ready: true } }],
        // the EndpointSlice controller writes name "" for an unnamed port (kube-proxy ignores a port without one)
        ports: [{ name: "", port: 8443, protocol: "TCP" }],
      }),
    );
    const r = run(["compile", "--node", node, list, one]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      '-m comment --comment "demo/api cluster IP" -m tcp -p tcp -d 10.96.0.90 --dport 443 -j KUBE-SVC-',
    );
    expect(r.stdout).toContain("-j DNAT --to-destination 10.244.0.21:8443");
    expect(r.stderr).toBe("");
  });

  it("compile --partial-from: the partial payload from the objects before to the objects now", () => {
    const before = join(dir, "before");
    rmSync(before, { recursive: true, force: true });
    mkdirSync(before);
    for (const f of [`${manifests}/web.yaml`, `${manifests}/cache.yaml`, slices2])
      copyFileSync(f, join(before, f.split("/").pop() ?? f));
    const slices1 = file("slices-one.json", sliceList(["10.244.0.11"]));
    const r = run(["compile", "--node", node, "--config", config, "--partial-from", before, manifests, slices1]);
    expect(r.status, r.stderr).toBe(0);
    // only demo/web's chains are rewritten; its second endpoint's chain is flushed and deleted
    expect(r.stdout).toMatch(/^-X KUBE-SEP-/m);
    expect(r.stdout.split("\n").filter((l) => l.startsWith("-A KUBE-SVC-"))).toHaveLength(2);
    expect(r.stdout).not.toContain("demo/cache -> ");
  });

  it("compile: errors name the file, the object and the field (exit 1); bad YAML names file and line (exit 3)", () => {
    const bad = file(
      "bad.yaml",
      `apiVersion: v1\nkind: Service\nmetadata: { name: bad, namespace: demo }\nspec:\n  clusterIP: 10.96.0.99\n  ports: [{ port: 80, protocol: TCPX }]\n`,
    );
    const r = run(["compile", bad]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      new RegExp(`^nodekit-proxy compile: ${bad}: Service "demo/bad": spec\\.ports\\[0\\]\\.protocol: `),
    );
    const broken = file("broken.yaml", "kind: Service\nmetadata: { name: x\n  bad: [\n");
    const y = run(["compile", broken]);
    expect(y.status).toBe(3);
    expect(y.stderr).toMatch(new RegExp(`^nodekit-proxy: ${broken}: line \\d+: not valid YAML or JSON`));
    expect(run(["compile", join(dir, "missing.yaml")]).stderr).toContain("missing.yaml: cannot read: ENOENT");
  });

  it("--mode nftables prints kube-proxy's nft transaction; usage errors exit 2", () => {
    const n = run(["compile", "--mode", "nftables", "--node", node, "--config", config, manifests, slices2]);
    expect(n.status, n.stderr).toBe(0);
    expect(n.stdout.split("\n")[0]).toBe('add table ip kube-proxy { comment "rules for kube-proxy" ; }');
    expect(n.stdout).toContain("10.244.0.11");
    expect(n.stdout).toContain("10.244.0.12");
    expect(run(["compile", "--mode", "nftables", "--partial-from", dir, manifests]).status).toBe(2);
    expect(run(["compile", "--mode", "ipvs", manifests]).status).toBe(2);
    expect(run(["frobnicate"]).status).toBe(2);
    expect(run(["explain", "--rules", "x"]).stderr).toContain("explain needs --from");
    expect(run(["compile", "--bogus", manifests]).status).toBe(2);
    expect(run(["--help"]).stdout).toContain("Exit status:");
  });

  it("explain: text, JSON and Mermaid; a rule it cannot evaluate exits 1", () => {
    const rules = file("web.rules", run(["compile", "--node", node, "--config", config, manifests, slices2]).stdout);
    const args = [
      "explain",
      "--rules",
      rules,
      "--from",
      "pod",
      "--src",
      "10.244.0.13",
      "--dst",
      "10.96.0.80",
      "--port",
      "80",
      "--local-ip",
      "192.168.77.1",
    ];
    const t = run(args);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toContain("verdict DNAT to 2 endpoints");
    expect(t.stdout).toMatch(/10\.244\.0\.11:8080 +50\.0%/);
    expect(t.stdout).toMatch(/10\.244\.0\.12:8080 +50\.0%/);
    expect(t.stdout).toContain(`${rules}:`); // rule locations name the file
    expect(t.stdout).not.toContain("\u001b[");
    expect(run(args, { FORCE_COLOR: "1" }).stdout).toContain("\u001b[");
    const j = JSON.parse(run([...args, "--json"]).stdout);
    expect(j.verdict).toBe("dnat");
    expect(j.endpoints.map((e: { address: string }) => e.address)).toEqual(["10.244.0.11", "10.244.0.12"]);
    expect(j.matchedRules[0]).toMatchObject({ table: "nat", chain: "PREROUTING" });
    const m = run([...args, "--mermaid"]);
    expect(m.stdout.startsWith("flowchart TD\n")).toBe(true);
    expect(m.stdout).toContain("DNAT 10.244.0.12:8080");
    // the NodePort from outside, and the REJECT of a Service without endpoints
    expect(
      run([
        "explain",
        "--rules",
        rules,
        "--from",
        "outside",
        "--src",
        "192.168.77.2",
        "--dst",
        "192.168.77.1",
        "--port",
        "30080",
        "--local-ip",
        "192.168.77.1",
      ]).stdout,
    ).toContain("masqueraded");
    expect(
      run([
        "explain",
        "--rules",
        rules,
        "--from",
        "node",
        "--src",
        "192.168.77.1",
        "--dst",
        "10.96.0.63",
        "--port",
        "6379",
      ]).stdout,
    ).toContain("verdict REJECT");
    const ipset = file(
      "ipset.rules",
      "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\nCOMMIT\n",
    );
    const u = run([
      "explain",
      "--rules",
      ipset,
      "--from",
      "outside",
      "--src",
      "192.168.77.2",
      "--dst",
      "10.96.0.1",
      "--port",
      "443",
    ]);
    expect(u.status).toBe(1);
    expect(u.stdout).toContain("cannot evaluate: -m set");
    const badRules = file("bad.rules", "*nat\n-A NOPE -j ACCEPT\nCOMMIT\n");
    const b = run([
      "explain",
      "--rules",
      badRules,
      "--from",
      "node",
      "--src",
      "127.0.0.1",
      "--dst",
      "127.0.0.1",
      "--port",
      "1",
    ]);
    expect(b.status).toBe(3);
    expect(b.stderr).toContain(`${badRules}: line 2: chain NOPE does not exist in table nat`);
  });

  it("diff: per Service port, exit 1 when they differ, 0 when not; compile --mermaid draws a Service", () => {
    const a = file("a.rules", run(["compile", "--node", node, "--config", config, manifests, slices2]).stdout);
    const b = file(
      "b.rules",
      run([
        "compile",
        "--node",
        node,
        "--config",
        config,
        manifests,
        file("s1.json", sliceList(["10.244.0.12", "10.244.0.14"])),
      ]).stdout,
    );
    const d = run(["diff", a, b]);
    expect(d.status).toBe(1);
    expect(d.stdout).toContain("~ demo/web:http changed");
    expect(d.stdout).toContain("- endpoint 10.244.0.11:8080 (cluster) 50.0%");
    expect(d.stdout).toContain("+ endpoint 10.244.0.14:8080 (cluster) 50.0%");
    expect(JSON.parse(run(["diff", a, b, "--json"]).stdout).services[0].servicePort).toBe("demo/web:http");
    const same = run(["diff", a, a]);
    expect([same.status, same.stdout]).toEqual([0, "no difference\n"]);
    const m = run([
      "compile",
      "--mermaid",
      "--service",
      "demo/web:http",
      "--node",
      node,
      "--config",
      config,
      manifests,
      slices2,
    ]);
    expect(m.status, m.stderr).toBe(0);
    expect(m.stdout.startsWith("flowchart LR\n")).toBe(true);
    expect(m.stdout).toContain("DNAT 10.244.0.11:8080");
    expect(m.stdout).toContain("p=0.5000");
  });

  it("diff on nftables: compiled transactions per Service port, none against the node's nft list ruleset; modes mixed exit 2", () => {
    const compile = (slices: string) =>
      run(["compile", "--mode", "nftables", "--node", node, "--config", config, manifests, slices]).stdout;
    const a = file("a.nft", compile(slices2));
    const b = file("b.nft", compile(file("s2.json", sliceList(["10.244.0.12", "10.244.0.14"]))));
    const d = run(["diff", a, b]);
    expect(d.status, d.stderr).toBe(1);
    const lines = d.stdout.split("\n");
    expect(lines[0]).toBe("~ demo/web:http (IPv4) changed");
    expect(lines).toContain("    + endpoint 10.244.0.14:8080 (cluster) 50.0%");
    expect(lines).toContain("    - endpoint 10.244.0.11:8080 (cluster) 50.0%");
    // kube-proxy's endpoint chains: one per endpoint, named by the port and the endpoint
    expect(
      lines.filter((l) =>
        /^ {4}[+-] chain ip kube-proxy\/endpoint-[A-Z2-7]{8}-demo\/web\/tcp\/http__10\.244\.0\.1[14]\/8080$/.test(l),
      ),
    ).toHaveLength(2);
    expect(
      lines.some((l) => /^ {4}~ chain ip kube-proxy\/service-[A-Z2-7]{8}-demo\/web\/tcp\/http rewritten$/.test(l)),
    ).toBe(true);
    const j = JSON.parse(run(["diff", "--json", a, b]).stdout);
    expect([j.services[0].servicePort, j.services[0].family, j.sets]).toEqual([
      "demo/web:http",
      4,
      { added: [], removed: [], rewritten: [] },
    ]);
    // a Service gone: its address left the maps (no chain of its own: it had no endpoints)
    const webOnly = file(
      "web-only.nft",
      run(["compile", "--mode", "nftables", "--node", node, "--config", config, `${manifests}/web.yaml`, slices2])
        .stdout,
    );
    expect(run(["diff", a, webOnly]).stdout).toBe(
      [
        "- demo/cache (IPv4) removed",
        "    - address 10.96.0.63:6379/tcp",
        "    ~ noEndpoints: REJECT → (none)",
        "",
        "other chains and sets",
        "    ~ set ip kube-proxy/cluster-ips rewritten",
        "    ~ set ip kube-proxy/no-endpoint-services rewritten",
        "",
      ].join("\n"),
    );
    // fixtures/nft-list-ruleset-web.txt: nft list ruleset of a network namespace loaded with a.nft
    const listed = new URL("./fixtures/nft-list-ruleset-web.txt", import.meta.url).pathname;
    expect(run(["diff", a, listed])).toMatchObject({ status: 0, stdout: "no difference\n" });
    const ipt = file(
      "a-iptables.rules",
      run(["compile", "--node", node, "--config", config, manifests, slices2]).stdout,
    );
    const mixed = run(["diff", ipt, a]);
    expect(mixed.status).toBe(2);
    expect(mixed.stderr).toContain(
      `${ipt} holds iptables rules and ${a} nftables rules: diff compares two rulesets of one mode`,
    );
  });

  it("explain on nftables: the compiled transaction and the node's nft list ruleset; text, JSON, Mermaid", () => {
    const compiled = file(
      "web.nft",
      run(["compile", "--mode", "nftables", "--node", node, "--config", config, manifests, slices2]).stdout,
    );
    const listed = new URL("./fixtures/nft-list-ruleset-web.txt", import.meta.url).pathname;
    const args = (rules: string, ...rest: string[]) => [
      "explain",
      "--rules",
      rules,
      "--local-ip",
      "192.168.77.1",
      "--local-ip",
      "10.244.0.1",
      ...rest,
    ];
    const fromPod = [
      "--from",
      "pod",
      "--src",
      "10.244.0.13",
      "--dst",
      "10.96.0.80",
      "--port",
      "80",
      "--in-interface",
      "cbr0",
    ];
    for (const rules of [compiled, listed]) {
      const t = run(args(rules, ...fromPod));
      expect(t.status, t.stderr).toBe(0);
      // demo/web: numgen over two endpoints, neither masqueraded for a pod of the cluster CIDR
      expect(t.stdout).toContain("verdict DNAT to 2 endpoints");
      expect(t.stdout).toMatch(/10\.244\.0\.11:8080 +50\.0%\n/);
      expect(t.stdout).toMatch(/10\.244\.0\.12:8080 +50\.0%\n/);
      expect(t.stdout).toContain("ip kube-proxy nat-prerouting");
      expect(t.stdout).toContain(`${rules}:`); // rule locations name the file
      // the NodePort from outside: masqueraded (externalTrafficPolicy Cluster)
      const np = run(
        args(rules, "--from", "outside", "--src", "192.168.77.2", "--dst", "192.168.77.1", "--port", "30080"),
      );
      expect(np.stdout).toMatch(/10\.244\.0\.11:8080 +50\.0% +masqueraded/);
      // demo/cache has no endpoints: its element in no-endpoint-services goes to reject-chain
      const rej = run(args(rules, "--from", "node", "--src", "192.168.77.1", "--dst", "10.96.0.63", "--port", "6379"));
      expect([rej.status, rej.stdout.split("\n")[1]?.startsWith("verdict REJECT")]).toEqual([0, true]);
    }
    const j = JSON.parse(run([...args(listed, ...fromPod), "--json"]).stdout);
    expect(j.verdict).toBe("dnat");
    expect(j.endpoints.map((e: { address: string }) => e.address)).toEqual(["10.244.0.11", "10.244.0.12"]);
    expect(j.matchedRules[0]).toMatchObject({
      table: "ip kube-proxy",
      chain: "filter-prerouting-pre-dnat",
      source: listed,
    });
    const m = run([...args(compiled, ...fromPod), "--mermaid"]);
    expect(m.stdout.startsWith("flowchart TD\n")).toBe(true);
    expect(m.stdout).toContain("DNAT 10.244.0.12:8080");
    // an empty file first (a sync's empty cleanup transaction) is of either mode
    const empty = file("cleanup.nft", "");
    const two = run(["explain", "--rules", empty, "--rules", compiled, ...fromPod]);
    expect([two.status, two.stdout.split("\n")[1]]).toEqual([0, "verdict DNAT to 2 endpoints"]);
    // rules of both modes in one explain
    const ipt = file("web-ipt.rules", run(["compile", "--node", node, "--config", config, manifests, slices2]).stdout);
    const mixed = run(["explain", "--rules", compiled, "--rules", ipt, ...fromPod]);
    expect(mixed.status).toBe(2);
    expect(mixed.stderr).toContain(
      `${ipt}: iptables rules, but ${compiled} holds nftables rules: give rules of one mode`,
    );
    // a rule nft would refuse: the file and line (exit 3)
    const bad = file("bad.nft", "add table ip t\nadd rule ip t missing accept\n");
    const b = run(["explain", "--rules", bad, ...fromPod]);
    expect(b.status).toBe(3);
    expect(b.stderr).toContain(`${bad}: line 2: chain missing does not exist in table ip t`);
  });

  it("compile --mode nftables --mermaid draws a Service port from the verdict maps to the DNAT rules", () => {
    const m = run([
      "compile",
      "--mode",
      "nftables",
      "--mermaid",
      "--service",
      "demo/web:http",
      "--node",
      node,
      "--config",
      config,
      manifests,
      slices2,
    ]);
    expect(m.status, m.stderr).toBe(0);
    expect(m.stdout.startsWith("flowchart LR\n")).toBe(true);
    expect(m.stdout).toContain('(["@service-ips"])');
    expect(m.stdout).toContain("|10.96.0.80 . tcp . 80|");
    expect(m.stdout).toContain('(["@service-nodeports"])');
    expect(m.stdout).toContain("|tcp . 30080|");
    expect(m.stdout).toContain("DNAT 10.244.0.11:8080");
    expect(m.stdout).toContain("DNAT 10.244.0.12:8080");
    expect(m.stdout.match(/\|p=0\.5000\|/g)).toHaveLength(2);
    const none = run([
      "compile",
      "--mode",
      "nftables",
      "--mermaid",
      "--service",
      "demo/nope",
      "--node",
      node,
      manifests,
    ]);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain("no rules of demo/nope in the IPv4 transaction");
  });
});
