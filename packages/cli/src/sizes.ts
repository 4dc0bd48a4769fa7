/**
 * Human byte sizes. Binary units (KiB, MiB, … and the short K, M, G, T as storage tools use them) are powers of 1024;
 * KB, MB, GB, TB are decimal, as their SI names say. Case does not matter; a space before the unit is allowed.
 */

const UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  k: 1024,
  kib: 1024,
  ki: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mi: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gi: 1024 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  ti: 1024 ** 4,
  p: 1024 ** 5,
  pib: 1024 ** 5,
  pi: 1024 ** 5,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
};

const SIZE_PATTERN = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i;

/** Parses "8MiB", "8M", "1.5 GiB", "500KB", "4096" into bytes; throws a `TypeError` that says what is accepted. */
export function parseSize(text: string): number {
  const match = SIZE_PATTERN.exec(text.trim());
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new TypeError(`invalid size ${JSON.stringify(text)}: use bytes or a unit, e.g. 4096, 512KiB, 8MiB, 1.5GiB, 100MB`);
  }
  const bytes = Number(match[1]) * unit;
  if (!Number.isSafeInteger(bytes)) {
    throw new TypeError(`invalid size ${JSON.stringify(text)}: not a whole number of bytes below 2^53`);
  }
  return bytes;
}

const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/** 1536 → "1.5 KiB"; below 1 KiB exact bytes ("512 B"). Three significant digits are enough to read at a glance. */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${Number(value.toFixed(digits))} ${BINARY_UNITS[unit]}`;
}

/** Decimal megabytes per second, the unit storage benchmarks quote. */
export function megabytesPerSecond(bytes: number, seconds: number): number {
  return seconds > 0 ? bytes / 1e6 / seconds : 0;
}

/** "123.4 MB/s". */
export function formatRate(bytesPerSecond: number): string {
  const mb = bytesPerSecond / 1e6;
  return `${mb >= 100 ? mb.toFixed(0) : mb >= 10 ? mb.toFixed(1) : mb.toFixed(2)} MB/s`;
}
