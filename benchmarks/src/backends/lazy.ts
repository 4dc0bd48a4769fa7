/**
 * Why a backend package cannot be loaded (not built, not installed), or undefined when it loads. The server backends
 * import their package and SDK lazily: a cell worker only pays for the backend it runs.
 */
export async function missingPackage(name: string): Promise<string | undefined> {
  try {
    await import(name);
    return undefined;
  } catch (error) {
    return `${name} does not load (${(error as Error).message.split("\n")[0]}); build it with \`pnpm --filter ${name} build\``;
  }
}
