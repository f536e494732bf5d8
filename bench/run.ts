/** `npm run bench`: every benchmark in bench/, one JSON line each. Not part of the tests. */
import { benchAuth } from './auth';

async function main(): Promise<void> {
  console.log(JSON.stringify({ bench: 'inbound-auth', ...(await benchAuth()) }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
