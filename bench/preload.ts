// --preload=N: fill a server's store with N clients, N sessions, N grants and N access tokens
// before measuring again, to see whether any cost grows with the tenant.
//
// The data is what the issuer itself stores: after the bench's one login, the client, session,
// grant and access token it wrote are read back through the storage contract, and each copy
// is that entity with fresh ids (every id of the original replaced in its JSON, so a copy's
// session points at its own grant, its token at its own grant, client and session) and the
// original's lifetime. They are written through the same contract (adapterFor(model).upsert),
// many at once: SQLite groups them into large transactions, ioredis pipelines them.
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';

import type { AdapterPayload, Store } from '../adapters/contract.ts';
import { createRedisStore } from '../adapters/redis.ts';
import { createSqliteStore } from '../adapters/sqlite.ts';
import type { Session } from './scenarios.ts';

export type PreloadTarget = { kind: 'sqlite'; file: string } | { kind: 'redis'; url: string; prefix: string };

/** One model's share: how many were written, in how long, and the bytes each added to the store. */
export type PreloadPhase = { model: string; count: number; seconds: number; bytesEach: number };
/** One run of the SQLite expiry sweeper over the preloaded file. */
export type SweepRun = { what: string; deleted: number; ms: number; longestChunkMs: number };
export type PreloadReport = {
  phases: PreloadPhase[];
  sweeps: SweepRun[];
  sizeNote: string;
  /** The access token of the last copy: the bench checks that the issuer accepts it at /userinfo. */
  sampleAccessToken: string;
};

type Template = { model: string; id: string; payload: AdapterPayload; expiresIn?: number };

const MODELS = ['Client', 'Session', 'Grant', 'AccessToken'] as const;
/** Writes issued at once before waiting for them. */
const WAVE = 2000;

function openStore(target: PreloadTarget): Store {
  if (target.kind === 'sqlite') return createSqliteStore({ file: target.file });
  return createRedisStore({ client: new Redis(target.url, { maxRetriesPerRequest: 1, enableAutoPipelining: true }), prefix: target.prefix, timeoutMs: 30_000 });
}

function sessionIdOf(cookie: string): string {
  const match = /(?:^|;\s*)_session=([^;]+)/.exec(cookie);
  if (!match) throw new Error(`preload: no _session cookie in ${cookie}`);
  return match[1]!;
}

/** The entities the bench's one login left in the store, read back through the contract. */
async function readTemplates(store: Store, session: Session): Promise<Template[]> {
  const expiresIn = (payload: AdapterPayload) => (typeof payload.exp === 'number' ? Math.max(60, payload.exp - Math.floor(Date.now() / 1000)) : undefined);
  const read = async (model: string, id: string) => {
    const payload = await store.adapterFor(model).find(id);
    if (!payload) throw new Error(`preload: the server stored no ${model} ${id}`);
    return { model, id, payload, expiresIn: expiresIn(payload) };
  };
  const token = await read('AccessToken', session.accessToken);
  const grantId = String(token.payload.grantId);
  return [await read('Client', session.clientId), await read('Session', sessionIdOf(session.cookie)), await read('Grant', grantId), token];
}

/** Every id in the templates, with a generator of fresh ones of the same length and alphabet. */
function idsOf(templates: Template[]): string[] {
  const ids = new Set<string>();
  for (const { id, payload } of templates) {
    ids.add(id);
    for (const key of ['grantId', 'uid', 'sessionUid', 'clientId', 'client_id', 'jti', 'client_secret']) {
      const value = payload[key];
      if (typeof value === 'string' && value.length >= 8) ids.add(value);
    }
  }
  return [...ids].sort((a, b) => b.length - a.length);
}

