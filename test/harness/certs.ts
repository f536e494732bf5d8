/**
 * Throw-away certificates for TLS tests, made with the `openssl` command line in a
 * temporary directory: a CA, a server certificate for 127.0.0.1 and localhost
 * signed by it, and a client certificate signed by it. Keys are P-256 (quick to
 * make) and unencrypted; the certificates are valid for two days.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KeyPair {
  /** PEM text. */
  cert: string;
  key: string;
  /** Where the PEM files are. */
  certPath: string;
  keyPath: string;
}

export interface TestCerts {
  dir: string;
  ca: KeyPair;
  /** subjectAltName IP:127.0.0.1, DNS:localhost; extendedKeyUsage serverAuth. */
  server: KeyPair;
  /** CN rps-test-client; extendedKeyUsage clientAuth. */
  client: KeyPair;
  /** Removes the directory. */
  remove(): void;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('the openssl command line is needed for TLS tests (Debian: apt-get install openssl)');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr || e.message}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A key and a certificate signed by the CA in `dir` (ca.crt, ca.key), with the given extensions. */
async function signed(dir: string, name: string, subject: string, extensions: string[]): Promise<KeyPair> {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.crt`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions.join('\n') + '\n');
  await openssl(['req', '-new', ...EC, '-keyout', keyPath, '-out', csr, '-subj', subject], dir);
  const serial = '0x' + Date.now().toString(16) + Math.floor(Math.random() * 0xffff).toString(16);
  await openssl(
    ['x509', '-req', '-in', csr, '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-set_serial', serial, '-days', '2', '-sha256', '-extfile', ext, '-out', certPath],
    dir,
  );
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), certPath, keyPath };
}

export async function makeTestCerts(): Promise<TestCerts> {
  const dir = mkdtempSync(join(tmpdir(), 'rps-certs-'));
  await openssl(
    [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-sha256',
      '-subj',
      '/CN=rps throw-away test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const ca: KeyPair = {
    cert: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    key: readFileSync(join(dir, 'ca.key'), 'utf8'),
    certPath: join(dir, 'ca.crt'),
    keyPath: join(dir, 'ca.key'),
  };
  const [server, client] = await Promise.all([
    signed(dir, 'server', '/CN=127.0.0.1', [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ]),
    signed(dir, 'client', '/CN=rps-test-client', ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth']),
  ]);
  return { dir, ca, server, client, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
