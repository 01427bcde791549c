import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query'
import { createRoot } from 'react-dom/client'
import { AllAccessProvider, LoginButton, useLogout, useProviderApi, useSession } from 'all-access/client'

// The sandbox's OpenID provider and its API's `GET /me`; with GitHub it would be 'github' and 'user'.
const PROVIDER = 'sandbox-oidc'
const PROFILE_PATH = 'me'

function Hello() {
  // The Koa app's own route, beside the BFF's.
  const hello = useQuery({ queryKey: ['hello'], queryFn: async () => (await fetch('/hello')).json() })
  return <p>The app says: {hello.data?.hello ?? '…'}</p>
}

function Profile() {
  // GET /api/sandbox-oidc/me through the BFF, which adds the user's token.
  const profile = useProviderApi(PROVIDER, PROFILE_PATH)
  if (profile.isError) return <p role="alert">{profile.error.message}</p>
  return <pre aria-label="Profile from the provider's API">{profile.data ? JSON.stringify(profile.data, null, 2) : '…'}</pre>
}

function Account() {
  const session = useSession()
  const logout = useLogout()
  if (!session.data) return null
  if (!session.data.authenticated) return <LoginButton provider={PROVIDER} />
  return (
    <>
      <p>Signed in as {session.data.user.displayName}</p>
      <Profile />
      <button type="button" onClick={() => logout.mutate()}>
        Sign out
      </button>
    </>
  )
}

const queryClient = new QueryClient()

createRoot(document.getElementById('root')).render(
  <QueryClientProvider client={queryClient}>
    <AllAccessProvider>
      <h1>A Koa app with all-access</h1>
      <Hello />
      <Account />
    </AllAccessProvider>
  </QueryClientProvider>,
)
