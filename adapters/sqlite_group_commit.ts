// Group commit for the SQLite store: the writes issued in one turn of the event loop share one
// transaction, so one fsync (synchronous=FULL), instead of one transaction and one fsync each.
//
// Why a turn of the event loop: node:sqlite's DatabaseSync is synchronous, so a COMMIT (and its
// fsync) blocks the whole process; no request can arrive "while the previous commit runs" in
// JavaScript. The requests that arrive during that fsync wait in the kernel's socket buffers and
// are all handled in the next poll phase; their writes are queued here and committed together
// on setImmediate (the check phase right after it). The slower the disk, the more requests wait
// through one fsync, and the more writes the next commit carries: the batch grows with the load
// by itself, with no timer that would add latency when the process is idle.
//
// Writes are not run when they are queued but inside the commit (BEGIN IMMEDIATE … COMMIT), so
// no transaction stays open across turns: two stores over the same file in one process, or
// another process, never wait on a lock held by code that cannot run (DatabaseSync waits
// synchronously). A write's promise settles only after its COMMIT returned, so an answer that
// relies on it is given only once it is durable. (A group made `withoutFsync`, for state whose
// loss breaks no promise, settles after a COMMIT without fsync: once it is in the log, in order,
// and durable with the next fsync of any commit.)
//
// Reads see the writes still queued: a read commits the queue first, synchronously, when a
// queued write touches what it reads (the same entity, or any entity of a model for lookups by
// uid and counts). Reads therefore only ever see committed data, never a write that might still
// fail; reads of other data leave the batch to grow.

import type { DatabaseSync } from 'node:sqlite';

/** What a write changes or a read looks at: one entity of a model, or (no id) any of them. */
export type Footprint = { model: string; id?: string };

type Queued = { run: () => unknown; resolve(value: unknown): void; reject(error: unknown): void };

export type GroupCommit = {
  /** Queue a write for the next commit; resolves with what `run` returned once it is durable. */
  write<T>(touches: Footprint[] | 'all', run: () => T): Promise<T>;
  /** Run a read now, committing the queue first if a queued write touches what it reads. */
  read<T>(reads: Footprint, run: () => T): T;
  /** Commit everything queued, now. */
  flush(): void;
};

export type GroupCommitOptions = {
  /** Called after each commit attempt with the number of writes it carried (a test hook). */
  onCommit?: (writes: number, ok: boolean) => void;
  /**
   * Commit without fsync (synchronous=NORMAL for this group's transactions, FULL again after):
   * for state whose loss in a crash breaks no promise. In WAL mode the commit is still ordered in
   * the log, and the next fsync of any commit makes it durable too.
   */
  withoutFsync?: boolean;
};

export function createGroupCommit(db: DatabaseSync, options: GroupCommitOptions = {}): GroupCommit {
  const synchronous = `PRAGMA synchronous = ${options.withoutFsync ? 'NORMAL' : 'FULL'}`;
  let queue: Queued[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  // What the queued writes touch: per model, the ids, or 'all' of the model; everything.
  const touched = new Map<string, Set<string> | 'all'>();
  let touchesAll = false;

  function note(touches: Footprint[] | 'all'): void {
    if (touches === 'all') {
      touchesAll = true;
      return;
    }
    for (const { model, id } of touches) {
      const ids = touched.get(model);
      if (ids === 'all') continue;
      if (id === undefined) touched.set(model, 'all');
      else if (ids) ids.add(id);
      else touched.set(model, new Set([id]));
    }
  }

  function overlaps({ model, id }: Footprint): boolean {
    if (touchesAll) return true;
    const ids = touched.get(model);
    return ids !== undefined && (ids === 'all' || id === undefined || ids.has(id));
  }

  function flush(): void {
    if (scheduled) clearImmediate(scheduled);
    scheduled = undefined;
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    touched.clear();
    touchesAll = false;

    const results: Array<{ value?: unknown; error?: unknown; failed: boolean }> = [];
    let fatal: { error: unknown } | undefined;
    try {
      // Each commit states its own level, so neither group's setting can outlive its commit
      // into the other's (a failure here rejects the batch, as a failed BEGIN does).
      db.exec(synchronous);
      db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      fatal = { error };
    }
    for (let i = 0; !fatal && i < batch.length; i++) {
      try {
        results.push({ value: batch[i]!.run(), failed: false });
      } catch (error) {
        // A failed statement is undone alone and the transaction goes on; unless SQLite rolled
        // the whole transaction back (I/O error, disk full), which takes every write with it.
        if (!db.isTransaction) fatal = { error };
        else results.push({ error, failed: true });
      }
    }
    if (!fatal) {
      try {
        db.exec('COMMIT');
      } catch (error) {
        fatal = { error };
      }
    }
    if (fatal && db.isOpen && db.isTransaction) {
      try {
        db.exec('ROLLBACK');
      } catch {
        // Already gone with the failure; nothing of the batch is committed either way.
      }
    }
    options.onCommit?.(batch.length, !fatal);
    for (let i = 0; i < batch.length; i++) {
      const queued = batch[i]!;
      const result = results[i];
      if (fatal) queued.reject(fatal.error);
      else if (result!.failed) queued.reject(result!.error);
      else queued.resolve(result!.value);
    }
  }

  return {
    write<T>(touches: Footprint[] | 'all', run: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ run, resolve: resolve as (value: unknown) => void, reject });
        note(touches);
        scheduled ??= setImmediate(flush);
      });
    },
    read<T>(reads: Footprint, run: () => T): T {
      if (queue.length > 0 && overlaps(reads)) flush();
      return run();
    },
    flush,
  };
}
