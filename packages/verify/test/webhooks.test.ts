import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { createWebhookReceiver, signWebhook, verifyWebhook, WebhookVerificationError } from '../src/index.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const body = JSON.stringify({ type: 'user.created', timestamp: '2026-01-01T00:00:00.000Z', data: { id: 'user-1' } });

/** Headers as the reference implementation (the `standardwebhooks` package) signs them. */
function signed(id = `msg_${randomBytes(6).toString('hex')}`, at = new Date(), payload = body, key = secret) {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(key).sign(id, at, payload),
  };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookVerificationError);
    return (err as WebhookVerificationError).code;
  }
}

describe('verifyWebhook, against the standardwebhooks reference signer', () => {
  it("accepts the reference's signature and returns {type, timestamp, data}", () => {
    const event = verifyWebhook({ secret, headers: signed(), body });
    expect(event).toEqual({ type: 'user.created', timestamp: '2026-01-01T00:00:00.000Z', data: { id: 'user-1' } });
    expect(verifyWebhook({ secret, headers: new Headers(signed()), body: Buffer.from(body) }).type).toBe('user.created');
  });

  it('is accepted by the reference in turn (signWebhook)', () => {
    const id = 'msg_1';
    const at = Math.floor(Date.now() / 1000);
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(at), 'webhook-signature': signWebhook(secret, id, at, body) };
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('accepts a list of signatures when one matches (a secret being rotated)', () => {
    const headers = signed();
    const other = new Webhook(`whsec_${randomBytes(32).toString('base64')}`).sign(headers['webhook-id'], new Date(), body);
    headers['webhook-signature'] = `v1a,abc ${other} ${headers['webhook-signature']}`;
    expect(codeOf(() => verifyWebhook({ secret, headers, body }))).toBe('accepted');
  });

  it('refuses a wrong secret, an altered body, id or timestamp, and other signature versions', () => {
    expect(codeOf(() => verifyWebhook({ secret, headers: signed(undefined, undefined, body, `whsec_${randomBytes(32).toString('base64')}`), body }))).toBe(
      'webhook_invalid_signature',
    );
    expect(codeOf(() => verifyWebhook({ secret, headers: signed(), body: body.replace('user-1', 'user-2') }))).toBe('webhook_invalid_signature');
    expect(codeOf(() => verifyWebhook({ secret, headers: { ...signed(), 'webhook-id': 'msg_other' }, body }))).toBe('webhook_invalid_signature');
    const h = signed();
    expect(codeOf(() => verifyWebhook({ secret, headers: { ...h, 'webhook-timestamp': String(Number(h['webhook-timestamp']) + 1) }, body }))).toBe(
      'webhook_invalid_signature',
    );
    const mac = h['webhook-signature'].split(',')[1];
    expect(codeOf(() => verifyWebhook({ secret, headers: { ...h, 'webhook-signature': `v2,${mac}` }, body }))).toBe('webhook_invalid_signature');
    expect(codeOf(() => verifyWebhook({ secret, headers: { ...h, 'webhook-signature': 'v1,' }, body }))).toBe('webhook_invalid_signature');
  });

  it('refuses a timestamp beyond the tolerance, either way', () => {
    expect(codeOf(() => verifyWebhook({ secret, headers: signed(undefined, new Date(Date.now() - 301_000)), body }))).toBe('webhook_timestamp_out_of_range');
    expect(codeOf(() => verifyWebhook({ secret, headers: signed(undefined, new Date(Date.now() + 301_000)), body }))).toBe('webhook_timestamp_out_of_range');
    expect(codeOf(() => verifyWebhook({ secret, headers: signed(undefined, new Date(Date.now() - 250_000)), body }))).toBe('accepted');
    expect(codeOf(() => verifyWebhook({ secret, headers: signed(undefined, new Date(Date.now() - 250_000)), body, toleranceSeconds: 60 }))).toBe(
      'webhook_timestamp_out_of_range',
    );
    expect(codeOf(() => verifyWebhook({ secret, headers: { ...signed(), 'webhook-timestamp': 'soon' }, body }))).toBe('webhook_timestamp_out_of_range');
  });

  it('refuses missing headers, a malformed secret and a body that is not an event', () => {
    const { 'webhook-signature': _s, ...unsigned } = signed();
    expect(codeOf(() => verifyWebhook({ secret, headers: unsigned, body }))).toBe('webhook_missing_headers');
    expect(codeOf(() => verifyWebhook({ secret: 'whsec_not base64!', headers: signed(), body }))).toBe('webhook_invalid_secret');
    expect(codeOf(() => verifyWebhook({ secret, headers: signed(undefined, undefined, 'not json'), body: 'not json' }))).toBe('webhook_invalid_payload');
    expect(codeOf(() => verifyWebhook({ secret, headers: signed(undefined, undefined, '{"data":1}'), body: '{"data":1}' }))).toBe('webhook_invalid_payload');
  });
});

describe('createWebhookReceiver', () => {
  it('handles each webhook-id once, however often and however concurrently it is delivered', async () => {
    const handled: string[] = [];
    const receiver = createWebhookReceiver({
      secret,
      async handle(event, id) {
        await new Promise((r) => setTimeout(r, 20));
        handled.push(`${id}:${event.type}`);
      },
    });
    const first = signed('msg_a');
    expect(await Promise.all([receiver.receive({ headers: first, body }), receiver.receive({ headers: first, body })])).toEqual(['handled', 'duplicate']);
    // A redelivery later, signed again with a newer timestamp: still the same id.
    expect(await receiver.receive({ headers: signed('msg_a'), body })).toBe('duplicate');
    expect(await receiver.receive({ headers: signed('msg_b'), body })).toBe('handled');
    expect(handled).toEqual(['msg_a:user.created', 'msg_b:user.created']);
  });

  it('does not record an id whose handler failed, so that the redelivery runs it; refuses bad signatures', async () => {
    let calls = 0;
    const seen = new Set<string>();
    const receiver = createWebhookReceiver({
      secret,
      seen: { has: async (id) => seen.has(id), add: async (id) => void seen.add(id) },
      handle() {
        calls += 1;
        if (calls === 1) throw new Error('database down');
      },
    });
    await expect(receiver.receive({ headers: signed('msg_c'), body })).rejects.toThrow('database down');
    expect(seen.has('msg_c')).toBe(false);
    expect(await receiver.receive({ headers: signed('msg_c'), body })).toBe('handled');
    expect(seen.has('msg_c')).toBe(true);
    await expect(receiver.receive({ headers: signed('msg_d'), body: `${body} ` })).rejects.toMatchObject({ code: 'webhook_invalid_signature' });
    expect(calls).toBe(2);
  });
});

describe('a misconfigured tolerance', () => {
  it('throws at once instead of accepting any timestamp (NaN, Infinity, negative, a string)', () => {
    const tenDaysLater = Date.now() + 10 * 86_400_000;
    // The check it would have disabled: a delivery ten days old is a replay.
    expect(codeOf(() => verifyWebhook({ secret, headers: signed(), body, now: tenDaysLater }))).toBe('webhook_timestamp_out_of_range');
    for (const toleranceSeconds of [Number.NaN, Number.POSITIVE_INFINITY, -1, '300' as unknown as number, Number(undefined)]) {
      expect(() => verifyWebhook({ secret, headers: signed(), body, now: tenDaysLater, toleranceSeconds }), String(toleranceSeconds)).toThrow(TypeError);
      expect(() => createWebhookReceiver({ secret, handle: () => {}, toleranceSeconds }), String(toleranceSeconds)).toThrow(/toleranceSeconds/);
    }
    expect(verifyWebhook({ secret, headers: signed(), body, toleranceSeconds: 5 }).type).toBe('user.created');
  });
});
