import type { GraphQLFormattedError } from 'graphql';
import { GraphQLError, Kind } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { ArgumentValidationError } from 'type-graphql';
import { isConnectionError } from '@tally/db';
import { CalendarInputError } from '@tally/domain';
import { AppError, BadInputError, ServiceUnavailableError, type ErrorCode } from './app-errors.js';

/** Codes produced by graphql-js / Apollo itself that are safe to pass through unchanged. */
const FRAMEWORK_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'BAD_REQUEST',
  'UNAUTHENTICATED',
  'SERVICE_UNAVAILABLE',
]);

/** Turns anything thrown below a resolver into the one typed error the client will see, or null to mask it. */
export function toAppError(error: unknown): AppError | null {
  if (error instanceof AppError) return error;
  if (error instanceof CalendarInputError) return new BadInputError(error.field, error.message);
  if (error instanceof ArgumentValidationError) {
    const first = error.extensions.validationErrors?.[0] as { property?: string; constraints?: Record<string, string> } | undefined;
    const reason = first?.constraints ? Object.values(first.constraints).join('; ') : 'invalid value';
    return new BadInputError(first?.property ?? 'input', reason);
  }
  if (isConnectionError(error)) return new ServiceUnavailableError();
  return null;
}

// graphql-js's ValuesOfCorrectTypeRule reports a literal argument value its type refuses (a
// scalar's parse error, an unknown enum value, a missing or unknown input field) on the value's
// own node; errors in the document's shape (an unknown field, a missing argument) sit on fields,
// arguments or variables. Apollo wraps every validation error with an originalError, so the node
// is what tells them apart.
const VALUE_KINDS = new Set<string>([Kind.STRING, Kind.INT, Kind.FLOAT, Kind.BOOLEAN, Kind.NULL, Kind.ENUM, Kind.LIST, Kind.OBJECT, Kind.OBJECT_FIELD]);

function argumentNameAt(error: GraphQLError): string | undefined {
  // graphql-js reports a bad literal on the value node; the argument's name is just before it.
  const node = error.nodes?.[0];
  const body = error.source?.body;
  if (!node?.loc || !body) return undefined;
  return /([_A-Za-z][_0-9A-Za-z]*)\s*:\s*$/.exec(body.slice(0, node.loc.start))?.[1];
}

/**
 * The one place errors become responses: typed domain errors keep their code and message,
 * bad literals become BAD_USER_INPUT naming the argument, database outages become
 * SERVICE_UNAVAILABLE, and everything else is masked — no SQL, no stack.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  // A typed error raised outside a resolver (a request guard) travels as a GraphQLError's cause.
  const app = toAppError(original) ?? (error instanceof GraphQLError && error.originalError instanceof AppError ? error.originalError : null);
  if (app) {
    const code: ErrorCode = app.code;
    return {
      message: app.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code, ...app.details },
    };
  }
  const code = formatted.extensions?.code;
  if (typeof code === 'string' && FRAMEWORK_CODES.has(code)) {
    // A literal that its type refuses (a scalar's parse error, or "Expected value of type…") is
    // the caller's bad input, not a malformed document.
    if (code === 'GRAPHQL_VALIDATION_FAILED' && error instanceof GraphQLError && VALUE_KINDS.has(error.nodes?.[0]?.kind ?? '')) {
      const argument = argumentNameAt(error);
      return {
        message: argument ? `Argument "${argument}": ${error.message}` : error.message,
        locations: formatted.locations,
        extensions: { code: 'BAD_USER_INPUT', ...(argument ? { argument } : {}) },
      };
    }
    return { message: formatted.message, locations: formatted.locations, path: formatted.path, extensions: { code } };
  }
  return {
    message: 'Internal server error',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: 'INTERNAL_SERVER_ERROR' },
  };
}

/** What formatError masks as INTERNAL_SERVER_ERROR, as the error to log; null for anything answered as itself. */
export function maskedCause(error: unknown): unknown {
  const original = unwrapResolverError(error);
  if (toAppError(original)) return null;
  if (error instanceof GraphQLError) {
    if (error.originalError instanceof AppError) return null;
    const code = error.extensions?.code;
    if (typeof code === 'string' && FRAMEWORK_CODES.has(code)) return null;
  }
  return original;
}
