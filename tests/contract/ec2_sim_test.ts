/**
 * The EC2 contract suite against the project's VPC simulator (in-process, no lab). The sim
 * must pass every case: its gap list is empty, and stays empty unless a case is declared here
 * with the reason.
 */

import { EC2_CASES } from "./ec2_cases.ts";
import { type Gap, registerEc2Suite } from "./ec2_suite.ts";
import { SimBackend } from "./sim_backend.ts";

export const SIM_GAPS: Record<string, Gap> = {};

registerEc2Suite({
  backend: "sim",
  cases: EC2_CASES,
  gaps: SIM_GAPS,
  start: () => SimBackend.start(),
});
