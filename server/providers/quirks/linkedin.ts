import type { FlowSecrets } from '../../clients/base.ts'
import { OidcClient } from '../../clients/oidc.ts'

/**
 * LinkedIn ignores `nonce`: its ID tokens never carry one, so a login that sent one would always
 * fail the check. None is sent. The code still comes back only with this browser's `state`, and only
 * this client, with its secret, can redeem it for the ID token (OpenID Connect Core §3.1.2.1: the
 * nonce is optional in the code flow).
 */
export class LinkedInClient extends OidcClient {
  override async startFlow(): Promise<FlowSecrets> {
    const { nonce: _ignored, ...flow } = await super.startFlow()
    return flow
  }
}
