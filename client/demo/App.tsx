import { useState, type FormEvent } from 'react'
import {
  AllAccessClientError,
  isReauthRequired,
  LoginButton,
  ProviderApiError,
  useAuthError,
  useDisconnect,
  useLogout,
  useProviderApi,
  useProviderMutation,
  useProviders,
  useSession,
  useSessionExpiry,
  type AccountSummary,
  type PublicProvider,
} from '../index.ts'

/** What each sandbox's API offers the demo: a read and a write. */
const SANDBOX_CALLS: Record<string, { read: string; write: { label: string; path: string; body: (text: string) => { json?: unknown; form?: Record<string, string> } } }> = {
  'sandbox-oidc': { read: 'me', write: { label: 'Add a note', path: 'notes', body: (text) => ({ json: { text } }) } },
  'sandbox-oauth1': { read: 'account/verify_credentials.json', write: { label: 'Post a status', path: 'statuses/update.json', body: (text) => ({ form: { status: text } }) } },
}

/** An error in words: the BFF's refusals by code, the provider's answers with what it said. */
function describeError(error: unknown): string {
  if (isReauthRequired(error)) return 'This account needs to be reconnected: sign in with it again.'
  if (error instanceof AllAccessClientError) return `${error.message} (${error.code})`
  if (error instanceof ProviderApiError) {
    const body = error.body as { message?: unknown; error_description?: unknown; error?: unknown } | null
    const said = typeof body === 'string' ? body : [body?.message, body?.error_description, body?.error].find((v) => typeof v === 'string')
    return `The provider answered ${error.status}${said ? `: ${String(said).slice(0, 200)}` : '.'}`
  }
  return 'The server could not be reached. Please try again.'
}

/** An API answer as the demo shows it: JSON indented, text as it came. */
const show = (data: unknown) => (typeof data === 'string' ? data : JSON.stringify(data, null, 2))

function ApiPanel({ account, provider }: { account: AccountSummary; provider?: PublicProvider }) {
  const preset = SANDBOX_CALLS[account.provider]
  const [path, setPath] = useState(preset?.read ?? '')
  const [submitted, setSubmitted] = useState<string | null>(null)
  const [text, setText] = useState('Hello from all-access!')
  const read = useProviderApi(account.provider, submitted ?? '', { enabled: submitted !== null })
  const write = useProviderMutation(account.provider)
  const name = provider?.displayName ?? account.provider

  const onRead = (event: FormEvent) => {
    event.preventDefault()
    if (submitted === path) void read.refetch()
    else setSubmitted(path)
  }

  return (
    <section className="api" aria-labelledby={`api-${account.provider}`}>
      <h3 id={`api-${account.provider}`}>{name} API</h3>
      <form onSubmit={onRead} className="row">
        <label htmlFor={`path-${account.provider}`}>GET /api/{account.provider}/</label>
        <input id={`path-${account.provider}`} value={path} onChange={(e) => setPath(e.target.value)} placeholder="path" />
        <button type="submit" disabled={!path}>Call the API</button>
      </form>
      {preset && (
        <form
          className="row"
          onSubmit={(event) => {
            event.preventDefault()
            write.mutate({ path: preset.write.path, ...preset.write.body(text) })
          }}
        >
          <label htmlFor={`text-${account.provider}`}>Text</label>
          <input id={`text-${account.provider}`} value={text} onChange={(e) => setText(e.target.value)} />
          <button type="submit" disabled={!text || write.isPending}>{preset.write.label}</button>
        </form>
      )}
      {read.isFetching && <p role="status">Calling…</p>}
      {read.error && <p role="alert" className="error">{describeError(read.error)}</p>}
      {read.data !== undefined && !read.isFetching && (
        <pre aria-label={`${name} API result`}>{show(read.data)}</pre>
      )}
      {write.error && <p role="alert" className="error">{describeError(write.error)}</p>}
      {write.data !== undefined && <pre aria-label={`${name} write result`}>{show(write.data)}</pre>}
    </section>
  )
}

