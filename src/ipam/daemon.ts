// deno-lint-ignore-file no-console -- command-line output
/** Placeholder until this command lands; it says so instead of pretending to work. */
export function main(_args: string[]): Promise<number> {
  console.error("ipamd: this command is not implemented yet");
  return Promise.resolve(1);
}
