/** The `crc32c=` part of an `x-goog-hash` header (`crc32c=mnG7TA==,md5=...`), or undefined. */
export function crc32cFromHashHeader(header: string | string[] | undefined): string | undefined {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  for (const value of values) {
    for (const part of value.split(",")) {
      const [name, ...rest] = part.trim().split("=");
      if (name?.toLowerCase() === "crc32c" && rest.length > 0) return rest.join("=");
    }
  }
  return undefined;
}
