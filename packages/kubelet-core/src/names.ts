// The name rules of the Kubernetes API (apimachinery's validation), for the names the kubelet turns
// into paths, labels, hostnames and runtime metadata. Each check returns the problems it finds, in
// the API server's words, empty when the value is valid.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const UID = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;

/** The API server's limit on the total size of an object's annotations (keys and values), in bytes. */
export const totalAnnotationSizeLimitBytes = 256 * 1024;

const regexError = (message: string, format: string, ...examples: string[]): string =>
  `${message} (e.g. ${examples.map((e) => `'${e}', `).join("or ")}regex used for validation is '${format}')`;

/** At most `max` characters, matching `pattern`; `message` when it does not match. */
function lengthAndPattern(value: string, max: number, pattern: RegExp, message: string): string[] {
  const problems: string[] = [];
  if (value.length > max) problems.push(`must be no more than ${max} characters`);
  if (!pattern.test(value)) problems.push(message);
  return problems;
}

const DNS1123_LABEL_MESSAGE = regexError(
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
  "[a-z0-9]([-a-z0-9]*[a-z0-9])?",
  "my-name",
  "123-abc",
);
const DNS1123_SUBDOMAIN_MESSAGE = regexError(
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
  "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
  "example.com",
);
const LABEL_VALUE_MESSAGE = regexError(
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
  "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?",
  "MyValue",
  "my_value",
  "12345",
);
const QUALIFIED_NAME_MESSAGE = regexError(
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
  "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]",
  "MyName",
  "my.name",
  "123-abc",
);
const UID_MESSAGE =
  "must consist of letters, digits or '-', and must start and end with a letter or digit (a UUID such as '8a3c1f1e-6f0b-4a8e-9d3e-2b7f4c1a9e10', or a hex hash)";

/** Problems of `value` as an RFC 1123 label (namespaces, container names, hostnames): at most 63 characters. */
export function dns1123LabelProblems(value: string): string[] {
  return lengthAndPattern(value, 63, DNS1123_LABEL, DNS1123_LABEL_MESSAGE);
}

/** Problems of `value` as an RFC 1123 subdomain (pod names): at most 253 characters. */
export function dns1123SubdomainProblems(value: string): string[] {
  return lengthAndPattern(value, 253, DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MESSAGE);
}

/** Problems of `value` as a label or annotation key: `[prefix/]name`, prefix a DNS subdomain, name at most 63. */
export function qualifiedNameProblems(value: string): string[] {
  // split always gives at least one part.
  const [first = "", second, ...more] = value.split("/");
  let name: string;
  const problems: string[] = [];
  if (second === undefined) name = first;
  else if (more.length === 0) {
    const prefix = first;
    name = second;
    if (prefix.length === 0) problems.push("prefix part must be non-empty");
    else for (const p of dns1123SubdomainProblems(prefix)) problems.push(`prefix part ${p}`);
  } else {
    return [
      `a qualified name ${QUALIFIED_NAME_MESSAGE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) problems.push("name part must be non-empty");
  else if (name.length > 63) problems.push("name part must be no more than 63 characters");
  if (name.length > 0 && !QUALIFIED_NAME.test(name)) problems.push(`name part ${QUALIFIED_NAME_MESSAGE}`);
  return problems;
}

/** Problems of `value` as a label value: empty, or at most 63 characters of `[A-Za-z0-9._-]` starting and ending alphanumeric. */
export function labelValueProblems(value: string): string[] {
  return lengthAndPattern(value, 63, LABEL_VALUE, LABEL_VALUE_MESSAGE);
}

/**
 * Problems of a pod UID. The API server gives pods RFC 4122 UUIDs and the kubelet gives static pods a
 * hex hash; the kubelet puts the UID into folder names (`/var/log/pods/<ns>_<name>_<uid>`,
 * `/var/lib/kubelet/pods/<uid>`) and cgroup names (`pod<uid>`). nodekit accepts 1 to 128 letters,
 * digits and inner `-`, which covers both and can never be a path separator, a `.`/`..` component
 * or the `_` that separates the log folder's parts.
 */
export function podUidProblems(value: string): string[] {
  return lengthAndPattern(value, 128, UID, UID_MESSAGE);
}

/** Problems of a map of labels (keys qualified names, values label values), with each key's path. */
export function labelsProblems(labels: Readonly<Record<string, unknown>>, path: string): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(labels)) {
    for (const p of qualifiedNameProblems(k)) problems.push(`${path}: ${JSON.stringify(k)}: ${p}`);
    if (typeof v !== "string") problems.push(`${path}[${JSON.stringify(k)}]: must be a string`);
    else
      for (const p of labelValueProblems(v)) problems.push(`${path}[${JSON.stringify(k)}]: ${JSON.stringify(v)}: ${p}`);
  }
  return problems;
}

/** Problems of a map of annotations (keys qualified names, lower-cased; total size at most 256 KiB). */
export function annotationsProblems(annotations: Readonly<Record<string, unknown>>, path: string): string[] {
  const problems: string[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(annotations)) {
    for (const p of qualifiedNameProblems(k.toLowerCase())) problems.push(`${path}: ${JSON.stringify(k)}: ${p}`);
    if (typeof v !== "string") problems.push(`${path}[${JSON.stringify(k)}]: must be a string`);
    else size += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (size > totalAnnotationSizeLimitBytes) {
    problems.push(`${path}: Too long: may not be more than ${totalAnnotationSizeLimitBytes} bytes`);
  }
  return problems;
}

/**
 * The hostname the kubelet gives a pod's sandbox: `spec.hostname`, else the pod name cut to 63
 * characters with trailing `-` and `.` removed (the kubelet's truncatePodHostnameIfNeeded).
 * Returns undefined when nothing usable is left.
 */
export function podHostname(podName: string, hostname: string | undefined): string | undefined {
  const name = hostname || podName;
  if (name.length <= 63) return name;
  const cut = name.slice(0, 63).replace(/[-.]+$/, "");
  return cut.length > 0 ? cut : undefined;
}
