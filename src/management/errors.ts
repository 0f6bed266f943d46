// The Management API's one error shape, Auth0's: {statusCode, error, message, errorCode}.
// Every /api/v2 failure is thrown as a ManagementError and shaped here; anything else is a 5xx
// whose details stay in the log.
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

export type ManagementErrorCode =
  | 'invalid_body'
  | 'invalid_query_string'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'not_found'
  | 'inexistent_client'
  | 'operation_not_supported'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'too_many_requests'
  | 'server_error';

export type ManagementErrorBody = { statusCode: number; error: string; message: string; errorCode: ManagementErrorCode };

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export class ManagementError extends Error {
  readonly status: number;
  readonly errorCode: ManagementErrorCode;
  readonly expose = true;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, errorCode: ManagementErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ManagementError';
    this.status = status;
    this.errorCode = errorCode;
    this.headers = headers;
  }
}

export function managementErrorBody(status: number, message: string, errorCode: ManagementErrorCode): ManagementErrorBody {
  return { statusCode: status, error: STATUS_TEXT[status] ?? 'Error', message, errorCode };
}

/** Wraps the /api/v2 routes: every failure leaves in Auth0's shape, 5xx without details. */
export function createManagementErrors(logger: Logger) {
  return async function managementErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (error) {
      if (error instanceof ManagementError) {
        for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
        ctx.status = error.status;
        ctx.body = managementErrorBody(error.status, error.message, error.errorCode);
        return;
      }
      logger.error({ err: error, path: ctx.path, method: ctx.method }, 'management API request failed');
      const status = (error as { status?: number }).status === 503 ? 503 : 500;
      ctx.status = status;
      ctx.body = managementErrorBody(status, 'The server could not complete the request.', 'server_error');
    }
  };
}
