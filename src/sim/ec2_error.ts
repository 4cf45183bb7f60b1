/**
 * The errors the simulated EC2 API answers with: EC2's own error codes and HTTP statuses,
 * so clients (the AWS SDK, the AWS CLI, ipamd's retry logic) react as they would to AWS.
 */

export class Ec2ApiError extends Error {
  override name = "Ec2ApiError";
  /** EC2's error code, e.g. "InvalidNetworkInterfaceID.NotFound". */
  readonly code: string;
  /** HTTP status: 400 for client errors, 5xx for server errors and throttling. */
  readonly status: number;

  constructor(code: string, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.status = options.status ?? 400;
  }
}

export function notFound(
  kind: "networkInterface" | "instance" | "subnet",
  id: string,
): Ec2ApiError {
  switch (kind) {
    case "networkInterface":
      return new Ec2ApiError(
        "InvalidNetworkInterfaceID.NotFound",
        `The networkInterface ID '${id}' does not exist`,
      );
    case "instance":
      return new Ec2ApiError(
        "InvalidInstanceID.NotFound",
        `The instance ID '${id}' does not exist`,
      );
    case "subnet":
      return new Ec2ApiError("InvalidSubnetID.NotFound", `The subnet ID '${id}' does not exist`);
  }
}

export function malformedId(code: string, id: string, prefix: string): Ec2ApiError {
  return new Ec2ApiError(code, `Invalid id: "${id}" (expecting "${prefix}-...")`);
}

export function invalidValue(message: string): Ec2ApiError {
  return new Ec2ApiError("InvalidParameterValue", message);
}

export function missingParameter(name: string): Ec2ApiError {
  return new Ec2ApiError(
    "MissingParameter",
    `The request must contain the parameter ${name}`,
  );
}
