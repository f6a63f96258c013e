/** Host-side errors of the VM/vCPU API, with stable codes (errno names, as KVM's ioctls report them). */
export type HvErrorCode =
  /** A vCPU with that id exists already. */
  | 'EEXIST'
  /** An argument is out of range (vCPU id >= max vCPUs, max vCPUs > 1024, bad RAM size). */
  | 'EINVAL'
  /** The vCPU was destroyed or the VM closed. */
  | 'EBADF'
  /** No such vCPU. */
  | 'ENODEV'
  /** The operation is not allowed in the current state (e.g. removing the last running vCPU). */
  | 'EBUSY'
  /** A wait (grace period, thread exit) did not finish in time. */
  | 'ETIMEDOUT';

export class HvError extends Error {
  readonly code: HvErrorCode;
  constructor(code: HvErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HvError';
    this.code = code;
  }
}
