import { InputError } from '../input-error.ts'
/** A provider's settings as given cannot be used; the message is one line naming the problem (the CLI prints it). */
export class ProviderInputError extends InputError {
  override name = 'ProviderInputError'
}
