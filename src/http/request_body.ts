// Reading a request body within a limit, and handing it on to oidc-provider.
//
// Bend: the registration gate and the token endpoint's JSON support read and check the body
// themselves before oidc-provider sees it. The library reads the body from `ctx.req` as a
// stream, and warns when an upstream parser consumed it; so the request it gets replays the
// checked body through a stream while everything else (headers, socket) stays the original's.
// Covered by test/registration*.test.ts and test/management_token.test.ts: any change in how
// the library reads bodies fails them.
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';

const STREAM_MEMBERS = new Set<PropertyKey>(['readable', 'readableEncoding', 'readableEnded', 'iterator', 'read', 'on', 'once', 'off', 'pipe', 'removeListener', 'addListener', 'resume', 'pause', 'setEncoding', Symbol.asyncIterator]);

/** Read at most `limit` bytes of the request body; undefined when it is larger. */
export async function readBodyWithin(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return undefined;
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of req) {
    received += (chunk as Buffer).length;
    if (received > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, received);
}

export type JsonBody = { kind: 'json'; value: unknown } | { kind: 'too_large' } | { kind: 'invalid_json' };

/** Read at most `limit` bytes and parse them as JSON; each surface answers a failure its own way. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<JsonBody> {
  const raw = await readBodyWithin(req, limit);
  if (!raw) return { kind: 'too_large' };
  try {
    return { kind: 'json', value: JSON.parse(raw.toString('utf8')) };
  } catch {
    return { kind: 'invalid_json' };
  }
}

/** Let the downstream middleware read `body` from the request as if it were still unread. */
export function replayBody(ctx: Context, body: Buffer): void {
  const original = ctx.req;
  const replay = Readable.from([body], { objectMode: false });
  const proxied = new Proxy(original, {
    get(target, property) {
      if (STREAM_MEMBERS.has(property)) {
        const value = Reflect.get(replay, property, replay) as unknown;
        return typeof value === 'function' ? value.bind(replay) : value;
      }
      if (property === 'headers') return { ...target.headers, 'content-length': String(body.length) };
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  ctx.req = proxied;
  ctx.request.req = proxied;
}
