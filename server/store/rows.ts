/** PostgreSQL returns BIGINT as a string; every epoch-millisecond column goes through here. */
export function toMillis(value: unknown): number {
  return typeof value === 'number' ? value : Number(value)
}

export function toMillisOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : toMillis(value)
}
