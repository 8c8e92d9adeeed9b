/** Number matching for a device link: instead of showing the new device's
 * two digits and asking "do they match?" (one click approves blind), the
 * approver picks the digits the new device shows among `choices`: the real
 * ones and two others, in random order. `random` gives numbers in [0, 1);
 * give the same sequence for the same link (`seededRandom(link)`), or
 * looking a link up twice would give its real digits away, the only ones
 * in both lists. */
export function checkCodeChoices(real: string, random: () => number): string[] {
  const choices = new Set([real]);
  while (choices.size < 3) choices.add(String(Math.floor(random() * 100)).padStart(2, "0"));
  const list = [...choices];
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

/** Numbers in [0, 1) that depend only on `seed` (FNV-1a, then
 * xorshift32): the same link gets the same choices every time. Not a secret
 * (an attacker who made the link knows its digits anyway); only the same. */
export function seededRandom(seed: string): () => number {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  let x = h || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}