function SignedIn({ accounts, userName, providers }: { accounts: AccountSummary[]; userName: string; providers: PublicProvider[] }) {
  const logout = useLogout()
  const disconnect = useDisconnect()
  const connected = new Set(accounts.map((a) => a.provider))
  const byName = new Map(providers.map((p) => [p.name, p]))
  const others = providers.filter((p) => !connected.has(p.name))

  return (
    <>
      <div className="user">
        <p>
          Signed in as <strong>{userName}</strong>
        </p>
        <div className="actions">
          <button type="button" onClick={() => logout.mutate()} disabled={logout.isPending}>Sign out</button>
          {/* Also at the provider, when it offers that: its back-channel logout then ends this user's other sessions here too. */}
          <button type="button" onClick={() => logout.mutate({ providerLogout: true })} disabled={logout.isPending}>Sign out everywhere</button>
        </div>
      </div>
      <h2>Connected accounts</h2>
      <ul className="accounts">
        {accounts.map((account) => {
          const name = byName.get(account.provider)?.displayName ?? account.provider
          return (
            <li key={account.provider} className="account">
              <div>
                <span className="provider">{name}</span> · <span className="identifier">{account.identifier}</span> ·{' '}
                <span className={`status status-${account.status}`}>{account.status === 'active' ? 'active' : 'needs reconnecting'}</span>
              </div>
              <div className="actions">
                {account.status === 'reauth_required' && (
                  <LoginButton provider={account.provider} next="/">{`Reconnect ${name}`}</LoginButton>
                )}
                <button type="button" onClick={() => disconnect.mutate(account.provider)} disabled={disconnect.isPending}>
                  {`Disconnect ${name}`}
                </button>
              </div>
              <ApiPanel account={account} provider={byName.get(account.provider)} />
            </li>
          )
        })}
      </ul>
      {disconnect.error && <p role="alert" className="error">{describeError(disconnect.error)}</p>}
      {logout.error && <p role="alert" className="error">{describeError(logout.error)}</p>}
      {others.length > 0 && (
        <>
          <h2>Connect another provider</h2>
          <div className="buttons">
            {others.map((p) => (
              <LoginButton key={p.name} provider={p.name} next="/" />
            ))}
          </div>
        </>
      )}
    </>
  )
}

/** A note kept only in the page's memory: a popup sign-in keeps it, a full-page one loses it. */
function Draft() {
  const [draft, setDraft] = useState('')
  return (
    <section className="row draft">
      <label htmlFor="draft">Unsaved note</label>
      <input id="draft" value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="Type here, then sign in in a popup: it stays." />
    </section>
  )
}

/** When the session ends if left idle, read without keeping it alive; and a word once it has ended. */
function SessionEnd() {
  const { secondsLeft, ended } = useSessionExpiry()
  if (ended) return <p role="status">Your session has ended. Sign in again to go on.</p>
  if (secondsLeft === null) return null
  const minutes = Math.ceil(secondsLeft / 60)
  const left = minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`
  return <p className="muted">Your session ends in {left} if left idle.</p>
}

export function App() {
  const session = useSession()
  const providers = useProviders()
  const authError = useAuthError()

  return (
    <>
      <header className="site">
        <h1>all-access demo</h1>
        <p className="lead">Sign in with a provider, then call its API through the BFF. The browser never sees a provider token.</p>
      </header>
      <main>
        {authError && (
          <div role="alert" className="error banner">
            <p>{authError.message}</p>
            <button type="button" onClick={authError.dismiss}>Dismiss</button>
          </div>
        )}
        <Draft />
        <SessionEnd />
        {(session.isPending || providers.isPending) && <p role="status">Loading…</p>}
        {session.error && <p role="alert" className="error">{describeError(session.error)}</p>}
        {providers.error && <p role="alert" className="error">{describeError(providers.error)}</p>}
        {session.data && !session.data.authenticated && providers.data && (
          <section aria-labelledby="sign-in">
            <h2 id="sign-in">Sign in</h2>
            {providers.data.length === 0 ? (
              <p>No provider is configured. Add one with <code>npx all-access providers add</code>.</p>
            ) : (
              <>
                <div className="buttons">
                  {providers.data.map((p) => (
                    <LoginButton key={p.name} provider={p.name} next="/" />
                  ))}
                </div>
                <h3>Or stay on this page</h3>
                <div className="buttons">
                  {providers.data.map((p) => (
                    <LoginButton key={p.name} provider={p.name} popup>{`${p.displayName} in a popup`}</LoginButton>
                  ))}
                  {providers.data
                    .filter((p) => p.protocol !== 'oauth1')
                    .map((p) => (
                      <LoginButton key={p.name} provider={p.name} popup prompt="none">{`Silent sign-in with ${p.displayName}`}</LoginButton>
                    ))}
                </div>
              </>
            )}
          </section>
        )}
        {session.data?.authenticated && providers.data && (
          <SignedIn accounts={session.data.accounts} userName={session.data.user.displayName ?? `user ${session.data.user.id}`} providers={providers.data} />
        )}
      </main>
    </>
  )
}
