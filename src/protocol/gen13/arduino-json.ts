/**
 * How ArduinoJson 6.21 (the firmware's JSON library) writes strings and floats, for byte-exact
 * device documents: its float digits differ from JavaScript's shortest round-trip form.
 */

/** ArduinoJson's escaping: only " \ \b \f \n \r \t; other bytes (control characters too) raw. */
export function jsonString(s: string): string {
  return `"${s.replace(/["\\\b\f\n\r\t]/g, (c) => ESCAPES[c])}"`;
}
const ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/**
 * TextFormatter::writeFloat with FloatParts<double> (ArduinoJson 6.21, ARDUINOJSON_USE_DOUBLE):
 * up to 9 decimals shared with the integral digits, round half up on the remainder, trailing
 * zeros dropped, exponent form outside 1e-5..1e7; NaN and infinities print null.
 */
export function formatArduinoJsonFloat(x: number): string {
  if (!Number.isFinite(x)) return 'null';
  let sign = '';
  let value = x;
  if (value < 0) {
    sign = '-';
    value = -value;
  }
  let exponent = 0;
  if (value >= 1e7) {
    for (let index = 8, bit = 256; index >= 0; index--, bit >>= 1) {
      if (value >= POSITIVE_POWERS[index]) {
        value *= NEGATIVE_POWERS[index];
        exponent += bit;
      }
    }
  } else if (value > 0 && value <= 1e-5) {
    for (let index = 8, bit = 256; index >= 0; index--, bit >>= 1) {
      if (value < NEGATIVE_POWERS_PLUS_ONE[index]) {
        value *= POSITIVE_POWERS[index];
        exponent -= bit;
      }
    }
  }
  let maxDecimalPart = 1_000_000_000;
  let decimalPlaces = 9;
  let integral = Math.trunc(value);
  for (let tmp = integral; tmp >= 10; tmp = Math.trunc(tmp / 10)) {
    maxDecimalPart /= 10;
    decimalPlaces--;
  }
  let remainder = (value - integral) * maxDecimalPart;
  let decimal = Math.trunc(remainder);
  remainder = remainder - decimal;
  decimal += Math.trunc(remainder * 2);
  if (decimal >= maxDecimalPart) {
    decimal = 0;
    integral++;
    if (exponent !== 0 && integral >= 10) {
      exponent++;
      integral = 1;
    }
  }
  while (decimal % 10 === 0 && decimalPlaces > 0) {
    decimal /= 10;
    decimalPlaces--;
  }
  let out = `${sign}${integral}`;
  if (decimalPlaces > 0) out += `.${String(decimal).padStart(decimalPlaces, '0')}`;
  if (exponent !== 0) out += `e${exponent}`;
  return out;
}
const POSITIVE_POWERS = [1e1, 1e2, 1e4, 1e8, 1e16, 1e32, 1e64, 1e128, 1e256];
const NEGATIVE_POWERS = [1e-1, 1e-2, 1e-4, 1e-8, 1e-16, 1e-32, 1e-64, 1e-128, 1e-256];
const NEGATIVE_POWERS_PLUS_ONE = [1, 1e-1, 1e-3, 1e-7, 1e-15, 1e-31, 1e-63, 1e-127, 1e-255];
