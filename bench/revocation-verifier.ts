// The other service of bench/revocation-reach.ts, in a process of its own: an SDK verifier following
// Latchkey's revocation feed. Sent the tokens, it verifies them all (each must be accepted); then it notes,
// for each, the wall-clock moment its verify() first rejects with session_revoked, and reports it at once;
// told to finish, it verifies them all once more and reports which were still accepted.
import { createVerifier, LatchkeyVerifyError, type VerifierOptions } from '../packages/verify/src/index.js';
import { wallMs } from './lib.js';

export type ToVerifier = { type: 'start'; options: VerifierOptions; tokens: string[]; pollMs: number } | { type: 'finish' };
export type FromVerifier =
  | { type: 'ready'; refused: string[] }
  | { type: 'refused'; index: number; at: number }
  | { type: 'finished'; acceptedAfter: number; otherErrors: Record<string, number> };

const send = (message: FromVerifier) => process.send!(message);
const codeOf = (err: unknown) => (err instanceof LatchkeyVerifyError ? err.code : String(err));
const otherErrors: Record<string, number> = {};
let verifier: ReturnType<typeof createVerifier> | undefined;
let tokens: string[] = [];
let pollMs = 1;
const pending = new Set<number>();

async function poll() {
  for (const index of pending) {
    try {
      await verifier!.verify(tokens[index]!);
    } catch (err) {
      const at = wallMs();
      if (codeOf(err) === 'session_revoked') {
        pending.delete(index);
        send({ type: 'refused', index, at });
      } else otherErrors[codeOf(err)] = (otherErrors[codeOf(err)] ?? 0) + 1;
    }
  }
  if (pending.size > 0) setTimeout(poll, pollMs);
}

process.on('message', async (message: ToVerifier) => {
  if (message.type === 'start') {
    verifier = createVerifier(message.options);
    await verifier.ready();
    tokens = message.tokens;
    pollMs = message.pollMs;
    const refused: string[] = [];
    for (const token of tokens) await verifier.verify(token).catch((err: unknown) => refused.push(codeOf(err)));
    tokens.forEach((_, i) => pending.add(i));
    send({ type: 'ready', refused });
    void poll();
  } else {
    pending.clear();
    let acceptedAfter = 0;
    for (const token of tokens) {
      try {
        await verifier!.verify(token);
        acceptedAfter += 1;
      } catch (err) {
        if (codeOf(err) !== 'session_revoked') otherErrors[codeOf(err)] = (otherErrors[codeOf(err)] ?? 0) + 1;
      }
    }
    send({ type: 'finished', acceptedAfter, otherErrors });
    verifier!.close();
    process.disconnect();
  }
});
