/** Bad calendar input (unknown zone, week 54, a date that is not a date). `field` names the culprit. */
export class CalendarInputError extends Error {
  readonly code = 'BAD_USER_INPUT';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'CalendarInputError';
  }
}
