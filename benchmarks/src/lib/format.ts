import { GiB, KiB, MiB } from "@range/core";

export function fmtBytes(n: number): string {
  if (n >= GiB && n % GiB === 0) return `${n / GiB} GiB`;
  if (n >= MiB && n % (MiB / 8) === 0) return `${+(n / MiB).toFixed(3)} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}

/** Fixed decimals scaled to the magnitude: 12345 → "12345", 123.4 → "123", 12.34 → "12.3", 1.234 → "1.23". */
export function fmtNum(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs >= 10 ** (digits - 1)) return Math.round(x).toString();
  if (abs === 0) return "0";
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(abs)));
  return x.toFixed(decimals);
}

export function fmtRatio(x: number): string {
  return `${x.toFixed(2)}×`;
}
