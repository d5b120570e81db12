import { generate } from 'selfsigned';

export interface LocalCertificate {
  /** Private key, PEM. */
  key: string;
  /** Certificate, PEM; clients pass it as `ca` to trust the simulator. */
  cert: string;
}

/**
 * A throw-away certificate for localhost, 127.0.0.1 and ::1, made at start so
 * no key material ever lives in the repository. EC P-256 because it takes
 * milliseconds, where RSA-2048 would slow every TLS test down.
 */
export async function generateLocalCertificate(): Promise<LocalCertificate> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    // A minute in the past so a client whose clock is a little behind still accepts it.
    notBeforeDate: new Date(Date.now() - 60_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
