// Personal data is masked before anything stores or logs it: phone numbers keep their first
// three and last four digits, ID-card numbers their region code and last four.
// Groups may be separated by a dash, a space or a dot, or not at all.
// The same separator twice, so that a decimal (130.12345678, a longitude) is not a number.
const MOBILE = /(?<!\d)(?:\+?86[-\s.]?)?(1[3-9]\d)([-\s.]?)(\d{4})\2(\d{4})(?!\d)/g;
// 18 digits (region, birth date, sequence + check), also written in groups and right after a
// label ("ID110101…"): over-masking a code is cheaper than leaking a citizen's number.
const ID_CARD = /(?<!\d)(\d{6})[-\s]?(\d{8})[-\s]?(\d{3}[\dXx])(?![\dXx])/g;
// The first-generation card: 15 digits (region, a real yymmdd, sequence); not any 15 digits,
// which would take device IMEIs too.
const ID_CARD_15 = /(?<!\d)(\d{6})(\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(\d{3})(?!\d)/g;
// Area code optionally in parentheses.
const LANDLINE = /(?<![\d(])\(?(0\d{2,3})\)?[-\s]?(\d{3,4})[-\s]?(\d{4})(?!\d)/g;
// Full-width digits, X, +, -, ., ( and ), as Chinese input methods type them.
const FULL_WIDTH = /[\uFF08\uFF09\uFF0B\uFF0D\uFF0E\uFF10-\uFF19\uFF38\uFF58]/g;

export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  if (digits.length === 0) return '';
  if (digits.length <= 4) return '*'.repeat(digits.length);
  if (digits.length === 11 && digits.startsWith('1')) return `${digits.slice(0, 3)}****${digits.slice(7)}`;
  return `${'*'.repeat(digits.length - 4)}${digits.slice(-4)}`;
}

/** Masks phone and ID-card numbers found anywhere in free text. */
export function maskPersonalData(text: string): string {
  // Read as ASCII digits (the stored text then has them too): a number typed in full width is
  // the same number.
  return text
    .replace(FULL_WIDTH, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(
      ID_CARD,
      (_, region: string, _birth: string, tail: string) => `${region}********${tail.slice(-4)}`,
    )
    .replace(ID_CARD_15, (_, region: string, _birth: string, tail: string) => `${region}******${tail}`)
    .replace(MOBILE, (_, a: string, _sep: string, _b: string, c: string) => `${a}****${c}`)
    .replace(
      LANDLINE,
      (_, area: string, mid: string, tail: string) => `${area}-${'*'.repeat(mid.length)}${tail}`,
    );
}
