/** Error codes clients can rely on, sent as `extensions.code`. */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'SERVICE_UNAVAILABLE';

/** Base of every error the domain throws on purpose; anything else is masked as internal. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Safe, structured details for the client (e.g. `{ field: 'timeZone' }`). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadInputError extends AppError {
  constructor(readonly field: string, reason: string) {
    super('BAD_USER_INPUT', `${field}: ${reason}`, { field });
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message = 'authentication required: send "Authorization: Bearer <token>"') {
    super('UNAUTHENTICATED', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

export class NotFoundError extends AppError {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `${what} ${id} not found`, { id });
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message = 'the database is unavailable; retry shortly') {
    super('SERVICE_UNAVAILABLE', message);
  }
}
