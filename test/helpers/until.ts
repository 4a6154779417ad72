/**
 * Waits for something a test expects to happen (a process listening, a reload logged). The
 * limit only bounds how long a failing test takes: on a loaded machine a service start can take
 * several seconds, so it is generous, and a passing test never waits for it.
 */
export async function until<T>(what: string, check: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
