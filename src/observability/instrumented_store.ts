// A Store that measures every call of the one it wraps: latency and errors, by operation.
import type { ModelAdapter, Store } from '../../adapters/contract.ts';
import type { Metrics } from './metrics.ts';

export function instrumentStore(store: Store, metrics: Pick<Metrics, 'storeDuration' | 'storeErrors'>): Store {
  async function measure<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const end = metrics.storeDuration.startTimer({ operation });
    try {
      return await call();
    } catch (error) {
      metrics.storeErrors.inc({ operation });
      throw error;
    } finally {
      end();
    }
  }

  const adapters = new Map<string, ModelAdapter>();
  function adapterFor(model: string): ModelAdapter {
    let adapter = adapters.get(model);
    if (!adapter) {
      const inner = store.adapterFor(model);
      adapter = {
        upsert: (id, payload, expiresIn) => measure(`${model}.upsert`, () => inner.upsert(id, payload, expiresIn)),
        find: (id) => measure(`${model}.find`, () => inner.find(id)),
        findByUid: (uid) => measure(`${model}.findByUid`, () => inner.findByUid(uid)),
        findByUserCode: (code) => measure(`${model}.findByUserCode`, () => inner.findByUserCode(code)),
        consume: (id) => measure(`${model}.consume`, () => inner.consume(id)),
        destroy: (id) => measure(`${model}.destroy`, () => inner.destroy(id)),
        revokeByGrantId: (grantId) => measure(`${model}.revokeByGrantId`, () => inner.revokeByGrantId(grantId)),
      };
      adapters.set(model, adapter);
    }
    return adapter;
  }

  return {
    kind: store.kind,
    adapterFor,
    countClients: () => measure('countClients', () => store.countClients()),
    reserveClientSlot: (max, ttl, clientId) => measure('reserveClientSlot', () => store.reserveClientSlot(max, ttl, clientId)),
    releaseClientSlot: (reservation) => measure('releaseClientSlot', () => store.releaseClientSlot(reservation)),
    listClients: (page) => measure('listClients', () => store.listClients(page)),
    revokeByClientId: (clientId) => measure('revokeByClientId', () => store.revokeByClientId(clientId)),
    compareAndSetDocument: (name, expected, value) => measure('compareAndSetDocument', () => store.compareAndSetDocument(name, expected, value)),
    getDocument: (name) => measure('getDocument', () => store.getDocument(name)),
    putDocument: (name, value) => measure('putDocument', () => store.putDocument(name, value)),
    putDocumentIfAbsent: (name, value) => measure('putDocumentIfAbsent', () => store.putDocumentIfAbsent(name, value)),
    increment: (key, ttl, by) => measure('increment', () => store.increment(key, ttl, by)),
    ping: () => measure('ping', () => store.ping()),
    close: () => store.close(),
  };
}
