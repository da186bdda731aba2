// The raw argon2id rate: as many hashes (or verifies) as this process completes in the given time,
// with the server's parameters and thread-pool size. Prints {"rate": n} on stdout.
import argon2 from 'argon2';

const [mode = 'verify', secondsArg = '5', concurrencyArg = '16'] = process.argv.slice(2);
const options: argon2.HashOptions = {
  type: argon2.argon2id,
  memoryCost: Number(process.env.ARGON2_MEMORY_KIB ?? 19456),
  timeCost: Number(process.env.ARGON2_TIME_COST ?? 2),
  parallelism: Number(process.env.ARGON2_PARALLELISM ?? 1),
};
const hash = await argon2.hash('bench passphrase 7f3a', options);
const deadline = Date.now() + Number(secondsArg) * 1000;
let done = 0;

async function loop() {
  while (Date.now() < deadline) {
    if (mode === 'hash') await argon2.hash('bench passphrase 7f3a', options);
    else await argon2.verify(hash, 'bench passphrase 7f3a');
    done += 1;
  }
}
const started = Date.now();
await Promise.all(Array.from({ length: Number(concurrencyArg) }, loop));
process.stdout.write(JSON.stringify({ rate: done / ((Date.now() - started) / 1000) }));
