// The audit trail of tenant settings: one structured log line per changed setting, whoever
// changed it (a Management API client, or `config-file` for the file applied at start or on
// SIGHUP). The one place that writes these lines.
import type { Logger } from 'pino';

import type { SettingChange } from './settings.ts';

export type SettingAuditLine = SettingChange & { audit: 'tenant_settings'; actor: string; at: string };

export function auditSettingChanges(logger: Logger, actor: string, changes: readonly SettingChange[], at: Date = new Date()): void {
  for (const change of changes) {
    const line: SettingAuditLine = { audit: 'tenant_settings', actor, ...change, at: at.toISOString() };
    logger.info(line, 'tenant setting changed');
  }
}
