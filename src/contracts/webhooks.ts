import { Type, type Static } from 'typebox';

/** Webhook endpoints and deliveries as an operator sees them (the command line, the admin API). */

const Time = Type.String({ format: 'date-time' });
const NullableTime = Type.Union([Time, Type.Null()]);

/** An endpoint; never its secret (answers are serialized from this schema, which does not list it). */
export const WebhookEndpointView = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  backchannel_logout_audience: Type.Union([Type.String(), Type.Null()], { description: 'the `aud` of the logout tokens of a back-channel logout endpoint' }),
  created_at: Time,
  disabled_at: NullableTime,
});
export type WebhookEndpointView = Static<typeof WebhookEndpointView>;

/** A new endpoint, with its secret: shown this once. */
export const NewWebhookEndpoint = Type.Object({ ...WebhookEndpointView.properties, secret: Type.String({ description: 'shown this once' }) });
export type NewWebhookEndpoint = Static<typeof NewWebhookEndpoint>;

export const DELIVERY_STATUSES = ['pending', 'delivered', 'dead'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** One delivery of one event to one endpoint. */
export const DeliveryView = Type.Object({
  id: Type.Integer(),
  endpoint_id: Type.String(),
  event_id: Type.Integer(),
  event_type: Type.String(),
  status: Type.String({ description: '`pending`, `delivered` or `dead`' }),
  attempts: Type.Integer({ minimum: 0 }),
  last_status: Type.Union([Type.Integer(), Type.Null()], { description: 'the HTTP status of the last attempt' }),
  last_error: Type.Union([Type.String(), Type.Null()]),
  created_at: Time,
  next_attempt_at: Time,
  delivered_at: NullableTime,
});
export type DeliveryView = Static<typeof DeliveryView>;

/** How many deliveries were sent again. */
export const Replayed = Type.Object({ replayed: Type.Integer({ minimum: 0 }) });
export type Replayed = Static<typeof Replayed>;

export const DELIVERIES_PAGE_DEFAULT = 100;
export const DELIVERIES_PAGE_MAX = 1000;
