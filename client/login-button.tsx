import type { ButtonHTMLAttributes, ReactNode } from 'react'
import { useLogin, useProviders, useSession } from './hooks.ts'

export interface LoginButtonProps extends Omit<ButtonHTMLAttributes<HTMLButtonElement>, 'onClick' | 'type'> {
  provider: string
  /** Where to land after the login (a local path). */
  next?: string
  children?: ReactNode
}

/**
 * A button that signs in with a provider ("Sign in with GitHub"), or links it to the signed-in
 * user ("Connect GitHub"). Its label comes from the provider's display name.
 */
export function LoginButton({ provider, next, children, ...rest }: LoginButtonProps) {
  const { login } = useLogin()
  const providers = useProviders()
  const session = useSession()
  const name = providers.data?.find((p) => p.name === provider)?.displayName ?? provider
  const label = session.data?.authenticated ? `Connect ${name}` : `Sign in with ${name}`
  return (
    <button type="button" {...rest} onClick={() => login(provider, { next })}>
      {children ?? label}
    </button>
  )
}
