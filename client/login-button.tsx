import * as React from 'react'
import type { ButtonHTMLAttributes, ReactElement, ReactNode } from 'react'
import type { LoginPrompt } from '../shared/routes.ts'
import { polled, showLoginFailure, useLogin, useProviders, useSession } from './hooks.ts'

/** Props of {@link LoginButton}: a provider, where to land, and any `<button>` attribute but `onClick` and `type`. */
export interface LoginButtonProps extends Omit<ButtonHTMLAttributes<HTMLButtonElement>, 'onClick' | 'type'> {
  /** The provider's name, e.g. `github`. */
  provider: string
  /** Where to land after a full-page login: a local path (anything else becomes `/`); default this page. */
  next?: string | undefined
  /** A label of your own instead of "Sign in with …" / "Connect …". */
  children?: ReactNode
  /** Sign in in a popup and keep the page; a failure shows in {@link useAuthError}. */
  popup?: boolean | undefined
  /** The provider's `prompt` (OAuth 2.0 / OIDC). */
  prompt?: LoginPrompt | undefined
}

/**
 * A `<button type="button">` named "Sign in with <display name>", or "Connect <display name>" when
 * someone is signed in (it links the provider to that user). Pressing it leaves for the provider, or
 * with `popup` opens the provider in a popup.
 */
// The return type is named: inferred, the declaration would spell out every <button> attribute of the
// @types/react this was built with, which an app on another version (18) cannot read.
export function LoginButton({ provider, next, children, popup, prompt, ...rest }: LoginButtonProps): ReactElement {
  const { login } = useLogin()
  const providers = useProviders()
  const session = useSession(polled)
  const name = providers.data?.find((p) => p.name === provider)?.displayName ?? provider
  const label = `${session.data?.authenticated ? 'Connect' : 'Sign in with'} ${name}`
  return React.createElement('button', { type: 'button', ...rest, onClick: () => login(provider, { next, popup, prompt }).catch(showLoginFailure) }, children ?? label)
}
