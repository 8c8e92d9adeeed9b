/** Number matching for a device link: instead of showing the new device's
 * two digits and asking "do they match?" (one click approves blind), the
 * approver picks the digits the new device shows among `choices`: the real
 * ones and two others, in random order. `random` gives numbers in [0, 1). */
export function checkCodeChoices(real: string, random: () => number = secureRandom): string[] {
  const choices = new Set([real]);
  while (choices.size < 3) choices.add(String(Math.floor(random() * 100)).padStart(2, "0"));
  const list = [...choices];
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

function secureRandom(): number {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0] / 2 ** 32;
}