async function storeBytes(target: PreloadTarget, redis?: Redis): Promise<number> {
  if (target.kind === 'redis') {
    const info = await redis!.info('memory');
    return Number(/used_memory:(\d+)/.exec(info)?.[1]);
  }
  const db = new DatabaseSync(target.file);
  try {
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    const pages = Number(db.prepare('PRAGMA page_count').get()?.page_count);
    const free = Number(db.prepare('PRAGMA freelist_count').get()?.freelist_count);
    const size = Number(db.prepare('PRAGMA page_size').get()?.page_size);
    return (pages - free) * size;
  } finally {
    db.close();
  }
}

export async function preload(target: PreloadTarget, session: Session, n: number, log: (line: string) => void): Promise<PreloadReport> {
  const store = openStore(target);
  const redis = target.kind === 'redis' ? new Redis(target.url) : undefined;
  const phases: PreloadPhase[] = [];
  let sampleAccessToken = '';
  try {
    const templates = await readTemplates(store, session);
    const ids = idsOf(templates);
    const texts = templates.map((t) => JSON.stringify(t.payload));
    for (const model of MODELS) {
      const index = templates.findIndex((t) => t.model === model);
      const template = templates[index]!;
      const text = texts[index]!;
      const adapter = store.adapterFor(model);
      const before = await storeBytes(target, redis);
      const started = performance.now();
      for (let from = 0; from < n; from += WAVE) {
        const writes: Promise<void>[] = [];
        for (let i = from; i < Math.min(n, from + WAVE); i++) {
          // The i-th copy of every model shares its ids: copy i's token belongs to copy i's grant.
          let copy = text;
          let id = template.id;
          for (const old of ids) {
            // The same fresh id for copy i in every model; unique per copy by its last 8 characters.
            const fresh = `${old.slice(0, old.length - 8)}${i.toString(36).padStart(8, '0')}`;
            if (copy.includes(old)) copy = copy.split(old).join(fresh);
            if (id === old) id = fresh;
          }
          writes.push(adapter.upsert(id, JSON.parse(copy) as AdapterPayload, template.expiresIn));
          if (model === 'AccessToken' && i === n - 1) sampleAccessToken = id;
        }
        await Promise.all(writes);
      }
      const seconds = (performance.now() - started) / 1000;
      const after = await storeBytes(target, redis);
      phases.push({ model, count: n, seconds, bytesEach: (after - before) / n });
      log(`  preload: ${n} ${model} in ${seconds.toFixed(1)} s, ${((after - before) / n).toFixed(0)} bytes each`);
    }
  } finally {
    await store.close();
    redis?.disconnect();
  }
  const sizeNote = target.kind === 'sqlite' ? 'SQLite: pages in use after a checkpoint (data and indexes)' : 'Redis: used_memory (INFO memory), keys and index entries';
  return { phases, sweeps: [], sizeNote, sampleAccessToken };
}

/**
 * The SQLite expiry sweeper (the store's own code, on the preloaded file): one run with nothing
 * expired (what every run costs in the steady state), then one with a clock 30 days ahead,
 * when every row that expires within 30 days has (the worst run: all of them at once).
 * Destructive, so run after the scenarios.
 */
export async function measureSweeps(file: string): Promise<SweepRun[]> {
  const runs: SweepRun[] = [];
  for (const [what, offsetMs] of [['nothing expired', 0], ['clock 30 days ahead: every row expiring by then', 30 * 86_400_000]] as const) {
    const chunks: Array<{ deleted: number; ms: number }> = [];
    const store = createSqliteStore({ file, now: () => Date.now() + offsetMs, sweepIntervalMs: 1, onSweep: (deleted, ms) => chunks.push({ deleted, ms }) });
    // A run ends with a chunk that deleted less than a full one (SWEEP_CHUNK, 1000 rows).
    const deadline = performance.now() + 600_000;
    while ((chunks.length === 0 || chunks.at(-1)!.deleted >= 1000) && performance.now() < deadline) await sleep(5);
    await store.close();
    runs.push({ what, deleted: chunks.reduce((sum, c) => sum + c.deleted, 0), ms: chunks.reduce((sum, c) => sum + c.ms, 0), longestChunkMs: Math.max(...chunks.map((c) => c.ms)) });
  }
  return runs;
}
