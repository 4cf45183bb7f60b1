/** Every case of the EC2 contract suite, in the order they run. */

import { addressCases } from "./ec2_cases_addresses.ts";
import { describeCases } from "./ec2_cases_describe.ts";
import { eniCases } from "./ec2_cases_eni.ts";
import { failureCases } from "./ec2_cases_failures.ts";
import type { Ec2Case } from "./ec2_suite.ts";

export const EC2_CASES: Ec2Case[] = [
  ...describeCases,
  ...eniCases,
  ...addressCases,
  ...failureCases,
];
