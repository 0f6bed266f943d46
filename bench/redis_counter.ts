// Redis commands per operation, counted on the bench's own Redis server (only the issuer under
// test talks to it). Two numbers, both exact for a fixed number of requests:
// - sent: commands the issuer sends (a script is one), from MONITOR, which marks the commands
//   a script runs as coming from "lua";
// - executed: everything Redis runs, scripts' commands included, from INFO commandstats deltas.
// MONITOR slows Redis down, so it is attached only for the counting pass, never for a timed run.
import { Redis } from 'ioredis';

export type CommandCount = {
  sent: number;
  executed: number;
  /** Sent commands by name, e.g. { evalsha: 3, zadd: 1 }. */
  sentByName: Record<string, number>;
};

// The bench's own traffic on its stats connection.
const OWN_COMMANDS = new Set(['info', 'echo', 'client', 'client|info', 'monitor', 'config|resetstat']);

function parseCommandStats(info: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]!] = Number(match[2]);
  return calls;
}

function total(before: Record<string, number>, after: Record<string, number>): number {
  let sum = 0;
  for (const [name, calls] of Object.entries(after)) if (!OWN_COMMANDS.has(name)) sum += calls - (before[name] ?? 0);
  return sum;
}

export type RedisCounter = {
  /** Count the commands that `work` causes, divided by `operations`. */
  count(operations: number, work: () => Promise<unknown>): Promise<CommandCount>;
  close(): Promise<void>;
};

export async function createRedisCounter(url: string): Promise<RedisCounter> {
  const stats = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });

  async function commandStats(): Promise<Record<string, number>> {
    return parseCommandStats(await stats.info('commandstats'));
  }

  return {
    async count(operations, work) {
      // Requests still in flight from a previous run (autocannon stops at its deadline without
      // waiting for answers) must not be counted: wait until Redis sees no commands for 100 ms.
      for (let last = -1, now = total({}, await commandStats()); now !== last; now = total({}, await commandStats())) {
        last = now;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const sentByName: Record<string, number> = {};
      let marker = '';
      let markerSeen: () => void = () => {};
      const seen = new Promise<void>((resolve) => (markerSeen = resolve));
      // Attached for this pass only (it was once attached for the whole run: every timed run over
      // Redis then paid for the stream, and so did the load generator that parsed it).
      const monitorClient = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
      // monitor() answers with a connection of its own.
      const monitor = await monitorClient.monitor();
      let after: Record<string, number>;
      let before: Record<string, number>;
      try {
        monitor.on('monitor', (_time: string, args: string[], source: string) => {
          const name = String(args[0] ?? '').toLowerCase();
          if (name === 'echo' && args[1] === marker) return markerSeen();
          if (source === 'lua' || OWN_COMMANDS.has(name)) return;
          sentByName[name] = (sentByName[name] ?? 0) + 1;
        });
        before = await commandStats();
        await work();
        // Every command the work caused is in the MONITOR stream before this one.
        marker = `bench-marker-${Date.now()}`;
        await stats.echo(marker);
        await seen;
        after = await commandStats();
      } finally {
        monitor.disconnect();
        monitorClient.disconnect();
      }
      const sent = Object.values(sentByName).reduce((a, b) => a + b, 0);
      const perOp = Object.fromEntries(Object.entries(sentByName).map(([name, n]) => [name, n / operations]));
      return { sent: sent / operations, executed: total(before, after) / operations, sentByName: perOp };
    },
    async close() {
      await stats.quit();
    },
  };
}
