import type { Knex } from 'knex'
import { afterTransaction, storeCaches, type ReadCache, type StoreCaches } from './read-cache.ts'
import { PROVIDER_NAME_PATTERN, type ProviderConfig } from '../../shared/provider.ts'
import type { SecretBox } from '../crypto/secret-box.ts'
import { encryptedField } from './encrypted-columns.ts'

/** A stored provider: its config plus the row id accounts refer to. */
export interface ProviderRecord extends ProviderConfig {
  id: number
}

/** A provider as listings show it: no client id or secret, only whether both are set. */
export interface ProviderListing extends Omit<ProviderRecord, 'clientId' | 'clientSecret'> {
  enabled: boolean
}

interface ProviderRow {
  id: number
  name: string
  display_name: string
  protocol: ProviderConfig['protocol']
  request_token_url: string | null
  authorization_url: string | null
  access_token_url: string | null
  profile_url: string | null
  api_base_url: string | null
  issuer: string | null
  revocation_url: string | null
  scope: string | null
  identifier_path: string
  client_id: string | null
  client_secret: string | null
  pkce: boolean | number
  token_auth_method: ProviderConfig['tokenAuthMethod']
  token_placement: ProviderConfig['tokenPlacement']
  extra_authorization_params: string
  preset: string | null
  preset_params: string
  display_name_path: string | null
  refresh: NonNullable<ProviderConfig['refresh']>
  scope_delimiter: NonNullable<ProviderConfig['scopeDelimiter']>
}

export class ProviderStore {
  constructor(
    private readonly db: Knex,
    private readonly box: SecretBox,
    private readonly caches: StoreCaches = storeCaches(0),
  ) {}

  async list(): Promise<ProviderRecord[]> {
    const rows: ProviderRow[] = await this.db('providers').select('*').orderBy('name')
    return rows.map((row) => this.fromRow(row))
  }

  /**
   * Every provider as listings show it, with nothing decrypted: a listing shows no secret, so it
   * neither spends a decryption per provider nor fails on one whose key is gone (what an operator
   * recovering from a lost key needs to see). Enabled as `isEnabled` says (an empty value is stored as NULL).
   */
  async listed(): Promise<ProviderListing[]> {
    const rows: ProviderRow[] = await this.db('providers').select('*').orderBy('name')
    return rows.map((row) => ({ ...this.plainFields(row), enabled: row.client_id !== null && row.client_secret !== null }))
  }

  /** A provider by name; answered from memory for a moment, decrypted once (every request of the proxy asks). */
  async get(name: string): Promise<ProviderRecord | null> {
    // A route's name as the client wrote it: one no provider can have (U+0000, which PostgreSQL refuses in a query) is none.
    if (!PROVIDER_NAME_PATTERN.test(name)) return null
    const cached = await (this.caches.providers as ReadCache<ProviderRecord | null>).read(name, async () => {
      const row: ProviderRow | undefined = await this.db('providers').where({ name }).first()
      return row ? this.fromRow(row) : null
    })
    return cached && { ...cached, extraAuthorizationParams: { ...cached.extraAuthorizationParams } }
  }

  /** A provider by id (the one a session signed in with); read through, as only a logout asks. */
  async getById(id: number): Promise<ProviderRecord | null> {
    const row: ProviderRow | undefined = await this.db('providers').where({ id }).first()
    return row ? this.fromRow(row) : null
  }

  /** Whatever changes a provider changes its accounts' answers too. */
  private changed(trx: Knex): void {
    const forget = () => {
      this.caches.providers.clear()
      this.caches.accounts.clear()
    }
    forget()
    if (trx !== this.db) afterTransaction(trx, forget)
  }

  async add(config: ProviderConfig, trx: Knex = this.db): Promise<ProviderRecord> {
    const now = Date.now()
    const [row] = await trx('providers')
      .insert({ ...this.toRow(config), created_at: now, updated_at: now })
      .returning('*')
    this.changed(trx)
    return this.fromRow(row)
  }

  async update(name: string, config: ProviderConfig, trx: Knex = this.db): Promise<ProviderRecord | null> {
    const [row] = await trx('providers')
      .where({ name })
      .update({ ...this.toRow(config), updated_at: Date.now() })
      .returning('*')
    this.changed(trx)
    return row ? this.fromRow(row) : null
  }

  async remove(name: string): Promise<boolean> {
    const removed = (await this.db('providers').where({ name }).delete()) > 0
    this.changed(this.db)
    return removed
  }

  private toRow(config: ProviderConfig): Omit<ProviderRow, 'id'> {
    return {
      name: config.name,
      display_name: config.displayName,
      protocol: config.protocol,
      request_token_url: config.requestTokenUrl,
      authorization_url: config.authorizationUrl,
      access_token_url: config.accessTokenUrl,
      profile_url: config.profileUrl,
      api_base_url: config.apiBaseUrl,
      issuer: config.issuer,
      revocation_url: config.revocationUrl,
      scope: config.scope,
      identifier_path: config.identifierPath,
      client_id: this.box.encrypt(encryptedField('providers', 'client_id'), config.clientId),
      client_secret: this.box.encrypt(encryptedField('providers', 'client_secret'), config.clientSecret),
      pkce: config.pkce,
      token_auth_method: config.tokenAuthMethod,
      token_placement: config.tokenPlacement,
      extra_authorization_params: JSON.stringify(config.extraAuthorizationParams ?? {}),
      preset: config.preset ?? null,
      preset_params: JSON.stringify(config.presetParams ?? {}),
      display_name_path: config.displayNamePath ?? null,
      refresh: config.refresh ?? 'rotating',
      scope_delimiter: config.scopeDelimiter ?? ' ',
    }
  }

  private fromRow(row: ProviderRow): ProviderRecord {
    return {
      ...this.plainFields(row),
      clientId: this.box.decrypt(encryptedField('providers', 'client_id'), row.client_id, `provider ${row.name}`),
      clientSecret: this.box.decrypt(encryptedField('providers', 'client_secret'), row.client_secret, `provider ${row.name}`),
    }
  }

  private plainFields(row: ProviderRow): Omit<ProviderRecord, 'clientId' | 'clientSecret'> {
    return {
      id: row.id,
      name: row.name,
      displayName: row.display_name,
      protocol: row.protocol,
      requestTokenUrl: row.request_token_url,
      authorizationUrl: row.authorization_url,
      accessTokenUrl: row.access_token_url,
      profileUrl: row.profile_url,
      apiBaseUrl: row.api_base_url,
      issuer: row.issuer,
      revocationUrl: row.revocation_url,
      scope: row.scope,
      identifierPath: row.identifier_path,
      pkce: Boolean(row.pkce),
      tokenAuthMethod: row.token_auth_method,
      tokenPlacement: row.token_placement,
      extraAuthorizationParams: JSON.parse(row.extra_authorization_params) as Record<string, string>,
      preset: row.preset,
      presetParams: JSON.parse(row.preset_params) as Record<string, string>,
      displayNamePath: row.display_name_path,
      refresh: row.refresh,
      scopeDelimiter: row.scope_delimiter,
    }
  }
}
