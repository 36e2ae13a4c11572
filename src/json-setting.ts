// The one way a setting holding JSON is read (BERTH_IMMUTABLE_TAGS, BERTH_QUOTAS, BERTH_WEBHOOKS,
// BERTH_TOKEN_ISSUERS): parsed, checked against its zod schema, and refused with what is wrong
// where, and an example of a good value.
import { z } from 'zod';

export interface JsonSettingFormat<S extends z.ZodType> {
  schema: S;
  /** A good value, shown in every refusal. */
  example: string;
  /** The value when the setting is unset. */
  unset: z.output<S>;
  /** A value of only spaces counts as unset rather than as bad JSON. */
  blankIsUnset?: boolean;
}

export type JsonSettingResult<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** The setting's value, or what is wrong with it: one line per problem, then the example. */
export function readJsonSetting<S extends z.ZodType>(raw: string | undefined, format: JsonSettingFormat<S>): JsonSettingResult<z.output<S>> {
  if (raw === undefined || (format.blankIsUnset && raw.trim() === '')) return { ok: true, value: format.unset };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, problems: [`must be JSON, e.g. ${format.example}`] };
  }
  const parsed = format.schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  return { ok: false, problems: [...problems, `for example: ${format.example}`] };
}

/** The setting as a field of the environment's schema: each problem is an issue under its name. */
export function jsonSetting<S extends z.ZodType>(format: JsonSettingFormat<S>) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): z.output<S> => {
      const read = readJsonSetting(raw, format);
      if (read.ok) return read.value;
      for (const message of read.problems) ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    });
}
