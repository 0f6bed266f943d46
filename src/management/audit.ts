// The audit trail of Management API changes to applications and keys: one structured log line
// per change, naming the caller (the client_id of its token). Never a secret: the lines carry
// ids, names of changed fields and key ids only. The one place that writes these lines (tenant
// settings have theirs in src/tenant/audit.ts).
import type { Logger } from 'pino';

export type ManagementEvent =
  | 'client_created'
  | 'client_updated'
  | 'client_deleted'
  | 'client_secret_rotated'
  | 'signing_key_rotated'
  | 'signing_key_revoked';

export type ManagementAuditLine = {
  audit: 'management';
  event: ManagementEvent;
  actor: string;
  /** The application's client_id, for client events. */
  client_id?: string;
  /** The Auth0 field names a create or update set (never their values: a URL may carry secrets). */
  fields?: string[];
  /** The key ids, for key events. */
  kid?: string;
  previous_kid?: string;
  next_kid?: string;
  at: string;
};

export function auditManagementChange(logger: Logger, actor: string, event: ManagementEvent, details: Omit<ManagementAuditLine, 'audit' | 'event' | 'actor' | 'at'> = {}, at: Date = new Date()): void {
  const line: ManagementAuditLine = { audit: 'management', event, actor, ...details, at: at.toISOString() };
  logger.info(line, `management: ${event.replace(/_/g, ' ')}`);
}
