/**
 * A problem with what a person gave (a flag, a variable, a key, a URL): its message is one line
 * naming the problem, printed as it is by the command line. Every such error extends this class,
 * so callers recognise them by type, never by name or message.
 */
export class InputError extends Error {}
