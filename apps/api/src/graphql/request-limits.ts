import { GraphQLError, Kind, type ASTVisitor, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { MAX_SERIES_POINTS } from '@tally/domain';
import { BadInputError } from '../errors/app-errors.js';

/**
 * Aliases per operation. Each alias is another execution of its field: without a bound, one
 * 2 MB request could ask for the same 5,000-point series thousands of times (a VIEWER could
 * make the API build gigabytes). 30 leaves room for a report page asking many figures at once.
 * graphql-armor's rule rather than a hand-written count (it follows fragments, counts once each).
 */
export const MAX_ALIASES = 30;

/** Bytes of one GraphQL request: an HTTP body, or one WebSocket message (ws would take 100 MiB). */
export const MAX_REQUEST_BYTES = 2 * 1024 * 1024;

/**
 * Operations running at once on one WebSocket. Each subscription holds listeners and reads its
 * first values from the database: without a bound, one socket could hold thousands. A
 * dashboard needs one per period and set of keys (`metricUpdated` takes many keys at once).
 */
export const MAX_OPERATIONS_PER_SOCKET = 100;

/**
 * Nesting of fields per operation (introspection aside). `Week.previous` is a Week: without a
 * bound, 1,000 nested `previous` took 0.3 s of the event loop; the deepest query of the schema
 * that means something (`metric { series { … } }`, a week's weeks back) is far below.
 */
export const MAX_DEPTH = 15;

/** Series points one request (or one subscription event) may ask for in all: four full series. */
export const MAX_SERIES_POINTS_PER_REQUEST = 4 * MAX_SERIES_POINTS;

/** Fields that may appear at most once per operation, alias or not: their own limit is per call. */
const ONCE_PER_OPERATION = new Set(['ingestPaymentOutcomes']);

function rootResponseKeys(context: ValidationContext, set: SelectionSetNode, seen: Set<string>, out: Map<string, Set<string>>): void {
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) {
      const key = s.alias?.value ?? s.name.value;
      if (!out.has(s.name.value)) out.set(s.name.value, new Set());
      out.get(s.name.value)!.add(key);
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      rootResponseKeys(context, s.selectionSet, seen, out);
    } else if (!seen.has(s.name.value)) {
      seen.add(s.name.value);
      const fragment = context.getFragment(s.name.value);
      if (fragment) rootResponseKeys(context, fragment.selectionSet, seen, out);
    }
  }
}

/**
 * `ingestPaymentOutcomes` at most once per operation: its 1,000-event cap is per call, and three
 * aliases would store 3,000 events in three transactions of one request.
 */
const oncePerOperationRule: ValidationRule = (context: ValidationContext): ASTVisitor => ({
  OperationDefinition(node) {
    const keys = new Map<string, Set<string>>();
    rootResponseKeys(context, node.selectionSet, new Set(), keys);
    for (const name of ONCE_PER_OPERATION) {
      const n = keys.get(name)?.size ?? 0;
      if (n > 1) {
        context.reportError(new GraphQLError(`"${name}" may appear once per operation, found ${n}: send one batch per request`, { nodes: node }));
      }
    }
  },
});

/** graphql-armor's rejections, reported as validation errors (400 GRAPHQL_VALIDATION_FAILED) rather than thrown from the visitor. */
const reportAsValidationError = [(ctx: unknown, err: GraphQLError) => (ctx as ValidationContext | null)?.reportError(new GraphQLError(err.message.replace(/^Syntax Error: /, '')))];

/** Validation rules of every operation, HTTP and WebSocket alike. */
export const requestLimitRules: ValidationRule[] = [
  maxAliasesRule({
    n: MAX_ALIASES,
    propagateOnRejection: false,
    onReject: reportAsValidationError,
  }),
  maxDepthRule({
    n: MAX_DEPTH,
    ignoreIntrospection: true,
    // Fields count, fragments (named or inline) do not: clients built from fragments would
    // otherwise be refused queries the same fields without fragments pass.
    flattenFragments: true,
    propagateOnRejection: false,
    onReject: reportAsValidationError,
  }),
  oncePerOperationRule,
];

/** The series points a request has been answered so far (fresh per request and per subscription event). */
export class PointBudget {
  private spent = 0;

  /** Counts `n` more points; past the limit the field fails with BAD_USER_INPUT naming the query. */
  spend(n: number): void {
    this.spent += n;
    if (this.spent > MAX_SERIES_POINTS_PER_REQUEST) {
      throw new BadInputError(
        'query',
        `this request asks for more than ${MAX_SERIES_POINTS_PER_REQUEST} series points in all (${this.spent} so far); split it into several requests`,
      );
    }
  }
}
