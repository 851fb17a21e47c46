/** Named errors, so callers can tell a bad spec from a machine that cannot run the lab. */

/** The lab spec, a member name or a lab id is invalid. */
export class LabSpecError extends Error {
  override readonly name = 'LabSpecError';
}

/** The machine cannot run the lab (not root, a tool missing), or a command in a namespace failed. */
export class LabError extends Error {
  override readonly name = 'LabError';
}
