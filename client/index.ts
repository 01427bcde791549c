export { AllAccessProvider, useAllAccessClient } from './context.tsx'
export type { AllAccessProviderProps } from './context.tsx'
export { createAllAccessClient } from './api.ts'
export type { AllAccessClient, AllAccessClientOptions, ApiCallOptions } from './api.ts'
export { AllAccessClientError, ProviderApiError, isReauthRequired } from './errors.ts'
export {
  allAccessKeys,
  authErrorMessage,
  useAuthError,
  useDisconnect,
  useLogin,
  useLogout,
  useProviderApi,
  useProviderMutation,
  useProviders,
  useSession,
} from './hooks.ts'
export type { ProviderApiOptions, ProviderMutationVariables } from './hooks.ts'
export { LoginButton } from './login-button.tsx'
export type { LoginButtonProps } from './login-button.tsx'
export type { ErrorCode } from '../shared/errors.ts'
export type { SessionInfo, AccountSummary, AccountStatus } from '../shared/session.ts'
export type { PublicProvider } from '../shared/provider.ts'
