import type { RejectionEvidence } from '../../clients/base.ts'
import { OidcClient } from '../../clients/oidc.ts'
import { slackTokenDead } from './slack-web-api.ts'

/** Sign in with Slack: its user token calls the Web API, which names a dead token with status 200. */
export class SlackClient extends OidcClient {
  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    return (await super.tokenRejected(answer)) || slackTokenDead(answer)
  }
}
