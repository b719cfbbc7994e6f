// kube-proxy's `computeProbability(n)`: fmt.Sprintf("%0.10f", 1.0/float64(n)). Go rounds the
// exact binary value half-to-even; JavaScript's toFixed rounds ties up, which differs for e.g.
// n = 2048 (1/2048 = 0.00048828125 exactly). So the digits are taken from the exact expansion.

const cache: string[] = [];

function formatFixed10(x: number): string {
  const exact = x.toFixed(100); // exact decimal expansion of the double (for x >= 2^-48)
  const dot = exact.indexOf(".");
  const intPart = exact.slice(0, dot);
  const digits = exact.slice(dot + 1, dot + 11);
  const rest = exact.slice(dot + 11);
  let roundUp = false;
  const first = rest.charCodeAt(0) - 48;
  if (first > 5) roundUp = true;
  else if (first === 5) {
    const beyond = /[1-9]/.test(rest.slice(1));
    roundUp = beyond || (digits.charCodeAt(9) - 48) % 2 === 1;
  }
  if (!roundUp) return `${intPart}.${digits}`;
  // add one unit in the 10th place
  const n = BigInt(intPart + digits) + 1n;
  const s = n.toString().padStart(11, "0");
  return `${s.slice(0, s.length - 10)}.${s.slice(s.length - 10)}`;
}

/** The probability kube-proxy prints for the i-th of n remaining endpoints: `1/n` to 10 places. */
export function probability(n: number): string {
  let p = cache[n];
  if (p === undefined) {
    p = formatFixed10(1 / n);
    if (n < 100_000) cache[n] = p;
  }
  return p;
}
