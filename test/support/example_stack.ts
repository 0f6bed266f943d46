// The examples end to end: an issuer with registration on, the example app and API (examples/),
// and headless Chromium; plus where screenshots go (docs/ with UPDATE_SCREENSHOTS=1, else a temp folder).
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Browser } from 'playwright-core';

import { startExample } from '../../examples/servers.ts';
import type { RunningExample } from '../../examples/servers.ts';
import { launchBrowser } from './browser.ts';
import { CONTACTS_API, startIssuer } from './issuer.ts';
import type { RunningIssuer } from './issuer.ts';

export type ExampleStack = { issuer: RunningIssuer; example: RunningExample; browser: Browser };

/** docs/ when UPDATE_SCREENSHOTS is set (the README shows those), else a fresh temp folder. */
export function screenshotDir(): string {
  const dir = process.env.UPDATE_SCREENSHOTS ? fileURLToPath(new URL('../../docs/', import.meta.url)) : mkdtempSync(join(tmpdir(), 'shots-'));
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function startExampleStack(): Promise<ExampleStack> {
  const issuer = await startIssuer({ overrides: { tenant: { flags: { enable_dynamic_client_registration: true } } } });
  const example = await startExample({ issuer: issuer.url, audience: CONTACTS_API, host: '127.0.0.1', spaPort: 0, apiPort: 0 });
  const browser = await launchBrowser();
  return { issuer, example, browser };
}

export async function closeExampleStack(stack: Partial<ExampleStack>): Promise<void> {
  await stack.browser?.close();
  await stack.example?.close();
  await stack.issuer?.close();
}
