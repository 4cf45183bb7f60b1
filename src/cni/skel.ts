// deno-lint-ignore-file no-console -- command-line output
/** Placeholder until the CNI skeleton lands; it reports a CNI error instead of pretending. */
export function runPlugin(): Promise<number> {
  console.log(
    JSON.stringify({ cniVersion: "1.1.0", code: 999, msg: "aws-cni is not implemented yet" }),
  );
  return Promise.resolve(1);
}
