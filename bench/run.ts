/** `npm run bench`: every benchmark in bench/, one JSON line each. Not part of the tests. */
import { benchAuth } from './auth';
import { benchEndToEnd } from './e2e';

async function main(): Promise<void> {
  console.log(JSON.stringify({ bench: 'inbound-auth', ...(await benchAuth()) }));
  for (const line of await benchEndToEnd()) console.log(JSON.stringify(line));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
