// Personal data is masked before anything stores or logs it: phone numbers keep their first
// three and last four digits, ID-card numbers their region code and last four.
const MOBILE = /(?<!\d)(?:\+?86[-\s]?)?(1[3-9]\d)[-\s]?(\d{4})[-\s]?(\d{4})(?!\d)/g;
const ID_CARD = /(?<![\dA-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![\dA-Za-z])/g;
// Area code optionally in parentheses; groups separated by a dash or a space, or not at all.
const LANDLINE = /(?<![\d(])\(?(0\d{2,3})\)?[-\s]?(\d{3,4})[-\s]?(\d{4})(?!\d)/g;

export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  if (digits.length === 0) return '';
  if (digits.length <= 4) return '*'.repeat(digits.length);
  if (digits.length === 11 && digits.startsWith('1')) return `${digits.slice(0, 3)}****${digits.slice(7)}`;
  return `${'*'.repeat(digits.length - 4)}${digits.slice(-4)}`;
}

/** Masks phone and ID-card numbers found anywhere in free text. */
export function maskPersonalData(text: string): string {
  return text
    .replace(
      ID_CARD,
      (_, region: string, _birth: string, tail: string) => `${region}********${tail.slice(-4)}`,
    )
    .replace(MOBILE, (_, a: string, _b: string, c: string) => `${a}****${c}`)
    .replace(
      LANDLINE,
      (_, area: string, mid: string, tail: string) => `${area}-${'*'.repeat(mid.length)}${tail}`,
    );
}
