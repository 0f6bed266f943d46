// A temporary folder for one test file, made before its tests and removed after them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

export type TempDir = {
  /** The folder's path (set once the file's `before` hooks ran). */
  readonly path: string;
  /** Write `text` to `name` in the folder; returns the file's path. */
  file(name: string, text: string): string;
};

export function useTempDir(prefix: string): TempDir {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    get path() {
      return dir;
    },
    file(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
  };
}
