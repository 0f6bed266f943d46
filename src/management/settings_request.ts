// What GET and PATCH /api/v2/tenants/settings accept, checked the way Auth0 checks them:
// `fields` and `include_fields` for reads, a JSON object of known settings for updates. Pure:
// each function returns a value or throws a 400 ManagementError in Auth0's words.
import { FLAG_NAMES } from '../tenant/settings.ts';
import type { TenantFlags, TenantSettings } from '../tenant/settings.ts';
import { ManagementError } from './errors.ts';

/** The settings a PATCH may change. */
const UPDATABLE = ['flags'];

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function invalidBody(detail: string, property?: string): ManagementError {
  return new ManagementError(400, 'invalid_body', `Payload validation error: '${detail}'${property ? ` on property ${property}` : ''}.`);
}

function invalidQuery(detail: string, property: string): ManagementError {
  return new ManagementError(400, 'invalid_query_string', `Query validation error: '${detail}' on property ${property}.`);
}

function extraProperties(value: Record<string, unknown>, known: readonly string[]): string[] {
  return Object.keys(value).filter((name) => !known.includes(name));
}

/** Parse a PATCH body (text) into the flags to change; nothing else is updatable. */
export function parseSettingsPatch(text: string): Partial<TenantFlags> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ManagementError(400, 'invalid_body', 'Invalid request payload JSON format');
  }
  if (jsonType(body) !== 'object') throw invalidBody(`Expected type object but found type ${jsonType(body)}`);
  const tree = body as Record<string, unknown>;
  const extra = extraProperties(tree, UPDATABLE);
  if (extra.length) throw invalidBody(`Additional properties not allowed: ${extra.join(',')}`);
  if (tree.flags === undefined) return {};
  if (jsonType(tree.flags) !== 'object') throw invalidBody(`Expected type object but found type ${jsonType(tree.flags)}`, 'flags');
  const flags = tree.flags as Record<string, unknown>;
  const unknownFlags = extraProperties(flags, FLAG_NAMES);
  if (unknownFlags.length) throw invalidBody(`Additional properties not allowed: ${unknownFlags.join(',')}`, 'flags');
  const patch: Partial<TenantFlags> = {};
  for (const name of FLAG_NAMES) {
    const value = flags[name];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') throw invalidBody(`Expected type boolean but found type ${jsonType(value)}`, `flags.${name}`);
    patch[name] = value;
  }
  return patch;
}

export type FieldSelection = { fields: string[]; include: boolean };

/** Auth0's `fields` (comma-separated top-level names) and `include_fields` (default true). */
export function parseFieldSelection(query: Record<string, string | string[] | undefined>): FieldSelection {
  const { fields, include_fields: includeFields } = query;
  if (Array.isArray(fields)) throw invalidQuery('Expected type string but found type array', 'fields');
  if (Array.isArray(includeFields)) throw invalidQuery('Expected type boolean but found type array', 'include_fields');
  if (includeFields !== undefined && includeFields !== 'true' && includeFields !== 'false') {
    throw invalidQuery('Expected type boolean but found type string', 'include_fields');
  }
  const names = (fields ?? '').split(',').map((name) => name.trim()).filter(Boolean);
  if (names.some((name) => !/^[a-z_]{1,64}$/.test(name))) throw invalidQuery('String does not match pattern ^[a-z_]+$', 'fields');
  return { fields: names, include: includeFields !== 'false' };
}

/** The settings with only the fields asked for (or without the ones excluded); all when none named. */
export function selectFields(settings: TenantSettings, selection: FieldSelection): Partial<TenantSettings> {
  if (!selection.fields.length) return settings;
  const named = new Set(selection.fields);
  return Object.fromEntries(Object.entries(settings).filter(([name]) => named.has(name) === selection.include)) as Partial<TenantSettings>;
}
