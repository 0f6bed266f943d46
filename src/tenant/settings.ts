// Tenant settings: one document in the store, read through a short cache so that every
// instance sees a change within a second, and reconciled with the config file at start and on
// SIGHUP. When the store has lost the document (FLUSHALL, a restart without persistence), the
// first instance to notice writes the config file's flags back: never the built-in defaults,
// which would silently turn off what ops' file turns on.
import type { Json, Store } from '../../adapters/contract.ts';

export type TenantFlags = {
  enable_dynamic_client_registration: boolean;
  /** An https URL as client_id names a Client ID Metadata Document (src/provider/client_id_metadata_document.ts). */
  enable_client_id_metadata_document: boolean;
};

export type TenantSettings = {
  flags: TenantFlags;
};

export const FLAG_NAMES = ['enable_dynamic_client_registration', 'enable_client_id_metadata_document'] as const satisfies readonly (keyof TenantFlags)[];

export const DEFAULT_SETTINGS: TenantSettings = { flags: { enable_dynamic_client_registration: false, enable_client_id_metadata_document: false } };

const SETTINGS_DOCUMENT = 'tenant_settings';
/** The flag values of the config file as last applied, to tell a file change from an old value. */
const APPLIED_DOCUMENT = 'tenant_config_applied';

/** How stale a read may be: below the one second within which every instance must follow. */
export const SETTINGS_CACHE_MS = 500;

export type SettingChange = { setting: string; old_value: Json; new_value: Json };

/** Who changed a setting: a Management API client, the config file, or an admin in the Dashboard. */
export type SettingActor = { type: 'api_client' | 'config_file' | 'admin'; id: string };

/** The last change of each setting that was changed at least once, by setting name. */
export type LastChanges = Record<string, { by: SettingActor; at: string }>;

/** Who changed each setting last, kept beside the settings so the API's shape stays Auth0's. */
const CHANGES_DOCUMENT = 'tenant_settings_changes';
export const CONFIG_FILE_ACTOR: SettingActor = { type: 'config_file', id: 'config-file' };

export type TenantSettingsService = {
  /** The current settings, at most SETTINGS_CACHE_MS old. */
  get(): Promise<TenantSettings>;
  /** The current settings, read from the store now. */
  read(): Promise<TenantSettings>;
  /** Replace the flags given; returns the new settings and what changed. */
  updateFlags(flags: Partial<TenantFlags>, by?: SettingActor): Promise<{ settings: TenantSettings; changes: SettingChange[] }>;
  /** Who changed each setting last, and when. */
  lastChanges(): Promise<LastChanges>;
  /**
   * Apply the config file's flags: a value that changed in the file since it was last applied
   * wins; a value the file did not change never overwrites one set through the API.
   */
  applyConfigFlags(flags: TenantFlags): Promise<SettingChange[]>;
};

function normalize(value: Json | undefined): TenantSettings {
  const flags = (value && typeof value === 'object' && !Array.isArray(value) ? value.flags : undefined) as Partial<TenantFlags> | undefined;
  return { flags: { ...DEFAULT_SETTINGS.flags, ...(flags && typeof flags === 'object' ? flags : {}) } };
}

export function createTenantSettings(deps: {
  store: Store;
  /** The config file's flags as last applied: what a store that lost the settings gets back. */
  fileFlags?: () => TenantFlags;
  /** Told when the settings were missing and written back. */
  onHealed?: (flags: TenantFlags) => void;
  cacheMs?: number;
  now?: () => number;
}): TenantSettingsService {
  const { store, cacheMs = SETTINGS_CACHE_MS, now = Date.now } = deps;
  let cached: { value: TenantSettings; at: number } | undefined;
  let inflight: Promise<TenantSettings> | undefined;

  async function heal(): Promise<Json> {
    const flags = { ...deps.fileFlags!() };
    const stored = await store.putDocumentIfAbsent(SETTINGS_DOCUMENT, { flags });
    // The file's flags are what now holds: a later SIGHUP compares against them.
    if (JSON.stringify(stored) === JSON.stringify({ flags })) {
      await store.putDocumentIfAbsent(APPLIED_DOCUMENT, flags);
      deps.onHealed?.(flags);
    }
    return stored;
  }

  async function read(healing = true): Promise<TenantSettings> {
    let stored = await store.getDocument(SETTINGS_DOCUMENT);
    if (stored === undefined && healing && deps.fileFlags) stored = await heal();
    const value = normalize(stored);
    cached = { value, at: now() };
    return value;
  }

  async function write(settings: TenantSettings): Promise<void> {
    await store.putDocument(SETTINGS_DOCUMENT, settings as unknown as Json);
    cached = { value: settings, at: now() };
  }

  async function recordChanges(by: SettingActor, changes: readonly SettingChange[]): Promise<void> {
    const stored = await store.getDocument(CHANGES_DOCUMENT);
    const last = (stored && typeof stored === 'object' && !Array.isArray(stored) ? { ...stored } : {}) as Record<string, Json>;
    const at = new Date(now()).toISOString();
    for (const change of changes) last[change.setting] = { by, at };
    await store.putDocument(CHANGES_DOCUMENT, last);
  }

  async function updateFlags(patch: Partial<TenantFlags>, by?: SettingActor, healing = true) {
    const before = await read(healing);
    const changes: SettingChange[] = [];
    const flags = { ...before.flags };
    for (const name of FLAG_NAMES) {
      const next = patch[name];
      if (next === undefined || next === flags[name]) continue;
      changes.push({ setting: `flags.${name}`, old_value: flags[name], new_value: next });
      flags[name] = next;
    }
    const settings = { ...before, flags };
    if (changes.length) {
      await write(settings);
      if (by) await recordChanges(by, changes);
    }
    return { settings, changes };
  }

  return {
    read: () => read(),
    get() {
      if (cached && now() - cached.at < cacheMs) return Promise.resolve(cached.value);
      // One store read at a time per instance, however many requests wait for it.
      inflight ??= read().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
    updateFlags: (patch, by) => updateFlags(patch, by),
    async lastChanges() {
      const stored = await store.getDocument(CHANGES_DOCUMENT);
      return (stored && typeof stored === 'object' && !Array.isArray(stored) ? stored : {}) as unknown as LastChanges;
    },
    async applyConfigFlags(fileFlags) {
      const applied = normalizeApplied(await store.getDocument(APPLIED_DOCUMENT));
      const patch: Partial<TenantFlags> = {};
      for (const name of FLAG_NAMES) {
        if (applied[name] !== fileFlags[name]) patch[name] = fileFlags[name];
      }
      // The file is being applied: no healing from it in between (it would hide the changes).
      const { settings, changes } = await updateFlags(patch, CONFIG_FILE_ACTOR, false);
      // A first start whose file equals the defaults changes nothing: store them anyway, so that
      // a missing document later always means a lost one.
      if (!changes.length) await store.putDocumentIfAbsent(SETTINGS_DOCUMENT, settings as unknown as Json);
      await store.putDocument(APPLIED_DOCUMENT, { ...fileFlags });
      return changes;
    },
  };
}

function normalizeApplied(value: Json | undefined): Partial<TenantFlags> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Partial<TenantFlags>) : {};
}
