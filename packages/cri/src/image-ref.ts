/**
 * Normalizes an image reference as containerd does: `busybox` → `docker.io/library/busybox:latest`,
 * `org/app` → `docker.io/org/app:latest`; a reference with a registry host keeps it.
 */
export function normalizeImageRef(ref: string): string {
  if (ref.startsWith("sha256:")) return ref;
  const slash = ref.indexOf("/");
  const first = slash === -1 ? "" : ref.slice(0, slash);
  let named = ref;
  if (slash === -1) named = `docker.io/library/${ref}`;
  else if (!first.includes(".") && !first.includes(":") && first !== "localhost") named = `docker.io/${ref}`;
  const lastPart = named.slice(named.lastIndexOf("/") + 1);
  if (!named.includes("@") && !lastPart.includes(":")) named = `${named}:latest`;
  return named;
}
