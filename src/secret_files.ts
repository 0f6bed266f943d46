// Secrets read from files named in the configuration (COOKIE_KEYS_FILE, CLIENT_SECRETS_FILE),
// so that production secrets can live in Docker/Compose secrets (/run/secrets/...) or a mounted
// volume instead of the image, the config file or the environment. Applied to the merged tree
// before validation, so a secret from a file is checked exactly like one written in the YAML.
// Problems name the file and the path, never a secret's value.
import { readFileSync } from 'node:fs';

import { parse as parseYaml } from 'yaml';

type Tree = Record<string, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function read(path: string, label: string, problems: string[]): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    problems.push(`${label}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    return undefined;
  }
}

/**
 * `cookies.keys_file`: one key per line (blank lines and lines starting with # ignored), first
 * line signs. `client_secrets_file`: a YAML map `client_id: secret` for clients in `clients`.
 * Returns the tree with the secrets filled in, and the problems found.
 */
export function applySecretFiles(tree: unknown): { tree: unknown; problems: string[] } {
  const problems: string[] = [];
  if (!isTree(tree)) return { tree, problems };
  const out: Tree = { ...tree };

  const cookies = isTree(out.cookies) ? out.cookies : undefined;
  const keysFile = cookies?.keys_file;
  if (cookies && typeof keysFile === 'string' && keysFile !== '') {
    if (Array.isArray(cookies.keys) && cookies.keys.length > 0) {
      problems.push('cookies.keys_file: set either cookies.keys or cookies.keys_file (COOKIE_KEYS_FILE), not both');
    } else {
      const text = read(keysFile, 'cookies.keys_file', problems);
      if (text !== undefined) {
        const keys = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
        if (keys.length === 0) problems.push(`cookies.keys_file: ${keysFile} holds no key (one key per line)`);
        out.cookies = { ...cookies, keys };
      }
    }
  }

  const secretsFile = out.client_secrets_file;
  if (typeof secretsFile === 'string' && secretsFile !== '') {
    const text = read(secretsFile, 'client_secrets_file', problems);
    if (text !== undefined) {
      let doc: unknown;
      try {
        doc = parseYaml(text);
      } catch (error) {
        // The parser's message quotes the offending line, which may hold a secret: position only.
        const line = (error as { linePos?: [{ line: number }] }).linePos?.[0]?.line;
        problems.push(`client_secrets_file: ${secretsFile} is not valid YAML${line ? ` (line ${line})` : ''}`);
      }
      if (doc !== undefined && !isTree(doc)) {
        problems.push(`client_secrets_file: ${secretsFile} must be a YAML map of client_id: secret`);
      } else if (isTree(doc)) {
        const clients = Array.isArray(out.clients) ? out.clients.map((c: unknown) => (isTree(c) ? { ...c } : c)) : [];
        for (const [clientId, secret] of Object.entries(doc)) {
          const client = clients.find((c): c is Tree => isTree(c) && c.client_id === clientId);
          if (!client) problems.push(`client_secrets_file: no client ${clientId} in clients`);
          else if (typeof secret !== 'string') problems.push(`client_secrets_file: the secret of ${clientId} must be a string`);
          else client.client_secret = secret;
        }
        out.clients = clients;
      }
    }
  }
  return { tree: out, problems };
}
