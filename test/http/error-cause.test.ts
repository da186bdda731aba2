import { afterAll, beforeAll, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

// An AppError carries what went wrong inside as its cause: the log has it, the client never sees it.
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    beforeReady: (app) => {
      app.get('/test/failing', async () => {
        throw new AppError('internal_error', { cause: new Error('the ledger query hit row 4711 of table secrets') });
      });
    },
  });
});
afterAll(async () => {
  await t?.close();
});

it('logs the cause of a 500 and sends only the public answer', async () => {
  const res = await t.inject({ method: 'GET', url: '/test/failing' });
  expect(res.statusCode).toBe(500);
  expect(res.json()).toEqual({ error: 'internal_error', message: 'An unexpected error occurred.', request_id: res.headers['x-request-id'] });
  expect(res.body).not.toContain('4711');
  const line = t.logs.find((l) => l.includes(String(res.headers['x-request-id'])) && l.includes('4711'));
  expect(line, t.logs.join('\n')).toBeDefined();
  expect(JSON.parse(line!)).toMatchObject({ level: 50, code: 'internal_error', err: { message: 'the ledger query hit row 4711 of table secrets' } });
});

it('keeps the message and details given with the cause', () => {
  const cause = new Error('inner');
  const err = new AppError('invalid_request', { message: 'Invalid request: x is wrong.', details: [{ field: 'x', message: 'is wrong' }], cause });
  expect(err.cause).toBe(cause);
  expect(err.message).toBe('Invalid request: x is wrong.');
  expect(err.details).toEqual([{ field: 'x', message: 'is wrong' }]);
  expect(new AppError('not_found').cause).toBeUndefined();
});
