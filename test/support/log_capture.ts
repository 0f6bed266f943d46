// A real pino logger whose JSON lines are kept in memory, to assert on what the issuer logs.
import { Writable } from 'node:stream';

import { pino } from 'pino';
import type { Logger } from 'pino';

export function captureLogs(level: pino.LevelWithSilent = 'info'): { logger: Logger; lines(): Record<string, unknown>[]; text(): string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  const logger = pino({ level, base: undefined }, sink);
  const text = () => chunks.join('');
  return {
    logger,
    text,
    lines: () => text().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
