// Bearer tokens for the Management API: JWTs the issuer signed itself, checked with jose against
// the keys the issuer publishes now (src/provider/key_ring.ts: they follow rotation and
// revocation, no HTTP call to our own JWKS endpoint). Every failure is a ManagementError in Auth0's words.
import { errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';

import { ManagementError } from './errors.ts';

/** What a verified Management API token says about its caller. */
export type ManagementCaller = { clientId: string; scopes: ReadonlySet<string> };

export type BearerVerifier = {
  /** Verify the Authorization header's Bearer token; throws a 401 ManagementError. */
  verify(authorization: string | undefined): Promise<ManagementCaller>;
};

// oidc-provider signs JWT access tokens with typ at+jwt (RFC 9068).
const ACCESS_TOKEN_TYP = 'at+jwt';
function unauthorized(message: string): ManagementError {
  return new ManagementError(401, 'invalid_token', message, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
}

/** Auth0's messages for each way a token can fail. */
function explain(error: unknown): ManagementError {
  if (error instanceof joseErrors.JWTExpired) return unauthorized('Expired token received for JSON Web Token validation');
  if (error instanceof joseErrors.JWSSignatureVerificationFailed || error instanceof joseErrors.JWKSNoMatchingKey) {
    return unauthorized('Invalid signature received for JSON Web Token validation');
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'aud') {
    const { aud } = error.payload;
    return unauthorized(`Bad audience: ${Array.isArray(aud) ? aud.join(' ') : String(aud ?? '')}`);
  }
  if (error instanceof joseErrors.JOSEError) return unauthorized('Invalid token');
  throw error;
}

export type BearerVerifierDeps = {
  issuer: string;
  audience: string;
  /** The issuer's published keys as they are now. */
  verificationKeys: JWTVerifyGetKey;
  /** The Management API scopes the configuration grants this client now; undefined when none. */
  grantedScopes(clientId: string): ReadonlySet<string> | undefined;
};

export function createBearerVerifier(deps: BearerVerifierDeps): BearerVerifier {
  const { issuer, audience } = deps;
  const keySet = deps.verificationKeys;

  return {
    async verify(authorization) {
      if (!authorization) throw unauthorized('Missing authentication');
      const match = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(authorization);
      if (!match) throw unauthorized('Bad HTTP authentication header format');
      const token = match[1]!;
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keySet, {
          issuer,
          audience,
          algorithms: ['RS256'],
          typ: ACCESS_TOKEN_TYP,
          requiredClaims: ['exp', 'sub'],
        }));
      } catch (error) {
        throw explain(error);
      }
      const { azp, scope = '', gty } = payload;
      if (typeof azp !== 'string' || !azp || typeof scope !== 'string' || gty !== 'client-credentials') throw unauthorized('Invalid token');
      // A token lives 24 h; the configuration may have taken the client's grant away since.
      const granted = deps.grantedScopes(azp);
      if (!granted) throw unauthorized('Invalid token');
      return { clientId: azp, scopes: new Set(scope.split(' ').filter((s) => granted.has(s))) };
    },
  };
}
