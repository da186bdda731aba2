import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { aalRefusal, authenticateHeader, type AssuranceLevel, type AuthenticateOptions } from './http.js';
import type { LatchkeyClaims } from './verifier.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- how Express's Request is extended
  namespace Express {
    interface Request {
      /** The verified token's claims; null when no token was sent and none is required. */
      latchkey?: LatchkeyClaims | null;
    }
  }
}

export type { AssuranceLevel, AuthenticateOptions as LatchkeyExpressOptions } from './http.js';

/**
 * Middleware that verifies the bearer token: sets `req.latchkey`, or answers 401 with Latchkey's
 * error body and a WWW-Authenticate challenge (503 when the revocation feed is stale).
 */
export function latchkey(options: AuthenticateOptions): RequestHandler {
  if (!options?.verifier) throw new TypeError('@latchkey/verify/express needs { verifier }');
  return (req: Request, res: Response, next: NextFunction) => {
    authenticateHeader(req.headers.authorization, options).then((result) => {
      if ('answer' in result) {
        const { status, headers, body } = result.answer;
        res.status(status).set(headers).send(JSON.stringify(body));
        return;
      }
      req.latchkey = result.claims;
      next();
    }, next);
  };
}

/**
 * Middleware for one route behind `latchkey(...)`: refuses a token signed in below `level` with 401
 * insufficient_user_authentication and the RFC 9470 challenge (`app.delete('/x', requireAal('aal2'), handler)`).
 */
export function requireAal(level: AssuranceLevel, realm = 'latchkey'): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const refusal = aalRefusal(req.latchkey, level, realm);
    if (!refusal) return next();
    res.status(refusal.status).set(refusal.headers).send(JSON.stringify(refusal.body));
  };
}

export default latchkey;
