export { createVerifier, type LatchkeyClaims, type Verifier, type VerifierOptions } from './verifier.js';
export { LatchkeyFeedError, LatchkeyVerifyError, type LatchkeyVerifyErrorCode, type Logger } from './errors.js';
export type { FeedOptions } from './feed.js';
export { meetsAal, type AssuranceLevel } from './http.js';
export {
  createWebhookReceiver,
  memorySeenStore,
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
  type LatchkeyEventUser,
  type SeenStore,
  type VerifyWebhookOptions,
  type WebhookErrorCode,
  type WebhookEvent,
  type WebhookHeaders,
  type WebhookReceiver,
  type WebhookReceiverOptions,
} from './webhooks.js';
