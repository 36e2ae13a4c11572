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

/** Parses the setting; throws an Error whose message says what is wrong. */
export function parseWebhooks(value: string | undefined): WebhookEndpoint[] {
  if (value === undefined || value.trim() === '') return [];
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new Error('not valid JSON: expected [{"url": "https://…", "events": ["push"], "secret": "…"}]');
  }
  const parsed = z.array(endpointSchema).safeParse(json);
  if (!parsed.success) {
    throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  }
  return parsed.data.map((e) => ({ url: e.url, events: e.events ?? EVENT_ACTIONS, secret: e.secret }));
}
