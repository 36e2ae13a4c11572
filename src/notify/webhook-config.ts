// BERTH_WEBHOOKS: a JSON array of endpoints, each told about the actions it asks for (all when
// `events` is absent), signed with its own secret when it has one.
import { z } from 'zod';

/** What a webhook can be told about: a manifest pushed, something deleted, a tag moved, a rollback. */
export const EVENT_ACTIONS = ['push', 'delete', 'tag', 'rollback'] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];

export interface WebhookEndpoint {
  url: string;
  /** The actions this endpoint receives. */
  events: readonly EventAction[];
  /** Key of the HMAC-SHA256 body signature; no signature header without it. */
  secret: string | undefined;
}

const endpointSchema = z
  .object({
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//i.test(u), 'must be an http:// or https:// URL'),
    events: z.array(z.enum(EVENT_ACTIONS)).min(1).optional(),
    secret: z.string().min(1).optional(),
  })
  .strict();

/** The setting's JSON (config.ts reads it): the endpoints, each with the actions it receives. */
export const webhookEndpoints = z
  .array(endpointSchema)
  .transform((list): WebhookEndpoint[] => list.map((e) => ({ url: e.url, events: e.events ?? EVENT_ACTIONS, secret: e.secret })));

export const WEBHOOKS_EXAMPLE = '[{"url":"https://ci.example.com/hooks/berth","events":["push"],"secret":"…"}]';
